"""Open namespace engines of one client, and the rule for writing through a stale one.

One :class:`~slabdb.engine.namespace.Namespace` per (index, index incarnation, namespace),
opened on first use and kept until the namespace or its index is deleted, or until it is
evicted: beyond ``EngineConfig.max_open_namespaces`` open engines, the least recently
used *idle* ones (nothing in their memtables: everything they hold is in slabs, which
are memory-mapped or cached, and the log) are dropped; the next request reopens them.
Opening reads the manifest, slab footers and WAL, so it holds only that namespace's
lock: requests to other namespaces are not stalled meanwhile.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from slabdb.client.catalog import IndexCatalog, IndexConfig
from slabdb.core.config import EngineConfig
from slabdb.core.errors import ClosedError, StaleNamespaceError
from slabdb.core.ops import Op
from slabdb.core.values import IndexSpec
from slabdb.engine.namespace import Namespace
from slabdb.storage import ObjectStore

HandleKey = tuple[str, str, str]
"""(index name, index incarnation, namespace name)."""


class NamespaceHandles:
    """Opens, caches and forgets namespace engines; writes with one reopen on staleness."""

    def __init__(self, store: ObjectStore, catalog: IndexCatalog, config: EngineConfig) -> None:
        self._store = store
        self._catalog = catalog
        self._config = config
        self._lock = threading.RLock()
        self._open: OrderedDict[HandleKey, Namespace] = OrderedDict()
        """Open engines, least recently used first."""
        self.evicted = 0
        """Idle engines dropped to stay within ``max_open_namespaces``."""
        self._opening: dict[HandleKey, threading.Lock] = {}
        self._closed = False
        self.on_frozen: Callable[[Namespace], None] | None = None
        """Called when a memtable freezes (the background worker's wake-up), if set."""

    # --- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._closed = True

    def check_open(self) -> None:
        if self._closed:
            raise ClosedError("this SlabDB client is closed")

    # --- what is open ------------------------------------------------------------------------
    def engines(self) -> list[Namespace]:
        """Every open, not deleted namespace engine (deleted ones are dropped here)."""
        with self._lock:
            for key in [k for k, e in self._open.items() if e.deleted]:
                self._open.pop(key)
            return list(self._open.values())

    def entries(self) -> list[tuple[str, str, Namespace]]:
        """(index name, namespace name, engine) of every open namespace, for metrics."""
        with self._lock:
            return [
                (index, ns, engine)
                for (index, _inc, ns), engine in self._open.items()
                if not engine.deleted
            ]

    # --- open / forget -------------------------------------------------------------------------
    def get(self, cfg: IndexConfig, ns: str, create: bool) -> Namespace | None:
        """The engine of one namespace (None if it does not exist and not ``create``)."""
        self.check_open()
        key = (cfg.name, cfg.incarnation, ns)
        with self._lock:
            engine = self._open.get(key)
            if engine is not None and not engine.deleted:
                self._open.move_to_end(key)
                return engine
            opening = self._opening.setdefault(key, threading.Lock())
        with opening:
            with self._lock:
                engine = self._open.get(key)
            if engine is not None and not engine.deleted:
                return engine
            engine = self._open_engine(cfg, ns, create)
            if engine is None:
                return None
            with self._lock:
                self._open[key] = engine
                self._opening.pop(key, None)
                self._evict_idle()
            return engine

    def _evict_idle(self) -> None:
        """Drop least recently used idle engines while more than the budget are open."""
        excess = len(self._open) - self._config.max_open_namespaces
        for key in list(self._open)[:-1]:  # never the one just opened
            if excess <= 0:
                return
            engine = self._open[key]
            stats = engine.stats()
            if engine.deleted or (stats["memtable_rows"] == 0 and stats["frozen_memtables"] == 0):
                self._open.pop(key)
                self.evicted += 0 if engine.deleted else 1
                excess -= 1

    def _open_engine(self, cfg: IndexConfig, ns: str, create: bool) -> Namespace | None:
        catalog = self._catalog
        if create:
            incarnation: str | None = catalog.register_namespace(cfg, ns)
        else:
            incarnation = catalog.namespace_incarnation(cfg, ns)
        if incarnation is None:
            return None
        current = incarnation
        return Namespace(
            self._store,
            cfg.namespace_prefix(ns, incarnation),
            IndexSpec(dimension=cfg.dimension, metric=cfg.metric, vector_type=cfg.vector_type),
            self._config,
            self._frozen,
            is_current=lambda: catalog.namespace_incarnation(cfg, ns) == current,
        )

    def _frozen(self, engine: Namespace) -> None:
        if self.on_frozen is not None:
            self.on_frozen(engine)

    def forget(self, cfg: IndexConfig, ns: str) -> None:
        with self._lock:
            self._open.pop((cfg.name, cfg.incarnation, ns), None)

    def forget_index(self, cfg: IndexConfig) -> None:
        with self._lock:
            for key in [k for k in self._open if k[0] == cfg.name and k[1] == cfg.incarnation]:
                self._open.pop(key)

    # --- writing -------------------------------------------------------------------------------
    def write(
        self, cfg: IndexConfig, ns: str, ops: list[Op], create: bool = True
    ) -> tuple[int | None, list[Any]]:
        """Write ``ops``: (LSN, one result per op).

        If the open namespace turns out deleted elsewhere, reopen it and write once more.
        With ``create=False`` (deletes) a namespace that does not exist is left alone
        (LSN None, zero results).
        """
        for attempt in range(2):
            engine = self.get(cfg, ns, create=create)
            if engine is None:
                return None, [0] * len(ops)
            try:
                return engine.write_lsn(ops)
            except StaleNamespaceError:
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")
