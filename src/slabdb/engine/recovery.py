"""Catching a namespace up with its store, and telling damage from a race.

Catch-up adopts the stored manifest, then applies the WAL entries after what the
namespace applied.  Damage raises :class:`CorruptionError` naming the object:

* a slab the manifest lists is missing (after re-reading the manifest, which a
  compaction may have changed);
* the manifest vanished, though this namespace had adopted a version of it;
* the manifest is missing while the namespace holds objects and its log does not start
  at LSN 1: the checkpoint is lost;
* the log has a hole above what was applied (:func:`slabdb.wal.find_gap`).

None of this is damage if the namespace is being deleted meanwhile
(:class:`DeletedMeanwhile`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NoReturn

from slabdb.core.errors import CorruptionError, ObjectNotFoundError
from slabdb.core.ops import WalEntry
from slabdb.lsm.manifest import ManifestRecord, ManifestStore
from slabdb.storage.base import ObjectStore
from slabdb.wal import find_gap, read_wal, wal_gap_message

Adopted = Callable[[], tuple[ManifestRecord, str | None]]
"""The manifest a namespace adopted last, and its etag (None: none stored yet)."""


class DeletedMeanwhile(Exception):
    """What looked like damage is a namespace being deleted by another handle."""


class CatchUp:
    """Brings one namespace's in-memory state up to its store and checks the log."""

    def __init__(
        self,
        store: ObjectStore,
        prefix: str,
        manifests: ManifestStore,
        is_current: Callable[[], bool] | None,
        *,
        adopted: Adopted,
        applied_lsn: Callable[[], int],
        adopt_loaded: Callable[[ManifestRecord, str | None], None],
        apply_entries: Callable[[list[WalEntry]], None],
    ) -> None:
        self._store = store
        self._prefix = prefix
        self._manifests = manifests
        self._is_current = is_current
        self._adopted = adopted
        self._applied_lsn = applied_lsn
        self._adopt_loaded = adopt_loaded
        self._apply_entries = apply_entries
        self.log_checked_at = 0.0
        """When :meth:`check_log` last finished (``time.monotonic``)."""

    def run(self) -> None:
        """Adopt the stored manifest, then apply the log entries after it."""
        self._adopt_stored()
        entries = read_wal(self._store, self._prefix, after_lsn=self._applied_lsn())
        self._apply_entries(list(entries))
        # The log ended at applied + 1.  If another process checkpointed past that point
        # meanwhile (and garbage-collected the entries), the manifest now covers them.
        manifest, etag = self._load_manifest()
        current, _ = self._adopted()
        if manifest.checkpoint_lsn > self._applied_lsn() or manifest.version < current.version:
            self._adopt_loaded(manifest, etag)
            self._apply_entries(list(read_wal(self._store, self._prefix, self._applied_lsn())))

    def _load_manifest(self) -> tuple[ManifestRecord, str | None]:
        manifest, etag = self._manifests.load()
        adopted, adopted_etag = self._adopted()
        if etag is None and adopted_etag is not None:
            self._damaged(
                f"{self._manifests.key} is missing, but this namespace had published "
                f"version {adopted.version} of it"
            )
        return manifest, etag

    def _adopt_stored(self) -> None:
        """Adopt the stored manifest; a slab it lists must exist (unless it changed since)."""
        manifest, etag = self._load_manifest()
        try:
            self._adopt_loaded(manifest, etag)
        except ObjectNotFoundError as exc:
            again, again_etag = self._load_manifest()
            if again_etag == etag:
                self._damaged(f"{exc.message}, but {self._manifests.key} lists it")
            self._adopt_loaded(again, again_etag)

    def check_log(self) -> None:
        """Damage if the log has a hole above what was applied, or lost its manifest."""
        if self._nothing_adopted():  # no manifest, no LSN 1
            found = next(iter(self._store.list(self._prefix)), None)
            if found is not None:
                self.run()  # LSN 1 or a manifest may have landed since the GETs
                if self._nothing_adopted():
                    self._damaged(
                        f"{self._manifests.key} is missing, but the namespace holds "
                        f"{found.key} and its log does not start at LSN 1: the checkpoint "
                        "is lost"
                    )
        gap = find_gap(self._store, self._prefix, self._applied_lsn, self.run)
        if gap is not None:
            checkpoint_lsn = self._adopted()[0].checkpoint_lsn
            self._damaged(wal_gap_message(self._prefix, *gap, checkpoint_lsn))
        self.log_checked_at = time.monotonic()

    def _nothing_adopted(self) -> bool:
        return self._adopted()[1] is None and self._applied_lsn() == 0

    def _damaged(self, message: str) -> NoReturn:
        """Raise CorruptionError, unless the namespace is being deleted meanwhile."""
        if self._is_current is not None and not self._is_current():
            raise DeletedMeanwhile
        raise CorruptionError(message)
