"""Running one import: plan, build a slab per chunk, publish each namespace atomically.

Order of writes, and why a crash anywhere is safe to resume:

1. The first chunk of a namespace reserves an LSN (an empty WAL entry of its own,
   :meth:`Namespace.reserve_lsn`) and writes the namespace's *pending* object
   (``<ns prefix>imports/<id>.json``: that LSN and the slabs written so far), so
   garbage collection keeps the log from that LSN on and the import's slabs.
2. Each chunk reserves its own LSN (the first reuses the first one), becomes one slab
   with every row at that LSN, is written create-if-absent, added to the pending object
   and then to the progress object.  A crash before the progress update only leaves a
   slab no progress names: the resumed import rewrites the pending object without it
   and GC collects it.
3. When every chunk of a namespace is built, its slabs are listed in the manifest in one
   compare-and-swap (:meth:`Namespace.publish_import`): readers see all of the
   namespace's records or none.  Publishing again after a crash is a no-op.

LSNs: a chunk's records are newer than every write logged before its LSN and older than
every write after it, like an upsert logged at that LSN (one LSN per chunk, so an id in
two chunks has no tie: the later chunk wins; inside one chunk, which may span files, the
later file's row wins, and within a file the later row).  Updates, filter operations and
delete-all are resolved against the state at their LSN; one logged into a namespace
while it is being imported would have been resolved without the import's records, so
the publish refuses (the import fails for that namespace) if the log holds one after the
first reserved LSN.  Plain upserts and deletes by id need no resolving and are ordered by
LSN.  As Pinecone requires, a target namespace must be empty when the import starts.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from slabdb.bulk.plan import Chunk, NamespacePlan, SlabSize, plan_import
from slabdb.bulk.progress import (
    CANCELLED,
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    TERMINAL,
    ImportProgress,
    ImportRecords,
    NamespaceProgress,
)
from slabdb.bulk.rows import ChunkRows, UnreadableFile, read_chunk
from slabdb.bulk.source import list_source_files, open_source
from slabdb.compaction.runner import SlabRows, slab_of_rows
from slabdb.core.config import AnnConfig
from slabdb.core.errors import ConflictError, SlabDBError
from slabdb.core.ops import DeleteOp, UpsertOp
from slabdb.core.values import IndexSpec
from slabdb.engine.lease import LeaseKeeper, new_holder_id
from slabdb.engine.namespace import Namespace
from slabdb.lsm.manifest import ManifestRecord, SlabEntry
from slabdb.storage import ObjectStore
from slabdb.storage.keys import import_pending_key
from slabdb.wal import read_wal

log = logging.getLogger(__name__)

OpenNamespace = Callable[[str, bool], Namespace | None]
"""(namespace name, create) -> its engine (None if it does not exist and not create)."""
IMPORT_LEASE_SECONDS = 15.0


class ImportFailure(Exception):
    """The data (or a concurrent write) makes the import fail; its status becomes Failed."""


@dataclass
class ImportTarget:
    """What an import writes into: one index incarnation."""

    records: ImportRecords
    spec: IndexSpec
    open_namespace: OpenNamespace
    source_options: dict[str, str] = field(default_factory=dict)
    rows_per_slab: int | None = None
    """Rows per import slab (default: :meth:`SlabSize.of`, from the dimension and ``ann``)."""
    ann: AnnConfig | None = None
    """The engine's ANN settings: with ANN on, slabs reach ``ivf_min_rows`` where memory
    allows (None: sized by bytes only)."""

    def slab_size(self) -> SlabSize:
        if self.rows_per_slab:
            return SlabSize.fixed(self.rows_per_slab, self.spec.dimension)
        dense = self.spec.vector_type == "dense"
        return SlabSize.of(self.spec.dimension, dense, self.ann)


class ImportRunner:
    """Runs (or resumes) one import to a terminal status, holding the import's lease."""

    def __init__(
        self,
        target: ImportTarget,
        import_id: str,
        on_progress: Callable[[ImportProgress], None] | None = None,
        lease_seconds: float = IMPORT_LEASE_SECONDS,
    ) -> None:
        self.target, self.import_id = target, import_id
        self._records = target.records
        self._on_progress = on_progress
        self._lease = self._records.lease(import_id, new_holder_id(), lease_seconds)
        self._etag: str | None = None

    def run(self) -> ImportProgress:
        """Run to Completed, Failed or Cancelled; store errors leave it resumable."""
        progress, self._etag = self._records.load(self.import_id)
        if progress.status in TERMINAL:
            return progress
        self._acquire()
        keeper = LeaseKeeper(min(self._lease.ttl / 6, 1.0))
        keeper.add(self._lease)
        try:
            self._run(progress)
        except ImportFailure as exc:
            self._end(progress, FAILED, str(exc))
        finally:
            keeper.stop()
            self._lease.release()
        return progress

    def _acquire(self) -> None:
        """Take the import's lease, waiting out a dead runner's term (not a live one's)."""
        deadline = time.monotonic() + self._lease.ttl * 1.5 + 1.0
        while not self._lease.tend():
            if time.monotonic() > deadline:
                raise ConflictError(f"import {self.import_id} is running in another process")
            time.sleep(min(0.2, self._lease.ttl / 10))

    # --- phases ---------------------------------------------------------------------------
    def _run(self, progress: ImportProgress) -> None:
        source = open_source(progress.uri, **self.target.source_options)
        if not progress.plan:
            self._plan(progress, source)
        for ns_plan in progress.plan:
            state = progress.namespaces.setdefault(ns_plan.namespace, NamespaceProgress())
            if state.published:
                continue
            ns = self.target.open_namespace(ns_plan.namespace, True)
            assert ns is not None
            if not self._build(progress, ns_plan, state, ns, source):
                return  # cancelled
            self._publish(progress, state, ns)
        self._end(progress, COMPLETED)

    def _plan(self, progress: ImportProgress, source: ObjectStore) -> None:
        files = list_source_files(source)
        plans, bad = plan_import(source, files, self.target.slab_size())
        if bad and progress.error_mode == "abort":
            raise ImportFailure(f"cannot read {bad[0][0]}: {bad[0][1]}")
        for ns_plan in plans:
            ns = self.target.open_namespace(ns_plan.namespace, False)
            if ns is not None and (ns.view().count > 0 or ns.manifest.slabs):
                raise ImportFailure(
                    f"namespace {ns_plan.namespace!r} already holds records: "
                    "an import writes only into new or empty namespaces"
                )
        progress.plan = list(plans)
        progress.total_rows = sum(p.rows for p in plans)
        progress.status = IN_PROGRESS
        if bad:
            progress.error = f"skipped {len(bad)} unreadable file(s), e.g. {bad[0][0]}"
        self._save(progress)

    def _build(
        self,
        progress: ImportProgress,
        ns_plan: NamespacePlan,
        state: NamespaceProgress,
        ns: Namespace,
        source: ObjectStore,
    ) -> bool:
        """Build the namespace's remaining chunks; False if the import was cancelled."""
        if state.first_lsn == 0:
            state.first_lsn = ns.reserve_lsn()
            self._write_pending(ns, state)
            self._save(progress)
        else:
            self._write_pending(ns, state)  # drops a slab written after the last save
        for i in range(state.next_chunk, len(ns_plan.chunks)):
            if self._records.cancel_requested(self.import_id):
                self._cancel(progress, ns)
                return False
            chunk = ns_plan.chunks[i]
            rows = self._read(progress, source, chunk)
            lsn = state.first_lsn if i == 0 else ns.reserve_lsn()
            entry = self._write_slab(ns, rows, lsn)
            if entry is not None:
                state.slabs.append(asdict(entry))
                self._write_pending(ns, state)
            state.next_chunk, state.records = i + 1, state.records + len(rows.ids)
            progress.rows_done += chunk.rows
            progress.records_imported += len(rows.ids)
            progress.records_failed += rows.failed
            self._save(progress)
        return True

    def _read(self, progress: ImportProgress, source: ObjectStore, chunk: Chunk) -> ChunkRows:
        skip = progress.error_mode == "continue"
        try:
            rows = read_chunk(source, chunk, self.target.spec, skip_unreadable=skip)
        except UnreadableFile as exc:
            raise ImportFailure(str(exc)) from exc
        if rows.failed and progress.error_mode == "abort":
            raise ImportFailure(f"{rows.failed} invalid record(s): {rows.errors[0]}")
        return rows

    def _write_slab(self, ns: Namespace, rows: ChunkRows, lsn: int) -> SlabEntry | None:
        """Build the chunk's slab as compaction does (spooled to a temporary file, the
        vectors used in place), so its bytes never sit in memory beside the vectors."""
        n = len(rows.ids)
        slab_rows = SlabRows(
            ids=rows.ids,
            lsns=np.full(n, lsn, dtype=np.uint64),
            deleted=np.zeros(n, dtype=np.bool_),
            vectors=rows.vectors,
            metadata=rows.metadata,
            sparse=rows.sparse,
        )
        built = slab_of_rows(
            ns.prefix, self.target.spec, ns.config.max_level, slab_rows, ns.config.ann
        )
        if built is None:
            return None
        ns.store.put_if_absent(built.entry.key, built.data)
        return built.entry

    def _publish(self, progress: ImportProgress, state: NamespaceProgress, ns: Namespace) -> None:
        checked = _LogCheck(ns, state.first_lsn)
        try:
            ns.publish_import(state.slab_entries(), checked.admit)
        except ImportFailure:
            ns.store.delete(import_pending_key(ns.prefix, self.import_id))
            raise
        state.published = True
        self._save(progress)
        ns.store.delete(import_pending_key(ns.prefix, self.import_id))

    # --- bookkeeping ------------------------------------------------------------------------
    def _write_pending(self, ns: Namespace, state: NamespaceProgress) -> None:
        body = {
            "import_id": self.import_id,
            "first_lsn": state.first_lsn,
            "slabs": [s["key"] for s in state.slabs],
        }
        ns.store.put(import_pending_key(ns.prefix, self.import_id), json.dumps(body).encode())

    def _cancel(self, progress: ImportProgress, ns: Namespace) -> None:
        ns.store.delete(import_pending_key(ns.prefix, self.import_id))
        self._end(progress, CANCELLED)

    def _end(self, progress: ImportProgress, status: str, error: str | None = None) -> None:
        if status == FAILED:
            for name, state in progress.namespaces.items():
                if not state.published:
                    ns = self.target.open_namespace(name, False)
                    if ns is not None:
                        ns.store.delete(import_pending_key(ns.prefix, self.import_id))
        progress.finish(status, error or (progress.error if status == COMPLETED else None))
        self._save(progress)

    def _save(self, progress: ImportProgress) -> None:
        if not self._lease.held:
            raise SlabDBError(f"import {self.import_id}: lease lost, stopping (resumable)")
        self._etag = self._records.save(progress, self._etag)
        if self._on_progress is not None:
            self._on_progress(progress)


class _LogCheck:
    """Refuses a publish if the log after the import's first LSN holds a write that was
    resolved without the import's records (anything but upserts and deletes by id)."""

    def __init__(self, ns: Namespace, first_lsn: int) -> None:
        self._ns, self._after = ns, first_lsn

    def admit(self, _manifest: ManifestRecord) -> None:
        for entry in read_wal(self._ns.store, self._ns.prefix, after_lsn=self._after):
            for op in entry.ops:
                if not isinstance(op, UpsertOp | DeleteOp):
                    raise ImportFailure(
                        f"namespace at {self._ns.prefix} got a {type(op).__name__} at LSN "
                        f"{entry.lsn} during the import; import into a namespace nobody "
                        "updates meanwhile"
                    )
            self._after = entry.lsn
