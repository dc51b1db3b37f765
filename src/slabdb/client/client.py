"""The embedded database: ``slabdb.connect(url)`` gives a :class:`Client`.

Method names and keyword arguments follow the official ``pinecone`` SDK's
``Pinecone`` class, so code moves between the two unchanged.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slabdb.client import validation
from slabdb.client.catalog import IndexCatalog, IndexConfig
from slabdb.client.index import Index
from slabdb.client.records import create_index_for_model, public_embed
from slabdb.client.responses import IndexModel
from slabdb.core.config import EngineConfig
from slabdb.core.errors import ClosedError, InvalidArgumentError, PermissionDeniedError
from slabdb.core.values import IndexSpec
from slabdb.embed.models import EmbedModels
from slabdb.engine.maintenance import BackgroundWorker
from slabdb.engine.namespace import Namespace
from slabdb.storage import ObjectStore, open_store


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
        self._lock = threading.RLock()
        self._namespaces: dict[tuple[str, str, str], Namespace] = {}
        self._opening: dict[tuple[str, str, str], threading.Lock] = {}
        self._closed = False
        self.executor = ThreadPoolExecutor(
            max_workers=self.config.query_threads, thread_name_prefix="slabdb-query"
        )
        self._worker: BackgroundWorker | None = None
        if self.config.background:
            self._worker = BackgroundWorker(self.config, self.open_namespaces)
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
                for ns in self.open_namespaces():
                    ns.flush()
        finally:
            self.executor.shutdown(wait=True)
            self.store.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("this SlabDB client is closed")

    # --- namespaces (engine handles) -----------------------------------------------------------
    def open_namespaces(self) -> list[Namespace]:
        with self._lock:
            for key in [k for k, e in self._namespaces.items() if e.deleted]:
                self._namespaces.pop(key)
            return list(self._namespaces.values())

    def open_namespace_entries(self) -> list[tuple[str, str, Namespace]]:
        """(index name, namespace name, engine) of every open namespace, for metrics."""
        with self._lock:
            return [
                (index, ns, engine)
                for (index, _inc, ns), engine in self._namespaces.items()
                if not engine.deleted
            ]

    def namespace(self, cfg: IndexConfig, ns: str, create: bool) -> Namespace | None:
        """The engine of one namespace, opened on first use (None if absent and not ``create``)."""
        self._check_open()
        key = (cfg.name, cfg.incarnation, ns)
        with self._lock:
            engine = self._namespaces.get(key)
            if engine is not None and not engine.deleted:
                return engine
            opening = self._opening.setdefault(key, threading.Lock())
        # Opening reads the manifest, slabs and WAL: hold only this namespace's lock,
        # so requests to other namespaces are not stalled meanwhile.
        with opening:
            with self._lock:
                engine = self._namespaces.get(key)
            if engine is not None and not engine.deleted:
                return engine
            if create:
                incarnation: str | None = self.catalog.register_namespace(cfg, ns)
            else:
                incarnation = self.catalog.namespace_incarnation(cfg, ns)
                if incarnation is None:
                    return None
            assert incarnation is not None
            spec = IndexSpec(
                dimension=cfg.dimension, metric=cfg.metric, vector_type=cfg.vector_type
            )
            on_frozen = None if self._worker is None else self._worker.wake
            catalog, current = self.catalog, incarnation
            engine = Namespace(
                self.store,
                cfg.namespace_prefix(ns, incarnation),
                spec,
                self.config,
                on_frozen,
                is_current=lambda: catalog.namespace_incarnation(cfg, ns) == current,
            )
            with self._lock:
                self._namespaces[key] = engine
                self._opening.pop(key, None)
            return engine

    def forget_namespace(self, cfg: IndexConfig, ns: str) -> None:
        with self._lock:
            self._namespaces.pop((cfg.name, cfg.incarnation, ns), None)

    # --- control plane ------------------------------------------------------------------------
    def create_index(
        self,
        name: str,
        dimension: int | None = None,
        metric: str = "cosine",
        spec: Any = None,
        vector_type: str = "dense",
        deletion_protection: str = "disabled",
        tags: dict[str, str] | None = None,
        timeout: int | None = None,
    ) -> IndexModel:
        """Create an index (``spec`` and ``timeout`` are accepted for SDK compatibility)."""
        self._check_open()
        validation.index_name(name)
        if vector_type == "sparse" and metric == "cosine" and dimension is None:
            metric = "dotproduct"
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
        {"text": "chunk_text"}}`` (see :mod:`slabdb.client.records`; cloud/region are ignored)."""
        return create_index_for_model(self, name, embed, deletion_protection, tags)

    def describe_index(self, name: str) -> IndexModel:
        self._check_open()
        return self._model(self.catalog.get(name))

    def list_indexes(self) -> IndexList:
        self._check_open()
        return IndexList(self._model(c) for c in self.catalog.list())

    def has_index(self, name: str) -> bool:
        self._check_open()
        return name in {c.name for c in self.catalog.list()}

    def configure_index(
        self, name: str, deletion_protection: str | None = None, tags: dict[str, str] | None = None
    ) -> IndexModel:
        self._check_open()
        changes: dict[str, Any] = {}
        if deletion_protection is not None:
            changes["deletion_protection"] = _deletion_protection(deletion_protection)
        if tags is not None:
            merged = {**self.catalog.get(name).tags, **tags}
            changes["tags"] = {k: v for k, v in merged.items() if v != ""}
        return self._model(self.catalog.update(name, **changes))

    def delete_index(self, name: str, timeout: int | None = None) -> None:
        self._check_open()
        cfg = self.catalog.get(name)
        if cfg.deletion_protection == "enabled":
            raise PermissionDeniedError(
                f"deletion protection is enabled for index {name!r}; disable it with configure_index first"
            )
        self.catalog.delete(name)
        with self._lock:
            for key in [k for k in self._namespaces if k[0] == name and k[1] == cfg.incarnation]:
                self._namespaces.pop(key)
        self.catalog.drop_index_data(cfg)

    def Index(self, name: str = "", host: str = "", **_: Any) -> Index:
        """A handle on one index's data plane."""
        self._check_open()
        if not name:
            raise InvalidArgumentError("Index() needs the index name")
        return Index(self, self.catalog.get(name))

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
