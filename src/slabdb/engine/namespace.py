"""One namespace's storage engine: WAL, memtables, slabs, manifest.

Write path: operations are encoded, appended to the WAL at a fresh LSN (durable on
return), then applied to the active memtable; only then is the write acknowledged.
Concurrent writers are grouped into one WAL entry (:class:`GroupCommitter`).

The active memtable is frozen at ``flush_records`` versions; frozen memtables are flushed
oldest first to L0 slabs and the manifest is published by compare-and-swap.  On a
lost race the manifest is re-read and the flush re-planned.  Compaction and garbage
collection run from :mod:`slabdb.engine.maintenance`.  New slab objects and manifest
publication are :mod:`slabdb.engine.publish`; catching up with the store, and telling
damage from races, is :mod:`slabdb.engine.recovery`.

Reads take an immutable :class:`NamespaceView` (memtable snapshots + slab readers),
cached until the next change, so they never hold the lock while searching.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from slabdb.compaction.runner import BuiltSlab, build_slab
from slabdb.core.config import EngineConfig
from slabdb.core.errors import CorruptionError, StaleNamespaceError
from slabdb.core.ops import Op, WalEntry
from slabdb.core.values import IndexSpec, RecordVersion
from slabdb.engine.apply import apply_entry, current_version
from slabdb.engine.code_groups import CodeGroupCache
from slabdb.engine.gc_state import GcState
from slabdb.engine.group_commit import GroupCommitter
from slabdb.engine.publish import ManifestPublisher, import_plan
from slabdb.engine.recovery import CatchUp, DeletedMeanwhile
from slabdb.engine.sources import MemtableSource, SlabSource, Source
from slabdb.engine.view import NamespaceView
from slabdb.filters import parse_filter
from slabdb.lsm.manifest import ManifestRecord, ManifestStore, SlabEntry
from slabdb.memtable import Memtable
from slabdb.slab import SlabReader
from slabdb.storage.base import ObjectStore
from slabdb.wal import WalWriter, encode_ops, wal_key

log = logging.getLogger(__name__)

LOG_CHECK_INTERVAL_SECONDS = 60.0
"""How often a refresh that found nothing new also LISTs the log for a gap (always on open)."""


class Namespace:
    """The engine of one namespace of one index."""

    def __init__(
        self,
        store: ObjectStore,
        prefix: str,
        spec: IndexSpec,
        config: EngineConfig,
        on_frozen: Callable[[Namespace], None] | None = None,
        is_current: Callable[[], bool] | None = None,
    ) -> None:
        self.store = store
        self.prefix = prefix
        self.spec = spec
        self.config = config
        self._on_frozen = on_frozen
        self._is_current = is_current
        self.deleted = False
        """Set once this namespace is found deleted (and maybe recreated) elsewhere."""
        self._lock = threading.RLock()
        """Guards the in-memory state; never held across object-store I/O on the write path."""
        self._append_lock = threading.RLock()
        """Serializes WAL appends and WAL catch-up, so entries are applied once, in order."""
        self._flush_lock = threading.Lock()
        self.maintenance_lock = threading.Lock()
        self._readers: dict[str, SlabReader] = {}
        self._manifest = ManifestRecord()
        self._etag: str | None = None
        self._active = Memtable(self._dim)
        self._frozen: list[Memtable] = []  # newest first
        self._applied_lsn = 0
        self._view: NamespaceView | None = None
        self._pair_cache: dict[tuple[str, str], Any] = {}
        self._code_cache = CodeGroupCache()
        self._synced_at = 0.0
        self.gc_state = GcState()
        self.refreshed_at = 0.0
        self.damage: CorruptionError | None = None
        """Set once the log or manifest is found damaged: writes are refused from then on."""
        self.may_build: Callable[[], bool] = lambda: not config.builder_lease
        """Whether this process may flush and publish now (the builder lease, engine/lease.py)."""
        self._writer = WalWriter(store, prefix, next_lsn=1)
        self._committer = GroupCommitter(self._commit)
        self._publisher, self._catch_up = self._collaborators(ManifestStore(store, prefix))
        self.refresh()

    def _collaborators(self, manifests: ManifestStore) -> tuple[ManifestPublisher, CatchUp]:
        """The publisher and the catch-up, each working against this namespace's state."""
        publisher = ManifestPublisher(
            self.store,
            manifests,
            self.config.cache,
            adopted=self._adopted,
            adopt=self.adopt,
            adopt_loaded=self._adopt_loaded,
            keep_reader=self._keep_reader,
            forget_reader=self._forget_reader,
        )
        catch_up = CatchUp(
            self.store,
            self.prefix,
            manifests,
            self._is_current,
            adopted=self._adopted,
            applied_lsn=lambda: self._applied_lsn,
            adopt_loaded=self._adopt_loaded,
            apply_entries=self._apply_entries,
        )
        return publisher, catch_up

    @property
    def _dim(self) -> int | None:
        return self.spec.dimension if self.spec.vector_type == "dense" else None

    # --- state ---------------------------------------------------------------------------
    @property
    def manifest(self) -> ManifestRecord:
        return self._manifest

    @property
    def applied_lsn(self) -> int:
        return self._applied_lsn

    @property
    def manifest_conflicts(self) -> int:
        return self._publisher.conflicts

    def readers(self) -> dict[str, SlabReader]:
        with self._lock:
            return dict(self._readers)

    def manifest_and_readers(self) -> tuple[ManifestRecord, dict[str, SlabReader]]:
        """The manifest and the readers of its slabs, taken together."""
        with self._lock:
            return self._manifest, dict(self._readers)

    def view(self) -> NamespaceView:
        cached = self._view  # lock-free fast path: views are immutable
        if cached is not None:
            return cached
        with self._lock:
            if self._view is None:
                sources: list[Source] = [
                    MemtableSource(self._active.snapshot(), self.spec.vector_type)
                ]
                sources += [
                    MemtableSource(m.snapshot(), self.spec.vector_type) for m in self._frozen
                ]
                for entry in reversed(self._manifest.slabs):
                    sources.append(SlabSource(self._readers[entry.id], entry.id))
                self._view = NamespaceView(
                    sources, self._pair_cache, self._applied_lsn, self._code_cache
                )
            return self._view

    def stats(self) -> dict[str, Any]:
        with self._lock:
            levels: dict[int, int] = {}
            for s in self._manifest.slabs:
                levels[s.level] = levels.get(s.level, 0) + 1
            return {
                "applied_lsn": self._applied_lsn,
                "checkpoint_lsn": self._manifest.checkpoint_lsn,
                "memtable_records": len(self._active),
                "memtable_rows": self._active.row_count,
                "frozen_memtables": len(self._frozen),
                "slabs_per_level": levels,
                "wal_conflicts": self._writer.conflicts,
                "manifest_conflicts": self.manifest_conflicts,
                "group_commit_entries": self._committer.entries_written,
                "group_commit_batches": self._committer.batches_committed,
            }

    # --- manifest adoption ------------------------------------------------------------------
    def adopt(self, manifest: ManifestRecord, etag: str | None) -> None:
        """Install a newer manifest; drop memtable versions its checkpoint covers."""
        with self._lock:
            known = dict(self._readers)
        readers = self._publisher.open_readers(manifest, known)
        with self._lock:
            if manifest.version < self._manifest.version:
                return
            self._manifest, self._etag, self._readers = manifest, etag, readers
            self._pair_cache = {
                k: v for k, v in self._pair_cache.items() if k[0] in readers and k[1] in readers
            }
            cp = manifest.checkpoint_lsn
            self._frozen = [m.pruned(cp) for m in self._frozen if m.max_lsn > cp]
            self._frozen = [m for m in self._frozen if not m.is_empty]
            self._active = self._active.pruned(cp)
            self._applied_lsn = max(self._applied_lsn, cp)
            self._writer.next_lsn = max(self._writer.next_lsn, cp + 1)
            self._view = None

    def _reset(self) -> None:
        """Forget everything: the namespace was deleted (maybe recreated) by another handle."""
        with self._lock:
            self._manifest, self._etag, self._readers = ManifestRecord(), None, {}
            self._pair_cache = {}
            self._code_cache.clear()
            self._active = Memtable(self._dim)
            self._frozen = []
            self._applied_lsn = 0
            self._writer.next_lsn = 1
            self._view = None
        log.warning("namespace %s was deleted by another handle; state reset", self.prefix)

    def _adopt_loaded(self, manifest: ManifestRecord, etag: str | None) -> None:
        """Adopt what the store holds now, resetting if the manifest went backwards."""
        if etag == self._etag:
            return
        if manifest.version < self._manifest.version:
            self._reset()
        self.adopt(manifest, etag)

    def refresh(self) -> None:
        """Catch up with the store: newer manifest, then WAL entries after what we applied.

        On open, and at most every :data:`LOG_CHECK_INTERVAL_SECONDS` after, the end of the
        log is checked too (:meth:`CatchUp.check_log`).  Damage raises :class:`CorruptionError`
        naming the object, and from then on this handle refuses to write.
        """
        if self._is_current is not None and not self._is_current():
            self.deleted = True
            return
        with self._append_lock:
            try:
                self._catch_up.run()
                due = time.monotonic() - self._catch_up.log_checked_at > LOG_CHECK_INTERVAL_SECONDS
                if self.refreshed_at == 0.0 or due:
                    self._catch_up.check_log()
            except DeletedMeanwhile:
                self.deleted = True
                return
            except CorruptionError as exc:
                self.damage = exc
                raise
            with self._lock:
                self._writer.next_lsn = max(self._writer.next_lsn, self._applied_lsn + 1)
            self._synced_at = self.refreshed_at = time.monotonic()

    def catch_up_to(self, lsn: int) -> bool:
        """Catch up with the store now unless ``lsn`` is applied (perhaps by a catch-up that
        held the lock meanwhile); whether it is applied then (:mod:`.freshness`)."""
        with self._append_lock:
            if self._applied_lsn < lsn:
                self.refresh()
        return self._applied_lsn >= lsn

    # --- write path ------------------------------------------------------------------------
    def write_lsn(self, ops: list[Op]) -> tuple[int, list[Any]]:
        """Log and apply ``ops``: the LSN they landed at and one result per op, returned
        once they are durable and visible."""
        lsn, results = self._committer.submit(ops)
        try:
            self._after_write()
        except Exception:  # the write is durable and visible; the flush is retried later
            log.exception("flush after a write failed for %s", self.prefix)
        return lsn, results

    def _commit(self, batches: list[list[Op]]) -> list[Any]:
        """Group commit: all waiting batches become one WAL entry."""
        ops = [op for batch in batches for op in batch]
        data = encode_ops(ops)
        with self._append_lock:
            if self.damage is not None:  # writing would fill a hole or fork a lost log
                raise self.damage
            if time.monotonic() - self._synced_at > self.config.gc_grace_seconds / 2:
                self.refresh()
            lsn = self._writer.append(data, on_foreign=self._apply_entries)
            self._synced_at = time.monotonic()
            if self._is_current is not None and not self._is_current():
                self.deleted = True
                self.store.delete(wal_key(self.prefix, lsn))  # written into a deleted log
                raise StaleNamespaceError(
                    f"namespace at {self.prefix} was deleted by another handle"
                )
            with self._lock:
                flat = self._apply(WalEntry(lsn=lsn, ops=ops))
                if self._active.row_count >= self.config.flush_records:
                    self._freeze()
        out: list[Any] = []
        i = 0
        for batch in batches:
            out.append((lsn, flat[i : i + len(batch)]))
            i += len(batch)
        return out

    def _after_write(self) -> None:
        with self._lock:
            waiting = len(self._frozen)
        if waiting == 0:
            return
        if not self.config.background or waiting >= self.config.max_frozen_memtables:
            self.flush_frozen()
        elif self._on_frozen is not None:
            self._on_frozen(self)

    def _apply_entries(self, entries: list[WalEntry]) -> None:
        with self._lock:
            for entry in entries:
                if entry.lsn > self._applied_lsn:
                    self._apply(entry)

    def _current(self, record_id: str) -> RecordVersion | None:
        slabs = (self._readers[entry.id] for entry in self._manifest.slabs)
        return current_version((self._active, *self._frozen), slabs, record_id)

    def _matching_ids(self, filter_: dict[str, Any]) -> list[str]:
        self._view = None
        return self.view().matching_ids(parse_filter(filter_))

    def _apply(self, entry: WalEntry) -> list[Any]:
        """Resolve and apply one entry at its LSN (deterministic: replay gives the same)."""
        results = apply_entry(entry, self._active, self._current, self._matching_ids, self._stale)
        self._applied_lsn = max(self._applied_lsn, entry.lsn)
        self._view = None
        return results

    def _stale(self) -> None:
        self._view = None

    def _freeze(self) -> None:
        with self._lock:
            if self._active.is_empty:
                return
            self._frozen.insert(0, self._active)
            self._active = Memtable(self._dim)
            self._active.max_lsn = self._applied_lsn
            self._view = None

    # --- flush ------------------------------------------------------------------------------
    def flush(self) -> None:
        """Freeze the active memtable and write every frozen one to an L0 slab."""
        self._freeze()
        self.flush_frozen()

    def flush_frozen(self) -> None:
        if not self.may_build():  # another node builds; its checkpoint prunes our memtables
            return
        with self._flush_lock:
            while True:
                with self._lock:
                    if not self._frozen:
                        return
                    mem = self._frozen[-1]
                self._flush_one(mem)

    def _flush_one(self, mem: Memtable) -> None:
        built = build_slab(
            self.prefix, self.spec, 0, mem.latest_versions(), self.config.ann, self._codebook()
        )

        def plan(manifest: ManifestRecord) -> ManifestRecord | None:
            if manifest.checkpoint_lsn >= mem.max_lsn:  # another process flushed these LSNs
                return None
            if mem not in self._frozen:  # state was reset: the namespace was deleted
                return None
            return manifest.with_flush(entry, mem.max_lsn, mem.cleared)

        entry = self._publisher.write_slab(built)
        self._publisher.publish_or_discard(plan, entry)
        with self._lock:
            if mem in self._frozen:
                self._frozen.remove(mem)
                self._view = None

    def _codebook(self) -> Any:
        """The trained quantizers of the newest slab with an ANN index, if it is flat
        codes: the next L0 slab's flat codes reuse them, so the namespace's L0 slabs hold
        comparable codes and are searched as one index (:mod:`slabdb.engine.code_groups`)."""
        manifest, readers = self.manifest_and_readers()
        for entry in reversed(manifest.slabs):
            reader = readers.get(entry.id)
            if reader is None or not reader.has_ann:
                continue
            ann = reader.ann_index()
            return ann.empty_copy() if ann is not None and ann.codebook else None
        return None

    def reserve_lsn(self) -> int:
        """Log an entry of no operations on its own (never grouped with other writes) and
        return its LSN: a bulk import's place in the order of writes (slabdb.bulk)."""
        ((lsn, _),) = self._commit([[]])
        return int(lsn)

    def publish_import(
        self, slabs: tuple[SlabEntry, ...], admit: Callable[[ManifestRecord], None]
    ) -> bool:
        """List a bulk import's slabs first (oldest) in the manifest: they hold no tombstones,
        so compaction's tombstone rule stays right.  ``admit`` raises to refuse; False if
        they are listed already (a resumed import)."""
        return self._publisher.publish(import_plan(slabs, admit))

    def publish_compaction(self, inputs: tuple[str, ...], built: BuiltSlab | None) -> bool:
        """Swap ``inputs`` for the merged slab; False (output deleted) if the inputs are gone."""
        output = self._publisher.write_slab(built)
        return self._publisher.publish_or_discard(
            lambda m: m.with_compaction(inputs, output), output
        )

    def _adopted(self) -> tuple[ManifestRecord, str | None]:
        """The adopted manifest and its etag, taken together."""
        with self._lock:
            return self._manifest, self._etag

    def _keep_reader(self, slab_id: str, reader: SlabReader) -> None:
        with self._lock:
            self._readers.setdefault(slab_id, reader)

    def _forget_reader(self, entry: SlabEntry | None) -> None:
        if entry is None:
            return
        with self._lock:
            if entry.id not in {s.id for s in self._manifest.slabs}:
                self._readers.pop(entry.id, None)

    def delete_all_data(self) -> None:
        """Remove every object of this namespace (used by delete_namespace and delete_index)."""
        self.store.delete_prefix(self.prefix)
