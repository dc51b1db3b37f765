"""The app's routes through FastAPI's TestClient, over fakes: the product table in memory,
an in-memory SlabDB index written as the sync would write it, hash embeddings."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from slabdb.app import AppSettings, Services, create_app
from slabdb.app.freshness import FreshnessTracker
from slabdb.app.pipeline import ProductShape
from slabdb.app.search import Mode, Searcher
from slabdb.app.sparse import BM25Encoder
from slabdb.app.status import PanelData, read_panel
from slabdb.testing.app import (
    MemoryProductStore,
    SwitchableIndex,
    demo_sample,
    fit_products,
    index_products,
    products_from,
)
from slabdb.testing.embedders import FakeEmbedder

HTMX = {"HX-Request": "true", "HX-Target": "results"}
DEAD_DSN = "host=127.0.0.1 port=1 dbname=none user=none connect_timeout=1"
PAGE_SIZE = 10


@dataclass
class Env:
    client: TestClient
    store: MemoryProductStore
    index: SwitchableIndex
    encoder: BM25Encoder
    embedder: FakeEmbedder
    services: Services

    def product_id(self, name: str) -> int:
        return next(p.id for p in self.store.products.values() if p.name == name)


@pytest.fixture
def env() -> Iterator[Env]:
    products = products_from(demo_sample(every=400))
    store = MemoryProductStore(products)
    embedder = FakeEmbedder(dimension=16)
    index = SwitchableIndex()
    index.ensure(embedder.dimension)
    encoder = fit_products(products)
    index_products(index, encoder, embedder, products)
    services = Services(
        store=store,  # type: ignore[arg-type]
        index=index,
        searcher=Searcher(index, lambda: embedder, lambda: encoder),
        tracker=FreshnessTracker(index, poll_seconds=0.01),
        shape=ProductShape(),
        panel=lambda: read_panel(DEAD_DSN, "products", index),
    )
    settings = AppSettings(dsn=DEAD_DSN, slabdb_data="memory://", page_size=PAGE_SIZE)
    with TestClient(create_app(settings, services), raise_server_exceptions=False) as client:
        yield Env(client, store, index, encoder, embedder, services)


def row_names(html: str) -> list[str]:
    return re.findall(r'<th scope="row" id="name-\d+" class="name">([^<]+)</th>', html)


def sections(html: str) -> list[str]:
    return re.findall(r'<span class="tag">([^<]+)</span>', html)


def test_home_page_is_a_table_of_products_with_labelled_controls(env: Env) -> None:
    html = env.client.get("/").text
    assert len(row_names(html)) == PAGE_SIZE
    assert row_names(html) == sorted(row_names(html))
    assert f"{len(env.store.products)} products · page 1 of" in html
    for control, label in (("q", "Search"), ("category", "Category"), ("mode", "Mode")):
        assert f'<label for="{control}">{label}</label>' in html
    assert [m.label for m in Mode] == ["Semantic", "Keyword", "Hybrid"]
    for label in ("Semantic", "Keyword", "Hybrid"):
        assert f">{label}</option>" in html
    assert html.count(">Edit</button>") == PAGE_SIZE


def test_pages_follow_each_other(env: Env) -> None:
    first = row_names(env.client.get("/?page=1").text)
    second = row_names(env.client.get("/?page=2").text)
    assert second and not set(first) & set(second)
    assert max(first) < min(second)


def test_an_htmx_request_gets_only_the_results_fragment(env: Env) -> None:
    html = env.client.get("/?q=libpq5&mode=keyword", headers=HTMX).text
    assert "<html" not in html and "<form" not in html
    assert row_names(html)[0] == "libpq5"


def test_keyword_search_finds_the_exact_name_first_with_its_score(env: Env) -> None:
    html = env.client.get("/?q=libpq5&mode=keyword").text
    assert row_names(html)[0] == "libpq5"
    scores = [float(s) for s in re.findall(r'<td class="num score">([\d.]+)</td>', html)]
    assert scores == sorted(scores, reverse=True) and 0 < scores[0] < 1


def test_results_keep_slabdbs_ranking(env: Env) -> None:
    for mode in Mode:
        hits = env.services.searcher.search("postgresql client library", mode)
        html = env.client.get(f"/?q=postgresql+client+library&mode={mode.value}").text
        assert row_names(html) == [h.name for h in hits]


def test_a_category_becomes_a_metadata_filter(env: Env) -> None:
    unfiltered = sections(env.client.get("/?q=library&mode=hybrid").text)
    filtered = sections(env.client.get("/?q=library&mode=hybrid&category=libs").text)
    assert len(set(unfiltered)) > 1
    assert filtered and set(filtered) == {"libs"}


def test_no_match_says_so(env: Env) -> None:
    html = env.client.get("/?q=zzqqxxvv&mode=keyword").text
    assert "No products match “zzqqxxvv”" in html
    assert not row_names(html)


def test_unreachable_slabdb_is_a_message_and_the_app_recovers(env: Env) -> None:
    env.index.down = True
    html = env.client.get("/?q=libpq5&mode=keyword").text
    assert "SlabDB is unreachable" in html and 'role="alert"' in html
    assert "Traceback" not in html
    assert row_names(env.client.get("/").text), "browsing works without SlabDB"
    env.index.down = False
    assert row_names(env.client.get("/?q=libpq5&mode=keyword").text)[0] == "libpq5"


def test_unreachable_postgres_is_a_message_and_search_still_works(env: Env) -> None:
    env.client.get("/")  # remembers the categories
    env.store.down = True
    html = env.client.get("/").text
    assert "Postgres is unreachable" in html and "Traceback" not in html
    assert '<option value="libs"' in html, "the category list survives"
    assert row_names(env.client.get("/?q=libpq5&mode=keyword").text)[0] == "libpq5"
    env.store.down = False
    assert len(row_names(env.client.get("/").text)) == PAGE_SIZE


def test_the_editor_has_a_description_field_and_a_save_button(env: Env) -> None:
    pid = env.product_id("libpq5")
    html = env.client.get(f"/products/{pid}/edit").text
    assert f'<label for="description-{pid}">Description</label>' in html
    assert "PostgreSQL" in html  # the current description, from the store
    assert '<button type="submit" class="primary">Save</button>' in html


def freshness_until_final(env: Env, pid: int, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        res = env.client.get(f"/products/{pid}/freshness")
        if res.status_code == 286:
            return res.text
        assert res.status_code == 200 and "pending" in res.text
        assert time.monotonic() < deadline, "never became searchable"
        time.sleep(0.02)


def test_save_writes_postgres_only_and_the_status_follows_the_sync(env: Env) -> None:
    pid = env.product_id("libpq5")
    key = f"{pid}#0"
    before = env.index.fetch_metadata([key])[key]["text"]
    res = env.client.post(
        f"/products/{pid}",
        data={"description": "a quokka library", "section": "libs"},
        headers={"HX-Request": "true"},
    )
    assert env.store.updates == [(pid, "a quokka library", "libs")]
    assert 'role="status"' in res.text and "pending" in res.text
    assert env.index.fetch_metadata([key])[key]["text"] == before, "the app wrote the index"
    assert "pending" in env.client.get(f"/products/{pid}/freshness").text
    index_products(env.index, env.encoder, env.embedder, [env.store.products[pid]])  # the sync
    final = freshness_until_final(env, pid)
    assert re.search(r"searchable</span> after \d+\.\d\d s", final), final
    html = env.client.get("/?q=quokka&mode=keyword").text
    assert row_names(html)[0] == "libpq5"
    assert "searchable</span> after" in html, "the result row keeps its status"


def test_a_metadata_only_edit_is_followed_too(env: Env) -> None:
    pid = env.product_id("libpq5")
    product = env.store.products[pid]
    env.client.post(
        f"/products/{pid}", data={"description": product.description, "section": "database"}
    )
    index_products(env.index, env.encoder, env.embedder, [env.store.products[pid]])
    assert "searchable" in freshness_until_final(env, pid)


def test_without_an_edit_the_status_stops_polling(env: Env) -> None:
    res = env.client.get("/products/1/freshness")
    assert res.status_code == 286 and "no edit" in res.text


def test_saving_while_postgres_is_down_says_not_saved(env: Env) -> None:
    env.store.down = True
    res = env.client.post("/products/1", data={"description": "x", "section": "libs"})
    assert res.status_code == 503 and "Not saved: Postgres is unreachable" in res.text
    assert env.services.tracker.get(1) is None


def test_unknown_product_is_a_message(env: Env) -> None:
    assert "no longer exists" in env.client.get("/products/999999/edit").text


def test_the_panel_reads_slabdb_and_says_when_postgres_is_away(env: Env) -> None:
    html = env.client.get("/panel").text
    assert "Postgres is unreachable" in html
    records = re.search(r"<dt>Records in SlabDB</dt><dd>([\d,]+)</dd>", html)
    assert records and int(records.group(1).replace(",", "")) == len(env.index.list_ids(""))
    env.index.down = True
    assert "SlabDB is unreachable" in env.client.get("/panel").text


def test_a_stopped_sync_worker_is_reported() -> None:
    from slabdb.sync import SyncStatus

    status = SyncStatus("products", 5, 0, 60.0, 0, 0.0, 0, 0, True)
    assert PanelData(sync=status, workers=0).sync_stalled
    assert not PanelData(sync=status, workers=1).sync_stalled


def test_an_unexpected_error_is_a_message_not_a_traceback(env: Env) -> None:
    def broken(*_: object) -> list[object]:
        raise RuntimeError("boom")

    env.services.searcher.search = broken  # type: ignore[method-assign]
    res = env.client.get("/?q=anything")
    assert res.status_code == 500
    assert "Something went wrong" in res.text and "Traceback" not in res.text
    assert env.client.get("/healthz").json() == {"status": "ok"}


def test_every_asset_is_served_by_the_app(env: Env) -> None:
    html = env.client.get("/").text
    assets = re.findall(r'(?:src|href)="([^"#]+)"', html)
    assert assets and all(a.startswith("/") for a in assets), assets
    for path in ("/static/htmx.min.js", "/static/app.css"):
        assert env.client.get(path).status_code == 200
