"""The namespace manifest: which slabs are live, and up to which LSN they hold the WAL.

There is one manifest object per namespace, ``<prefix>manifest.json``.  It is only
ever replaced by compare-and-swap on its ETag (created by create-if-absent), so two
processes can never fork it: the loser of a race re-reads and re-plans.

Slabs are listed oldest first.  Every record version with LSN at or below
``checkpoint_lsn`` is in some listed slab (or was superseded or deleted); WAL entries
above it are replayed into the memtable on open.

The object is sealed (:mod:`slabdb.core.sealed`): a checksum, and the namespace prefix it
belongs to, so a damaged manifest or one copied under another namespace is refused with
a :class:`CorruptionError` naming it.  A manifest written before sealing (the exact old
shape) is still read; the next publish writes it sealed.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from slabdb.core.errors import (
    CorruptionError,
    ObjectExistsError,
    ObjectNotFoundError,
    PreconditionFailedError,
)
from slabdb.core.sealed import Body, json_object, read_sealed, seal
from slabdb.storage.base import ObjectStore
from slabdb.storage.keys import manifest_key

MANIFEST_FORMAT = 1
MANIFEST_KIND = "manifest"
_BODY_KEYS = frozenset({"format", "version", "checkpoint_lsn", "slabs"})


def manifest_identity(prefix: str) -> dict[str, str]:
    """What a manifest names as its own: the namespace prefix (index, namespace and both
    incarnations are in it)."""
    return {"prefix": prefix}


def _legacy_body(data: bytes) -> Body | None:
    """A manifest from before sealing: exactly the old four keys, format 1."""
    raw = json_object(data)
    if raw is None or set(raw) != _BODY_KEYS or raw.get("format") != MANIFEST_FORMAT:
        return None
    return raw


@dataclass(frozen=True)
class SlabEntry:
    """A live slab as the manifest records it."""

    id: str
    key: str
    level: int
    count: int
    live_count: int
    min_lsn: int
    max_lsn: int
    size_bytes: int

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SlabEntry:
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class ManifestRecord:
    """One immutable manifest version."""

    version: int = 0
    checkpoint_lsn: int = 0
    slabs: tuple[SlabEntry, ...] = field(default_factory=tuple)
    last_compaction_at: float | None = None
    """Unix time of the last published compaction (None: none yet), for consoles."""

    def to_bytes(self, prefix: str) -> bytes:
        """The sealed object for the namespace at ``prefix``."""
        body = {
            "format": MANIFEST_FORMAT,
            "version": self.version,
            "checkpoint_lsn": self.checkpoint_lsn,
            "slabs": [asdict(s) for s in self.slabs],
        }
        if self.last_compaction_at is not None:  # absent until the first compaction
            body["last_compaction_at"] = self.last_compaction_at
        return seal(MANIFEST_KIND, manifest_identity(prefix), body)

    @classmethod
    def from_bytes(cls, data: bytes, prefix: str, where: str | None = None) -> ManifestRecord:
        """Check and decode the manifest of the namespace at ``prefix``."""
        return cls.read(data, prefix, where)[0]

    @classmethod
    def read(
        cls, data: bytes, prefix: str, where: str | None = None
    ) -> tuple[ManifestRecord, bool]:
        """The manifest and whether it was sealed (False: written before sealing)."""
        where = where or manifest_key(prefix)
        got = read_sealed(
            data, MANIFEST_KIND, manifest_identity(prefix), where, legacy=_legacy_body
        )
        raw = got.body
        try:
            if raw.get("format") != MANIFEST_FORMAT:
                raise CorruptionError(f"{where}: unsupported format {raw.get('format')!r}")
            record = cls(
                version=int(raw["version"]),
                checkpoint_lsn=int(raw["checkpoint_lsn"]),
                slabs=tuple(SlabEntry.from_dict(s) for s in raw["slabs"]),
                last_compaction_at=_optional_time(raw.get("last_compaction_at")),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CorruptionError(f"{where}: undecodable ({exc})") from exc
        return record, got.sealed

    # --- pure transitions -----------------------------------------------------------
    def with_flush(
        self, slab: SlabEntry | None, checkpoint_lsn: int, cleared: bool
    ) -> ManifestRecord:
        """Add a flushed L0 slab (a delete-all flush first drops every older slab)."""
        slabs = () if cleared else self.slabs
        if slab is not None:
            slabs = (*slabs, slab)
        return replace(
            self,
            version=self.version + 1,
            checkpoint_lsn=max(self.checkpoint_lsn, checkpoint_lsn),
            slabs=slabs,
        )

    def with_compaction(
        self, inputs: tuple[str, ...], output: SlabEntry | None, at: float | None = None
    ) -> ManifestRecord | None:
        """Replace the contiguous run of ``inputs`` by ``output``; None if they are not all
        here.  ``at`` (Unix time, default now) becomes ``last_compaction_at``."""
        ids = [s.id for s in self.slabs]
        try:
            start = ids.index(inputs[0])
        except ValueError:
            return None
        if tuple(ids[start : start + len(inputs)]) != inputs:
            return None
        middle = () if output is None else (output,)
        slabs = (*self.slabs[:start], *middle, *self.slabs[start + len(inputs) :])
        when = time.time() if at is None else at
        return replace(self, version=self.version + 1, slabs=slabs, last_compaction_at=when)

    def slab_keys(self) -> set[str]:
        return {s.key for s in self.slabs}


class ManifestStore:
    """Reads and compare-and-swap publishes one namespace's manifest."""

    def __init__(self, store: ObjectStore, prefix: str) -> None:
        self._store = store
        self.prefix = prefix
        self.key = manifest_key(prefix)

    def load(self) -> tuple[ManifestRecord, str | None]:
        """The current manifest and its ETag (an empty manifest and None if none yet)."""
        try:
            got = self._store.get(self.key)
        except ObjectNotFoundError:
            return ManifestRecord(), None
        return ManifestRecord.from_bytes(got.data, self.prefix, where=self.key), got.etag

    def publish(self, record: ManifestRecord, expected_etag: str | None) -> str | None:
        """Install ``record`` if the manifest is still at ``expected_etag``.

        Raises ConflictError (PreconditionFailedError or ObjectExistsError's
        conflict) when another writer published first: re-load and re-plan.
        """
        data = record.to_bytes(self.prefix)
        if expected_etag is None:
            try:
                return self._store.put_if_absent(self.key, data)
            except ObjectExistsError as exc:
                raise PreconditionFailedError(f"{self.key} was created concurrently") from exc
        return self._store.put_if_match(self.key, data, expected_etag)


def _optional_time(value: object) -> float | None:
    """``last_compaction_at`` as stored (absent in manifests written before it existed)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"last_compaction_at must be a number, got {value!r}")
    return float(value)
