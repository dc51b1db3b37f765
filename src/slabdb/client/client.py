"""The embedded database: ``slabdb.connect(url)`` gives a :class:`Client`.

Method names and keyword arguments follow the official ``pinecone`` SDK's
``Pinecone`` class, so code moves between the two unchanged.
"""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from threadpoolctl import threadpool_limits

from slabdb.client import validation
from slabdb.client.catalog import IndexCatalog, IndexConfig
from slabdb.client.context import IndexContext
from slabdb.client.embedding import as_dict, parse_embed, public_embed
from slabdb.client.handles import NamespaceHandles
from slabdb.client.index import Index
from slabdb.client.responses import IndexModel
from slabdb.core.config import EngineConfig
from slabdb.core.errors import IndexNotFoundError, InvalidArgumentError, PermissionDeniedError
from slabdb.embed.models import EmbedModels
from slabdb.engine.maintenance import BackgroundWorker
from slabdb.engine.namespace import Namespace
from slabdb.storage import ObjectStore, open_store


def thread_budget(query_threads: int, cores: int | None = None) -> tuple[int, int]:
    """(query pool size, BLAS threads) so that pool x BLAS threads <= the cores.

    ``query_threads`` 0 means one pool thread per core; BLAS gets what is left per
    pool thread (1 on a machine with as many pool threads as cores).
    """
    cpus = max(1, cores or os.cpu_count() or 1)
    pool = query_threads or cpus
    return pool, max(1, cpus // pool)


class _ProcessLimits:
    """The process-wide BLAS thread limit and GIL switch interval, held while any client
    is open (refcounted).

    Both are global to the process, so the first client sets them and the last one to
    close restores what it found.
    """

    _lock = threading.Lock()
    _holders = 0
    _limits: Any = None
    _switch_interval: float | None = None

    @classmethod
    def acquire(cls, blas_threads: int, switch_interval: float) -> None:
        with cls._lock:
            if cls._holders == 0:
                cls._limits = threadpool_limits(limits=blas_threads, user_api="blas")
                if switch_interval > 0:
                    cls._switch_interval = sys.getswitchinterval()
                    sys.setswitchinterval(switch_interval)
            cls._holders += 1

    @classmethod
    def release(cls) -> None:
        with cls._lock:
            cls._holders -= 1
            if cls._holders == 0 and cls._limits is not None:
                cls._limits.restore_original_limits()
                cls._limits = None
            if cls._holders == 0 and cls._switch_interval is not None:
                sys.setswitchinterval(cls._switch_interval)
                cls._switch_interval = None


class IndexList(list[IndexModel]):
    """What ``list_indexes`` returns: a list of IndexModel with ``names()``."""

    def names(self) -> list[str]:
        return [m.name for m in self]

    @property
    def indexes(self) -> list[IndexModel]:
        return list(self)


class Client:
    """An open SlabDB database (local directory, memory or S3)."""

    def __init__(
        self,
        store: ObjectStore,
        config: EngineConfig | None = None,
        embed_models: EmbedModels | None = None,
    ) -> None:
        self.store = store
        self.config = config or EngineConfig()
        self.embed_models = embed_models or EmbedModels(allow_test_models=True)
        """Models ``create_index_for_model`` may use (embedded default: all local ones)."""
        self.catalog = IndexCatalog(store)
        self.handles = NamespaceHandles(store, self.catalog, self.config)
        self._lock = threading.Lock()
        self._closed = False
        pool, blas = thread_budget(self.config.query_threads)
        _ProcessLimits.acquire(blas, self.config.switch_interval_seconds)
        self.executor = ThreadPoolExecutor(
            max_workers=pool, thread_name_prefix="slabdb-query"
        )  # each search runs faiss on one thread (slab.ann_search.single_threaded_faiss)
        self.search_slots = threading.BoundedSemaphore(pool)
        """At most one search per pool thread runs at once: more callers (a server's
        request threads, an application's) wait here asleep instead of contending for
        the GIL, so throughput does not fall as clients are added."""
        self._worker: BackgroundWorker | None = None
        if self.config.background:
            self._worker = BackgroundWorker(self.config, self.handles.engines)
            self.handles.on_frozen = self._worker.wake
            self._worker.start()

    # --- lifecycle ------------------------------------------------------------------------
    def close(self, flush: bool = True) -> None:
        """Stop background work; with ``flush``, write memtables to slabs for a fast reopen."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            if self._worker is not None:
                self._worker.stop()
            if flush:
                for ns in self.handles.engines():
                    ns.flush()
        finally:
            self.handles.close()
            self.executor.shutdown(wait=True)
            _ProcessLimits.release()
            self.store.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        self.handles.check_open()

    # --- open namespaces --------------------------------------------------------------------
    def open_namespaces(self) -> list[Namespace]:
        """Engines of the namespaces opened so far (for stats, tests and tools)."""
        return self.handles.engines()

    def open_namespace_entries(self) -> list[tuple[str, str, Namespace]]:
        """(index name, namespace name, engine) of every open namespace, for metrics."""
        return self.handles.entries()

    # --- control plane ------------------------------------------------------------------------
    def create_index(
        self,
        name: str,
        dimension: int | None = None,
        metric: str | None = None,
        spec: Any = None,
        vector_type: str = "dense",
        deletion_protection: str = "disabled",
        tags: dict[str, str] | None = None,
        timeout: int | None = None,
    ) -> IndexModel:
        """Create an index (``spec`` and ``timeout`` are accepted for SDK compatibility).

        ``metric`` defaults to cosine (dense) or dotproduct (sparse, the only metric a
        sparse index takes: any other is refused, as Pinecone does)."""
        self._check_open()
        validation.index_name(name)
        if metric is None:
            metric = "dotproduct" if vector_type == "sparse" else "cosine"
        dim, metric, vector_type = validation.index_shape(dimension, metric, vector_type)
        _deletion_protection(deletion_protection)
        cfg = self.catalog.create(name, dim, metric, vector_type, deletion_protection, tags)
        return self._model(cfg)

    def create_index_for_model(
        self,
        name: str,
        cloud: str | None = None,
        region: str | None = None,
        embed: Any = None,
        tags: dict[str, str] | None = None,
        deletion_protection: str = "disabled",
        read_capacity: Any = None,
        schema: Any = None,
        timeout: int | None = None,
    ) -> IndexModel:
        """An index that embeds text itself: ``embed={"model": "minilm", "field_map":
        {"text": "chunk_text"}}`` (see :mod:`slabdb.client.embedding`; cloud/region are ignored)."""
        self._check_open()
        validation.index_name(name)
        cfg = parse_embed(embed, self.embed_models)
        _deletion_protection(deletion_protection)
        created = self.catalog.create(
            name, cfg["dimension"], cfg["metric"], "dense", deletion_protection, tags, embed=cfg
        )
        return self._model(created)

    def describe_index(self, name: str) -> IndexModel:
        self._check_open()
        return self._model(self.catalog.get(name))

    def list_indexes(self) -> IndexList:
        self._check_open()
        return IndexList(self._model(c) for c in self.catalog.list())

    def has_index(self, name: str) -> bool:
        self._check_open()
        try:
            self.catalog.get(name)  # one GET, not a LIST plus a GET per index
        except IndexNotFoundError:
            return False
        return True

    def configure_index(
        self,
        name: str,
        deletion_protection: str | None = None,
        tags: dict[str, str] | None = None,
        embed: Any = None,
        **_: Any,
    ) -> IndexModel:
        """Change deletion protection or tags, or (``embed={"model": ..., "field_map":
        {"text": ...}}``) turn a dense index into one that embeds text itself; the model
        must produce the index's dimension and use its metric."""
        self._check_open()
        cfg = self.catalog.get(name)
        changes: dict[str, Any] = {}
        if deletion_protection is not None:
            changes["deletion_protection"] = _deletion_protection(deletion_protection)
        if tags is not None:
            merged = {**cfg.tags, **tags}
            changes["tags"] = {k: v for k, v in merged.items() if v != ""}
        if embed is not None:
            changes["embed"] = self._embed_for(cfg, embed)
        return self._model(self.catalog.update(name, **changes))

    def _embed_for(self, cfg: IndexConfig, embed: Any) -> dict[str, Any]:
        """The embed config that turns the existing index ``cfg`` into an integrated one."""
        if cfg.embed:
            raise InvalidArgumentError(f"index {cfg.name!r} already embeds text itself")
        if cfg.vector_type != "dense":
            raise InvalidArgumentError("only a dense index can be given an embedding model")
        raw = as_dict(embed, "embed")
        if raw.get("metric") not in (None, cfg.metric):
            raise InvalidArgumentError(
                f"embed.metric {raw['metric']!r} differs from the index's metric {cfg.metric!r}"
            )
        raw = {**raw, "metric": cfg.metric, "dimension": raw.get("dimension", cfg.dimension)}
        parsed = parse_embed(raw, self.embed_models)
        if parsed["dimension"] != cfg.dimension:
            raise InvalidArgumentError(
                f"model {parsed['model']!r} makes {parsed['dimension']}-dimension vectors; "
                f"index {cfg.name!r} has dimension {cfg.dimension}"
            )
        return parsed

    def delete_index(self, name: str, timeout: int | None = None) -> None:
        self._check_open()
        cfg = self.catalog.get(name)
        if cfg.deletion_protection == "enabled":
            raise PermissionDeniedError(
                f"deletion protection is enabled for index {name!r}; disable it with configure_index first"
            )
        self.catalog.delete(name)
        self.handles.forget_index(cfg)
        self.catalog.drop_index_data(cfg)

    def Index(self, name: str = "", host: str = "", **_: Any) -> Index:
        """A handle on one index's data plane."""
        self._check_open()
        if not name:
            raise InvalidArgumentError("Index() needs the index name")
        ctx = IndexContext(
            config=self.catalog.get(name),
            handles=self.handles,
            catalog=self.catalog,
            executor=self.executor,
            embed_models=self.embed_models,
            search_slots=self.search_slots,
        )
        return Index(ctx)

    def _model(self, cfg: IndexConfig) -> IndexModel:
        return IndexModel(
            name=cfg.name,
            dimension=cfg.dimension,
            metric=cfg.metric,
            vector_type=cfg.vector_type,
            host=f"embedded://{cfg.name}",
            deletion_protection=cfg.deletion_protection,
            tags=dict(cfg.tags) or None,
            embed=public_embed(cfg.embed),
        )


def _deletion_protection(value: str) -> str:
    if value not in ("enabled", "disabled"):
        raise InvalidArgumentError(
            f"deletion_protection must be 'enabled' or 'disabled', got {value!r}"
        )
    return value


def connect(
    url: str = "./data", *, config: EngineConfig | None = None, **store_options: Any
) -> Client:
    """Open a database: a directory path, ``memory://`` or ``s3://bucket/prefix``.

    Without ``config``, engine settings come from ``SLABDB_*`` environment variables.
    """
    if config is None:
        from slabdb.core.config import Settings

        config = Settings().engine_config()
    return Client(open_store(url, **store_options), config)
