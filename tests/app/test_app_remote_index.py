"""The app's SearchIndex through the official ``pinecone`` SDK against ``slabdb serve``:
hybrid writes and queries, engine figures from ``/metrics``, and a server that goes away
and comes back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from slabdb.app.index import SearchIndex, SlabUnavailableError
from slabdb.app.search import Mode, Searcher
from slabdb.testing.app import demo_sample, fit_products, index_products, products_from
from slabdb.testing.embedders import FakeEmbedder
from slabdb.testing.server import PORT_SPAN, ServerProcess, free_port_range

DOWN_ANSWER_SECONDS = 15.0
"""An unreachable server must become a message well within a page load's patience."""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    base = free_port_range()
    metrics = str(base + PORT_SPAN - 1)  # checked free with the range; index ports start low
    with ServerProcess(tmp_path / "served", base, ("--metrics-port", metrics)) as srv:
        yield srv


def metrics_url(server: ServerProcess) -> str:
    return f"http://127.0.0.1:{server.port + PORT_SPAN - 1}"


def test_hybrid_records_round_trip_through_the_sdk(server: ServerProcess) -> None:
    products = products_from(demo_sample(every=600))
    embedder = FakeEmbedder(dimension=16)
    index = SearchIndex.remote(server.url, server.api_key, "products", metrics_url(server))
    index.ensure(embedder.dimension)
    encoder = fit_products(products)
    index_products(index, encoder, embedder, products)
    searcher = Searcher(index, lambda: embedder, lambda: encoder)
    assert searcher.search("libpq5", Mode.KEYWORD)[0].name == "libpq5"
    libs = searcher.search("library", Mode.HYBRID, section="libs")
    assert libs and {h.section for h in libs} == {"libs"}
    figures = index.figures()
    assert figures.record_count == len(index.list_ids(""))
    assert figures.memtable_records is not None, "figures come from the server's /metrics"
    assert SearchIndex.remote(server.url, server.api_key, "products").figures() == type(figures)(
        figures.record_count
    ), "without a metrics URL: the count only"
    pid = next(p.id for p in products if p.name == "libpq5")
    assert "libpq5" in index.fetch_metadata([f"{pid}#0"])[f"{pid}#0"]["text"]
    index.close()


def test_an_unreachable_server_is_an_error_and_the_index_recovers(server: ServerProcess) -> None:
    index = SearchIndex.remote(server.url, server.api_key, "products")
    index.ensure(16)
    assert index.figures().record_count == 0
    server.stop()
    started = time.monotonic()
    with pytest.raises(SlabUnavailableError):
        index.figures()
    assert time.monotonic() - started < DOWN_ANSWER_SECONDS
    server.start()
    assert index.figures().record_count == 0
    index.close()
