"""A namespace's slab objects and its manifest: writing new slabs, opening the readers of
a manifest's slabs, and publishing the manifest by compare-and-swap.

A flush, a compaction or a bulk import changes the manifest through a *plan*: a
function of the current manifest that returns the next one, or None when the change no
longer applies (another process flushed the same LSNs, a compaction's inputs are gone).
On a lost race the stored manifest is adopted and the plan re-run against it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from slabdb.compaction.runner import BuiltSlab
from slabdb.core.config import CacheConfig
from slabdb.core.errors import ConflictError, ObjectNotFoundError
from slabdb.lsm.manifest import ManifestRecord, ManifestStore, SlabEntry
from slabdb.slab import SlabReader
from slabdb.storage.base import ObjectStore
from slabdb.storage.cache import shared_cache

Plan = Callable[[ManifestRecord], ManifestRecord | None]
"""The next manifest given the current one; None if the change no longer applies."""
Adopt = Callable[[ManifestRecord, str | None], None]


class ManifestPublisher:
    """Publishes one namespace's manifest changes, adopting what it published."""

    def __init__(
        self,
        store: ObjectStore,
        manifests: ManifestStore,
        cache: CacheConfig,
        *,
        adopted: Callable[[], tuple[ManifestRecord, str | None]],
        adopt: Adopt,
        adopt_loaded: Adopt,
        keep_reader: Callable[[str, SlabReader], None],
        forget_reader: Callable[[SlabEntry | None], None],
    ) -> None:
        self._store = store
        self._manifests = manifests
        self._cache = cache
        self._adopted = adopted
        self._adopt = adopt
        self._adopt_loaded = adopt_loaded
        self._keep_reader = keep_reader
        self._forget_reader = forget_reader
        self.conflicts = 0
        """Compare-and-swaps lost to another writer of the manifest."""

    def open_readers(
        self, manifest: ManifestRecord, known: dict[str, SlabReader]
    ) -> dict[str, SlabReader]:
        """The readers of ``manifest``'s slabs, reusing the ``known`` ones."""
        out: dict[str, SlabReader] = {}
        for entry in manifest.slabs:
            reader = known.get(entry.id)
            if reader is None:
                try:  # memory-mapped (local directory) or read by range through the cache
                    reader = SlabReader.from_store(
                        self._store, entry.key, entry.size_bytes, shared_cache(self._cache)
                    )
                except ObjectNotFoundError as exc:
                    raise ObjectNotFoundError(f"slab {entry.key} is missing") from exc
            out[entry.id] = reader
        return out

    def write_slab(self, built: BuiltSlab | None) -> SlabEntry | None:
        """Store a new slab object and keep its reader, so adopting it costs no GET."""
        if built is None:
            return None
        self._store.put_if_absent(built.entry.key, built.data)
        reader = SlabReader.from_store(
            self._store,
            built.entry.key,
            len(built.data),
            shared_cache(self._cache),
            data=built.data,
        )
        self._keep_reader(built.entry.id, reader)
        return built.entry

    def publish(self, plan: Plan) -> bool:
        """Compare-and-swap ``plan(current)`` in; on a lost race re-read and re-plan.

        Returns False if the plan no longer applies (``plan`` returned None).
        """
        while True:
            manifest, etag = self._adopted()
            new = plan(manifest)
            if new is None:
                return False
            try:
                new_etag = self._manifests.publish(new, etag)
            except ConflictError:
                self.conflicts += 1
                self._adopt_loaded(*self._manifests.load())
                continue
            self._adopt(new, new_etag)
            return True

    def publish_or_discard(self, plan: Plan, entry: SlabEntry | None) -> bool:
        """Publish ``plan``; if it no longer applies or fails, drop the new slab's reader
        (and, if it no longer applies, its object: a failure leaves that to GC)."""
        try:
            published = self.publish(plan)
        except BaseException:
            self._forget_reader(entry)
            raise
        if not published:
            self._forget_reader(entry)
            if entry is not None:
                self._store.delete(entry.key)
        return published


def import_plan(slabs: tuple[SlabEntry, ...], admit: Callable[[ManifestRecord], None]) -> Plan:
    """List a bulk import's ``slabs`` first (oldest); None if they are listed already.
    ``admit`` raises to refuse the import."""
    ids = {s.id for s in slabs}

    def plan(manifest: ManifestRecord) -> ManifestRecord | None:
        if any(s.id in ids for s in manifest.slabs):
            return None
        admit(manifest)
        return replace(manifest, version=manifest.version + 1, slabs=(*slabs, *manifest.slabs))

    return plan
