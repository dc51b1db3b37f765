"""Background upkeep of open namespaces: flush, compaction, garbage collection, refresh.

Nothing here blocks writers or readers: compaction builds its slab from immutable
readers, publishes by compare-and-swap and swaps the view; readers holding an older
view keep their slab readers in memory.  Objects no manifest references any more
(replaced slabs, checkpointed WAL entries, slabs orphaned by a crash) are deleted
only once they are older than the grace period.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from slabdb.compaction.planner import CompactionPlanner
from slabdb.compaction.runner import merge_slabs
from slabdb.core.config import EngineConfig
from slabdb.engine.namespace import Namespace
from slabdb.storage.keys import lsn_of_key, slabs_prefix, wal_prefix

log = logging.getLogger(__name__)


def planner_for(config: EngineConfig) -> CompactionPlanner:
    return CompactionPlanner(
        fanout=config.level_fanout,
        max_inputs=config.compaction_max_inputs,
        max_level=config.max_level,
    )


def compact_once(ns: Namespace) -> bool:
    """Run the most urgent compaction task of ``ns``; False if there was none."""
    with ns.maintenance_lock:
        manifest, readers = ns.manifest_and_readers()
        task = planner_for(ns.config).plan(manifest)
        if task is None:
            return False
        inputs = [readers[slab_id] for slab_id in task.inputs]
        built = merge_slabs(ns.prefix, ns.spec, task.output_level, inputs, task.drop_tombstones)
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
    live = manifest.slab_keys()
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
    if safe_lsn:
        for meta in list(ns.store.list(wal_prefix(ns.prefix))):
            if lsn_of_key(meta.key) > safe_lsn:
                break
            ns.store.delete(meta.key)
            deleted += 1
    return deleted


class BackgroundWorker:
    """One daemon thread that keeps every open namespace flushed, compacted and fresh."""

    def __init__(self, config: EngineConfig, namespaces: Callable[[], Iterable[Namespace]]) -> None:
        self._config = config
        self._namespaces = namespaces
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slabdb-maintenance", daemon=True)
        self._last_gc: dict[str, float] = {}
        self.errors = 0

    def start(self) -> None:
        self._thread.start()

    def wake(self, _ns: Namespace | None = None) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        interval = self._config.background_interval_seconds
        while not self._stop.is_set():
            self._wake.wait(interval)
            self._wake.clear()
            for ns in list(self._namespaces()):
                if self._stop.is_set():
                    return
                try:
                    self._tend(ns)
                except Exception:  # keep the worker alive; the next round retries
                    self.errors += 1
                    log.exception("background maintenance failed for %s", ns.prefix)

    def _tend(self, ns: Namespace) -> None:
        ns.flush_frozen()
        compact_once(ns)
        now = time.monotonic()
        if now - ns.refreshed_at > self._config.refresh_interval_seconds:
            ns.refresh()
        gc_every = max(self._config.gc_grace_seconds / 4, 1.0)
        if now - self._last_gc.get(ns.prefix, 0.0) > gc_every:
            self._last_gc[ns.prefix] = now
            collect_garbage(ns, self._config.gc_grace_seconds)
