"""What the app is pointed at, and the services built from it.

``slabdb_url`` (a running ``slabdb serve``, through the official ``pinecone`` SDK) or
``slabdb_data`` (the embedded engine in this process) selects the SlabDB side; the API
key of the served one comes from ``api_key`` or ``$SLABDB_API_KEY``.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from slabdb.app.catalog import ProductStore
from slabdb.app.freshness import FreshnessTracker
from slabdb.app.index import SearchIndex
from slabdb.app.pipeline import EMBEDDER, INDEX_NAME, SYNC_NAME, ProductShape
from slabdb.app.search import DEFAULT_ALPHA, DEFAULT_TOP_K, Searcher
from slabdb.app.sparse import BM25Encoder
from slabdb.app.status import PanelData, read_panel
from slabdb.embed.base import Embedder

API_KEY_ENV = "SLABDB_API_KEY"
DEFAULT_PAGE_SIZE = 25


@dataclass(frozen=True)
class AppSettings:
    dsn: str
    slabdb_url: str = ""
    slabdb_data: str = ""
    slabdb_metrics_url: str = ""
    """The served SlabDB's Prometheus listener (``slabdb serve --metrics-port``): the
    live panel's slabs per level come from there."""
    api_key: str = ""
    index_name: str = INDEX_NAME
    sync_name: str = SYNC_NAME
    bm25_path: Path | None = None
    """The BM25 statistics written by setup (keyword and hybrid modes need them)."""
    embedder: str = EMBEDDER
    alpha: float = DEFAULT_ALPHA
    top_k: int = DEFAULT_TOP_K
    page_size: int = DEFAULT_PAGE_SIZE

    def open_index(self) -> SearchIndex:
        if self.slabdb_url:
            key = self.api_key or os.environ.get(API_KEY_ENV, "")
            if not key:
                raise ValueError(f"set ${API_KEY_ENV} (or api_key) to reach {self.slabdb_url}")
            return SearchIndex.remote(
                self.slabdb_url, key, self.index_name, self.slabdb_metrics_url
            )
        if self.slabdb_data:
            return SearchIndex.embedded(self.slabdb_data, self.index_name)
        raise ValueError("set slabdb_url (slabdb serve) or slabdb_data (embedded)")


@dataclass
class Services:
    """Everything a request handler uses; tests build it from fakes."""

    store: ProductStore
    index: SearchIndex
    searcher: Searcher
    tracker: FreshnessTracker
    shape: ProductShape
    panel: Callable[[], PanelData]

    def close(self) -> None:
        self.tracker.close()
        self.index.close()


class _Lazy:
    """The BM25 statistics, loaded when the file appears (setup may still be running)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._value: BM25Encoder | None = None
        self._lock = threading.Lock()

    def __call__(self) -> BM25Encoder | None:
        with self._lock:
            if self._value is None and self.path is not None and self.path.exists():
                self._value = BM25Encoder.load(self.path)
            return self._value


def build_services(settings: AppSettings, embedder: Embedder | None = None) -> Services:
    from slabdb.embed import registry

    index = settings.open_index()

    @functools.cache
    def load_embedder() -> Embedder:
        return embedder or registry.get_embedder(settings.embedder)

    searcher = Searcher(
        index, load_embedder, _Lazy(settings.bm25_path), alpha=settings.alpha, top_k=settings.top_k
    )
    return Services(
        store=ProductStore(settings.dsn),
        index=index,
        searcher=searcher,
        tracker=FreshnessTracker(index),
        shape=ProductShape(),
        panel=lambda: read_panel(settings.dsn, settings.sync_name, index),
    )
