"""The app's view of one SlabDB index: embedded, or behind ``slabdb serve`` (Pinecone SDK).

Both speak the same data-plane calls (the embedded :class:`slabdb.client.Index` takes the
SDK's arguments), so :class:`SearchIndex` wraps either handle and turns every failure
into :class:`SlabUnavailableError`, which the pages show as a message.

    SearchIndex.embedded("./demo-data/slabdb", "products")
    SearchIndex.remote("http://127.0.0.1:5080", api_key, "products")

Engine figures (slabs per level, memtable, compaction backlog) come from the namespace
engines in process, or from the server's Prometheus listener (``slabdb serve
--metrics-port P``; pass its URL as ``metrics_url``; without it only the record count
is known).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from slabdb.app.sparse import SparseValues

T = TypeVar("T")

REMOTE_TIMEOUT_SECONDS = 5.0
"""One HTTP attempt to ``slabdb serve`` (the SDK's own default is 30 s)."""
SERVERLESS_CLOUD = "aws"
SERVERLESS_REGION = "us-east-1"
DEFAULT_NAMESPACES = ("", "__default__")
"""How the default namespace is named by engines and metrics labels."""


class SlabUnavailableError(Exception):
    """SlabDB could not answer (down, unreachable, index missing, or it refused)."""


@dataclass(frozen=True)
class Match:
    id: str
    score: float
    metadata: dict[str, Any]


@dataclass
class EngineFigures:
    """What the live panel shows about the index's LSM tree (None: not known)."""

    record_count: int
    slabs_per_level: dict[int, int] = field(default_factory=dict)
    memtable_records: int | None = None
    compaction_backlog: int | None = None
    last_compaction_at: float | None = None
    """Unix time of the namespace's last compaction (None: none yet, or not known)."""

    def last_compaction_ago(self, now: float | None = None) -> str | None:
        """How long ago the last compaction ran, e.g. ``"42 s ago"`` (None: none yet)."""
        if self.last_compaction_at is None:
            return None
        seconds = max(0.0, (time.time() if now is None else now) - self.last_compaction_at)
        if seconds < 120:
            return f"{seconds:.0f} s ago"
        if seconds < 7200:
            return f"{seconds / 60:.0f} min ago"
        return f"{seconds / 3600:.1f} h ago"


class SearchIndex:
    """Queries, fetches and writes on one index; thread-safe once opened."""

    def __init__(
        self,
        name: str,
        open_handles: Callable[[], tuple[Any, Any]],
        engine_figures: Callable[[Any, str], dict[str, Any]],
        where: str,
    ) -> None:
        self.name = name
        self.where = where
        self._open_handles = open_handles
        self._engine_figures = engine_figures
        self._client: Any = None
        self._index: Any = None
        self._lock = threading.Lock()

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def embedded(cls, data: str, name: str, client: Any = None) -> SearchIndex:
        """An index of the embedded engine at ``data`` (or of an open ``client``)."""

        def open_handles() -> tuple[Any, Any]:
            import slabdb

            c = client if client is not None else slabdb.connect(data)
            return c, None

        return cls(name, open_handles, _embedded_figures, data)

    @classmethod
    def remote(cls, url: str, api_key: str, name: str, metrics_url: str = "") -> SearchIndex:
        """An index behind a Pinecone-API server (``slabdb serve``), through the SDK;
        ``metrics_url`` is the server's Prometheus listener (``http://host:port``)."""

        def open_handles() -> tuple[Any, Any]:
            from pinecone import Pinecone, RetryConfig

            pc = Pinecone(
                api_key=api_key,
                host=url,
                timeout=REMOTE_TIMEOUT_SECONDS,
                retry_config=RetryConfig(max_retries=1),
            )
            return pc, None

        return cls(name, open_handles, _remote_figures(metrics_url), url)

    # -- plumbing ---------------------------------------------------------------------------

    def _handles(self) -> tuple[Any, Any]:
        with self._lock:
            if self._client is None:
                self._client, _ = self._open_handles()
            if self._index is None:
                if not self._client.has_index(self.name):
                    raise SlabUnavailableError(f"index {self.name!r} does not exist yet")
                self._index = _data_plane(self._client, self.name)
            return self._client, self._index

    def _call(self, fn: Callable[[Any], T]) -> T:
        try:
            _, index = self._handles()
            return fn(index)
        except SlabUnavailableError:
            raise
        except Exception as exc:
            with self._lock:
                self._index = None  # reopen next time (the server may have restarted)
            raise SlabUnavailableError(_describe(exc)) from exc

    def ensure(self, dimension: int, metric: str = "dotproduct") -> None:
        """Create the index if it is missing (hybrid search needs ``dotproduct``)."""
        from pinecone import ServerlessSpec

        try:
            with self._lock:
                if self._client is None:
                    self._client, _ = self._open_handles()
                client = self._client
            if not client.has_index(self.name):
                client.create_index(
                    name=self.name,
                    dimension=dimension,
                    metric=metric,
                    spec=ServerlessSpec(cloud=SERVERLESS_CLOUD, region=SERVERLESS_REGION),
                )
        except Exception as exc:
            raise SlabUnavailableError(_describe(exc)) from exc

    @property
    def dimension(self) -> int:
        def describe(_: Any) -> int:
            return int(self._client.describe_index(self.name).dimension or 0)

        return self._call(describe)

    def close(self) -> None:
        with self._lock:
            for handle in (self._index, self._client):
                close = getattr(handle, "close", None)
                if close is not None:
                    with contextlib.suppress(Exception):  # a dead connection: nothing to do
                        close()
            self._client = self._index = None

    # -- data plane ---------------------------------------------------------------------------

    def query(
        self,
        *,
        vector: Sequence[float],
        sparse: SparseValues | None,
        filter: dict[str, Any] | None,
        top_k: int,
    ) -> list[Match]:
        def run(index: Any) -> list[Match]:
            res = index.query(
                vector=list(vector),
                sparse_vector=sparse if sparse and sparse["indices"] else None,
                filter=filter or None,
                top_k=top_k,
                include_metadata=True,
            )
            return [Match(m.id, float(m.score), dict(m.metadata or {})) for m in res.matches]

        return self._call(run)

    def fetch_metadata(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        def run(index: Any) -> dict[str, dict[str, Any]]:
            res = index.fetch(ids=list(ids))
            return {vid: dict(v.metadata or {}) for vid, v in res.vectors.items()}

        return self._call(run)

    def fetch_values(self, ids: Sequence[str]) -> dict[str, tuple[list[float], dict[str, Any]]]:
        def run(index: Any) -> dict[str, tuple[list[float], dict[str, Any]]]:
            res = index.fetch(ids=list(ids))
            return {
                vid: ([float(x) for x in v.values], dict(v.metadata or {}))
                for vid, v in res.vectors.items()
            }

        return self._call(run)

    def upsert(self, records: list[dict[str, Any]]) -> None:
        self._call(lambda index: index.upsert(vectors=records, show_progress=False))

    def delete(self, ids: Sequence[str]) -> None:
        self._call(lambda index: index.delete(ids=list(ids)))

    def list_ids(self, prefix: str) -> list[str]:
        def run(index: Any) -> list[str]:
            out: list[str] = []
            for page in index.list(prefix=prefix or None):
                out += [item if isinstance(item, str) else item.id for item in _items(page)]
            return out

        return self._call(run)

    def figures(self) -> EngineFigures:
        """Record count and, where known, the LSM shape of the default namespace."""

        def run(index: Any) -> EngineFigures:
            count = int(index.describe_index_stats().total_vector_count)
            extra = self._engine_figures(self._client, self.name)
            return EngineFigures(count, **extra)

        return self._call(run)


def _data_plane(client: Any, name: str) -> Any:
    if not hasattr(client, "index"):
        return client.Index(name)  # the embedded client
    host = client.describe_index(name).host
    return client.index(host=host)


def _items(page: Any) -> list[Any]:
    """A ``list()`` page: a list of ids (embedded) or a response with ``vectors``."""
    return list(page) if isinstance(page, list) else list(getattr(page, "vectors", []))


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


def _embedded_figures(client: Any, name: str) -> dict[str, Any]:
    for index, namespace, engine in client.open_namespace_entries():
        if index == name and namespace in DEFAULT_NAMESPACES:
            st = engine.stats()
            levels = {int(k): int(v) for k, v in st["slabs_per_level"].items()}
            fanout, top = client.config.level_fanout, client.config.max_level
            backlog = sum(c for lvl, c in levels.items() if lvl < top and c >= fanout)
            return {
                "slabs_per_level": levels,
                "memtable_records": int(st["memtable_records"]),
                "compaction_backlog": backlog,
                "last_compaction_at": engine.manifest.last_compaction_at,
            }
    return {}


def _remote_figures(metrics_url: str) -> Callable[[Any, str], dict[str, Any]]:
    def read(_client: Any, name: str) -> dict[str, Any]:
        import httpx

        if not metrics_url:
            return {}
        try:
            res = httpx.get(metrics_url.rstrip("/") + "/metrics", timeout=REMOTE_TIMEOUT_SECONDS)
            res.raise_for_status()
            return _parse_figures(res.text, name)
        except (httpx.HTTPError, ValueError):
            return {}

    return read


def _parse_figures(text: str, name: str) -> dict[str, Any]:
    """The index's default-namespace gauges from a Prometheus text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    levels: dict[int, int] = {}
    out: dict[str, Any] = {"slabs_per_level": levels}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if labels.get("index") != name or labels.get("namespace") not in DEFAULT_NAMESPACES:
                continue
            if sample.name == "slabdb_slabs":
                levels[int(labels["level"])] = int(sample.value)
            elif sample.name == "slabdb_memtable_records":
                out["memtable_records"] = int(sample.value)
            elif sample.name == "slabdb_compaction_backlog_slabs":
                out["compaction_backlog"] = int(sample.value)
            elif sample.name == "slabdb_last_compaction_timestamp_seconds":
                out["last_compaction_at"] = float(sample.value)
    return out
