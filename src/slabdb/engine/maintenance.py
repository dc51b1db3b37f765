"""Background upkeep of open namespaces: flush, compaction, garbage collection, refresh.

Nothing here blocks writers or readers: compaction builds its slab from immutable
readers, publishes by compare-and-swap and swaps the view; readers holding an older
view keep their slab readers in memory.  Objects no manifest references any more
(replaced slabs, checkpointed WAL entries, slabs orphaned by a crash) are deleted
only once they are older than the grace period; slabs and log entries a running bulk
import still needs (its pending object under ``imports/``) are kept.

With ``EngineConfig.builder_lease`` a namespace is flushed, compacted and collected only
by the node holding its builder lease (:mod:`slabdb.engine.lease`); every node still
writes to the WAL and refreshes.  A node that does not hold the lease never flushes: its
memtables shrink when it adopts the holder's manifest, whose checkpoint covers its
entries because the holder's refresh reads every node's WAL entries (``read_wal``) into
its own memtable, which it freezes and flushes like its own writes.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import faiss

from slabdb.compaction.planner import CompactionPlanner
from slabdb.compaction.runner import merge_slabs
from slabdb.core.config import EngineConfig
from slabdb.core.errors import ObjectNotFoundError
from slabdb.engine.lease import RENEWALS_PER_TERM, Lease, LeaseKeeper, new_holder_id
from slabdb.engine.namespace import Namespace
from slabdb.storage.keys import (
    builder_lease_key,
    import_pending_prefix,
    lsn_of_key,
    slabs_prefix,
    wal_prefix,
)

log = logging.getLogger(__name__)


def planner_for(config: EngineConfig) -> CompactionPlanner:
    return CompactionPlanner(
        fanout=config.level_fanout,
        max_inputs=config.compaction_max_inputs,
        max_level=config.max_level,
        merge_rows=config.l0_merge_rows,
    )


def compact_once(ns: Namespace, planner: CompactionPlanner | None = None) -> bool:
    """Run the most urgent compaction task of ``ns`` (by ``planner``, default the config's);
    False if there was none (or another node holds its builder lease)."""
    if not ns.may_build():
        return False
    with ns.maintenance_lock:
        manifest, readers = ns.manifest_and_readers()
        task = (planner or planner_for(ns.config)).plan(manifest)
        if task is None:
            return False
        inputs = [readers[slab_id] for slab_id in task.inputs]
        built = merge_slabs(
            ns.prefix, ns.spec, task.output_level, inputs, task.drop_tombstones, ns.config.ann
        )
        if not ns.may_build():  # the lease lapsed while merging: the new holder redoes it
            log.warning("compaction of %s abandoned: builder lease lost", ns.prefix)
            return True
        published = ns.publish_compaction(task.inputs, built)
        log.info(
            "compaction %s: %d slabs -> L%d (%d records)",
            "done" if published else "abandoned",
            len(task.inputs),
            task.output_level,
            0 if built is None else built.entry.count,
        )
        return True


def compact_until_idle(ns: Namespace, max_tasks: int = 1000) -> int:
    """Run compaction tasks until the planner has none; returns how many ran."""
    done = 0
    while done < max_tasks and compact_once(ns):
        done += 1
    return done


def collect_garbage(ns: Namespace, grace_seconds: float, now: datetime | None = None) -> int:
    """Delete slabs unreferenced, and WAL entries checkpointed, for longer than the grace period."""
    now_ts = (now or datetime.now(UTC)).timestamp()
    state = ns.gc_state
    manifest = ns.manifest
    kept_slabs, import_lsn = pending_imports(ns)
    live = manifest.slab_keys() | kept_slabs
    deleted = 0
    for meta in list(ns.store.list(slabs_prefix(ns.prefix))):
        if meta.key in live:
            state.unreferenced_since.pop(meta.key, None)
            continue
        since = state.unreferenced_since.setdefault(meta.key, now_ts)
        if now_ts - since > grace_seconds:
            ns.store.delete(meta.key)
            state.unreferenced_since.pop(meta.key, None)
            deleted += 1
    state.note_checkpoint(now_ts, manifest.checkpoint_lsn)
    safe_lsn = state.checkpoint_seen_before(now_ts - grace_seconds)
    if import_lsn is not None:  # the import checks the log from its first LSN on
        safe_lsn = min(safe_lsn, import_lsn - 1)
    if safe_lsn:
        for meta in list(ns.store.list(wal_prefix(ns.prefix))):
            if lsn_of_key(meta.key) > safe_lsn:
                break
            ns.store.delete(meta.key)
            deleted += 1
    return deleted


def pending_imports(ns: Namespace) -> tuple[set[str], int | None]:
    """Slab keys running bulk imports wrote and have not published, and the lowest LSN
    they reserved (None if no import is pending): GC keeps both."""
    keys: set[str] = set()
    first: int | None = None
    for meta in list(ns.store.list(import_pending_prefix(ns.prefix))):
        try:
            raw = json.loads(ns.store.get(meta.key).data)
        except ObjectNotFoundError:  # published or cancelled meanwhile
            continue
        keys.update(str(k) for k in raw.get("slabs", []))
        lsn = int(raw.get("first_lsn", 0)) or None
        if lsn is not None:
            first = lsn if first is None else min(first, lsn)
    return keys, first


class BuilderLeases:
    """The builder lease of every open namespace (``EngineConfig.builder_lease``).

    A namespace gets its lease once it has something to build (a WAL entry or a
    manifest): a lease object alone must never make an empty namespace look damaged.
    """

    def __init__(self, config: EngineConfig, holder: str | None = None) -> None:
        self.holder = holder or new_holder_id()
        self._ttl = config.builder_lease_seconds
        self._keeper = LeaseKeeper(min(self._ttl / (2 * RENEWALS_PER_TERM), 1.0))

    def attach(self, ns: Namespace) -> Lease | None:
        """The namespace's lease (created and first tended here); None if nothing to build."""
        key = builder_lease_key(ns.prefix)
        lease = self._keeper.get(key)
        if lease is None:
            if ns.applied_lsn == 0 and ns.manifest.version == 0:
                return None
            lease = Lease(ns.store, key, self.holder, self._ttl)
            lease.tend()
            self._keeper.add(lease)
        held = lease  # also for an engine reopened on the same prefix
        ns.may_build = lambda: held.held
        return lease

    def forget_except(self, open_prefixes: set[str]) -> None:
        """Release the leases of namespaces no longer open (deleted or forgotten)."""
        for lease in self._keeper.leases():
            if lease.key.removesuffix("builder-lease.json") not in open_prefixes:
                self._keeper.remove(lease.key)
                lease.release()

    def hand_over(self, namespaces: Iterable[Namespace]) -> None:
        """Stop: flush what this node holds, then release every lease at once."""
        self._keeper.stop()
        for ns in namespaces:
            lease = self._keeper.get(builder_lease_key(ns.prefix))
            if lease is not None and lease.held:
                try:
                    ns.flush()
                except Exception:  # the next holder flushes from the WAL
                    log.exception("final flush of %s failed", ns.prefix)
        for lease in self._keeper.leases():
            lease.release()

    def leases(self) -> list[Lease]:
        return self._keeper.leases()


class BackgroundWorker:
    """One daemon thread that keeps every open namespace flushed, compacted and fresh.

    With ``config.builder_lease`` only the namespaces whose builder lease this process
    holds are flushed, compacted and garbage-collected here (all are refreshed).
    """

    def __init__(
        self,
        config: EngineConfig,
        namespaces: Callable[[], Iterable[Namespace]],
        holder: str | None = None,
    ) -> None:
        self._config = config
        self._namespaces = namespaces
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slabdb-maintenance", daemon=True)
        self._last_gc: dict[str, float] = {}
        self.errors = 0
        self.leases = BuilderLeases(config, holder) if config.builder_lease else None

    def start(self) -> None:
        self._thread.start()

    def wake(self, _ns: Namespace | None = None) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        if self.leases is not None:
            self.leases.hand_over(list(self._namespaces()))

    def _run(self) -> None:
        # The thread budget (client.thread_budget) covers queries: builds here run on one
        # core so a flush or compaction never takes every core from them (OpenMP settings
        # are per thread; docs/design/ann.md, "The post-ingest state").
        faiss.omp_set_num_threads(1)
        interval = self._config.background_interval_seconds
        while not self._stop.is_set():
            self._wake.wait(interval)
            self._wake.clear()
            namespaces = list(self._namespaces())
            if self.leases is not None:
                self.leases.forget_except({ns.prefix for ns in namespaces})
            for ns in namespaces:
                if self._stop.is_set():
                    return
                try:
                    self._tend(ns)
                except Exception:  # keep the worker alive; the next round retries
                    self.errors += 1
                    log.exception("background maintenance failed for %s", ns.prefix)

    def _tend(self, ns: Namespace) -> None:
        if self.leases is not None:
            self.leases.attach(ns)
        if ns.may_build():
            self._build(ns)
        now = time.monotonic()
        if now - ns.refreshed_at > self._config.refresh_interval_seconds:
            ns.refresh()

    def _build(self, ns: Namespace) -> None:
        if self.leases is not None and ns.stats()["memtable_rows"] >= self._config.flush_records:
            ns.flush()  # other nodes' entries, read by refresh, freeze nowhere else
        ns.flush_frozen()
        compact_once(ns)
        now = time.monotonic()
        gc_every = max(self._config.gc_grace_seconds / 4, 1.0)
        if now - self._last_gc.get(ns.prefix, 0.0) > gc_every:
            self._last_gc[ns.prefix] = now
            collect_garbage(ns, self._config.gc_grace_seconds)
