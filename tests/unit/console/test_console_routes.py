"""The console's routes in process (no browser): open page and assets, key-gated data
fragments that show the key's own project, the LSM figures of a flushed namespace."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from slabdb.api.serve_options import ServeOptions
from slabdb.api.server import SlabServer


@dataclass
class Console:
    http: TestClient
    key: str
    other_key: str


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    server = SlabServer(ServeOptions(data=str(tmp_path), allow_test_embedders=True))
    key = server.first_run()
    assert key is not None
    server.projects.create_project("other")
    other = server.projects.create_key("other")
    db = server.projects.client("default")
    db.create_index(name="items", dimension=4, metric="cosine")
    index = db.Index("items")
    index.upsert(
        [
            (f"a{i}", [1.0, float(i), 0.0, 0.5], {"kind": "odd" if i % 2 else "even"})
            for i in range(8)
        ],
        namespace="ns",
    )
    index.flush(namespace="ns")
    index.upsert([("b1", [0.0, 1.0, 1.0, 0.0], {"kind": "late"})], namespace="ns")
    try:
        yield Console(TestClient(server.app), key.plaintext, other.plaintext)
    finally:
        server.projects.close()


def get(c: Console, path: str, key: str | None = None, **params: str) -> tuple[int, str]:
    headers = {"Api-Key": key} if key else {}
    response = c.http.get(path, params=params, headers=headers)
    return response.status_code, response.text


def test_page_and_assets_need_no_key(console: Console) -> None:
    status, page = get(console, "/console")
    assert status == 200 and 'id="key-form"' in page
    for asset in ("htmx.min.js", "console.js", "console.css"):
        assert get(console, f"/console/static/{asset}")[0] == 200


def test_data_fragments_refuse_a_missing_or_wrong_key(console: Console) -> None:
    assert get(console, "/console/api/overview")[0] == 401
    assert get(console, "/console/api/overview", "sdb-wrong")[0] == 401


def test_overview_shows_only_the_keys_project(console: Console) -> None:
    status, html = get(console, "/console/api/overview", console.key)
    assert status == 200 and "of project default" in html and ">items<" in html
    assert 'ns <span class="count">9</span>' in html
    status, other = get(console, "/console/api/overview", console.other_key)
    assert status == 200 and "of project other" in other and "items" not in other


def test_shape_shows_slabs_per_level_memtable_and_wal(console: Console) -> None:
    status, html = get(console, "/console/api/shape", console.key, index="items", namespace="ns")
    assert status == 200 and "<caption>Slabs per level</caption>" in html
    assert '<th scope="row">L0' in html
    assert "<dd>9</dd>" in html  # records
    assert "1 records" in html  # b1 waits in the memtable
    assert "(1 not in slabs)" in html  # its WAL entry is past the checkpoint


def test_query_by_id_with_a_filter_and_browse(console: Console) -> None:
    status, html = get(
        console, "/console/api/query", console.key,
        index="items", namespace="ns", kind="id", q="a3", filter='{"kind": "odd"}', top_k="3",
    )  # fmt: skip
    assert status == 200 and "Query results (3)" in html
    assert html.index(">a3<") < html.index(">a5<")  # nearest to itself first
    assert ">even<" not in html
    _, bad = get(
        console, "/console/api/query", console.key, index="items", namespace="ns", q="x", filter="{"
    )
    assert 'role="alert"' in bad and "not JSON" in bad
    _, page = get(
        console, "/console/api/records", console.key, index="items", namespace="ns", prefix="a"
    )
    assert "Records (8)" in page and ">b1<" not in page


def test_text_query_needs_a_model_of_the_index_dimension(console: Console) -> None:
    _, html = get(
        console,
        "/console/api/query",
        console.key,
        index="items",
        namespace="ns",
        kind="text",
        q="hi",
    )
    assert 'role="alert"' in html and "no local embedding model makes 4-d vectors" in html
