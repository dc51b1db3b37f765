"""Fakes and helpers for the demo app's tests (:mod:`slabdb.app`).

* :class:`MemoryProductStore`: the product table in a dict, with a ``down`` switch.
* :class:`SwitchableIndex`: a real :class:`~slabdb.app.index.SearchIndex` (in-memory
  engine) whose ``down`` switch makes every call fail as an unreachable SlabDB would.
* :func:`index_products`: what the sync would write for some products (dense + sparse).
* :func:`demo_sample`: a few hundred rows of the shipped catalog, image editors and the
  ``libpq`` family included.
* :class:`ThreadedServer`: uvicorn serving an ASGI app in a daemon thread.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from slabdb.app.catalog import Page, PostgresUnavailableError, Product, default_snapshot
from slabdb.app.index import SearchIndex, SlabUnavailableError
from slabdb.app.pipeline import HybridSyncTarget, ProductShape
from slabdb.app.sparse import BM25Encoder
from slabdb.embed.base import Embedder
from slabdb.sync import TargetBatch

T = TypeVar("T")

IMAGE_EDITORS = ("gimp", "krita", "pinta", "mypaint", "darktable", "rawtherapee", "shotwell")
EVERY_NTH_ROW = 60


def demo_sample(every: int = EVERY_NTH_ROW) -> list[dict[str, Any]]:
    """Every ``every``-th product of the snapshot plus the image editors and ``libpq*``."""
    with gzip.open(default_snapshot(), "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return [
        r
        for n, r in enumerate(rows)
        if n % every == 0 or r["name"] in IMAGE_EDITORS or str(r["name"]).startswith("libpq")
    ]


def write_snapshot(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    return path


def products_from(rows: Sequence[dict[str, Any]]) -> list[Product]:
    return [
        Product(
            id=n,
            name=str(r["name"]),
            summary=str(r["summary"]),
            description=str(r["description"]),
            section=str(r["section"]),
            installed_size=int(r["installed_size"]),
            version=str(r["version"]),
        )
        for n, r in enumerate(rows, start=1)
    ]


class MemoryProductStore:
    """The :class:`~slabdb.app.catalog.ProductStore` interface over a dict."""

    def __init__(self, products: Sequence[Product]) -> None:
        self.products = {p.id: p for p in products}
        self.down = False
        self.updates: list[tuple[int, str, str]] = []

    def _check(self) -> None:
        if self.down:
            raise PostgresUnavailableError("connection refused (fake)")

    def page(self, offset: int, limit: int, section: str = "") -> Page:
        self._check()
        chosen = sorted(
            (p for p in self.products.values() if not section or p.section == section),
            key=lambda p: p.name,
        )
        return Page(chosen[offset : offset + limit], len(chosen), offset, limit)

    def count(self, section: str = "") -> int:
        return self.page(0, 0, section).total

    def get(self, product_id: int) -> Product | None:
        self._check()
        return self.products.get(product_id)

    def sections(self) -> list[str]:
        self._check()
        return sorted({p.section for p in self.products.values()})

    def all_products(self) -> Iterator[Product]:
        self._check()
        yield from sorted(self.products.values(), key=lambda p: p.id)

    def update(self, product_id: int, description: str, section: str) -> Product | None:
        self._check()
        old = self.products.get(product_id)
        if old is None:
            return None
        self.updates.append((product_id, description, section))
        self.products[product_id] = replace(old, description=description, section=section)
        return self.products[product_id]


class SwitchableIndex(SearchIndex):
    """An in-memory embedded index that fails like an unreachable server while ``down``."""

    def __init__(self, name: str = "products") -> None:
        import slabdb

        self.down = False
        from slabdb.core.config import EngineConfig

        client = slabdb.connect("memory://", config=EngineConfig(query_threads=2))
        base = SearchIndex.embedded("memory://", name, client=client)
        super().__init__(name, base._open_handles, base._engine_figures, "memory://")

    def _call(self, fn: Callable[[Any], T]) -> T:
        if self.down:
            raise SlabUnavailableError("connection refused (fake)")
        return super()._call(fn)


def index_products(
    index: SearchIndex,
    encoder: BM25Encoder,
    embedder: Embedder,
    products: Sequence[Product],
    shape: ProductShape | None = None,
) -> None:
    """Write what the sync would write for ``products`` (chunks, metadata, sparse)."""
    shape = shape or ProductShape()
    batch = TargetBatch()
    for product in products:
        expected = shape.expected(product)
        vectors = embedder.embed_documents([m["text"] for m in expected.values()])
        for vector, (vid, meta) in zip(vectors, expected.items(), strict=True):
            batch.add(vid, np.asarray(vector), meta)
    HybridSyncTarget(index, encoder).write(batch)


def fit_products(products: Sequence[Product], shape: ProductShape | None = None) -> BM25Encoder:
    shape = shape or ProductShape()
    texts, titles = [], []
    for p in products:
        chunks = shape.chunks(p)
        texts += chunks
        titles += [p.name] * len(chunks)
    return BM25Encoder.fit(texts, titles)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThreadedServer:
    """uvicorn serving ``app`` on 127.0.0.1 in a daemon thread (a context manager)."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        import uvicorn

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, name="app-server", daemon=True)

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the app server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
