"""The database console (``/console`` on ``slabdb serve``) in Debian's Chromium, against a
running ``slabdb demo`` (a few hundred products; stopped once so its memtable is flushed
into a slab, then started again).

Screenshots go to ``$SLABDB_TEST_ARTIFACTS/console/`` (or ``<pytest tmp>/artifacts``).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from demo_runner import DemoRun, demo_parent

from slabdb.cli.local_postgres import find_pg_bin
from slabdb.testing.app import free_port
from slabdb.testing.browser import CHROMIUM, artifacts_dir, chromium_available, chromium_page

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

if not chromium_available() or find_pg_bin() is None:
    pytest.skip(
        f"playwright, {CHROMIUM} or PostgreSQL missing (bash scripts/system-deps.sh)",
        allow_module_level=True,
    )

from playwright.sync_api import Page, expect  # noqa: E402

ROWS = 120
TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoRun]:
    parent = demo_parent()
    run = DemoRun(parent / "demo", free_port(), rows=ROWS)
    try:
        run.start()
        assert run.stop() == 0, run.output  # the server flushes its memtable into a slab
        run.start()
        yield run
        run.stop()
    finally:
        run.kill_leftovers()
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return artifacts_dir("console", lambda: tmp_path_factory.mktemp("artifacts"))


@pytest.fixture
def page(demo: DemoRun, tmp_path: Path) -> Iterator[Page]:
    with chromium_page(tmp_path / "chromium-profile", timeout_ms=TIMEOUT_MS) as page:
        page.goto(demo.slabdb_url + "/console")
        yield page


def enter_key(page: Page, key: str) -> None:
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Use key").click()


def test_console_shows_the_slabs_per_level_of_the_demo_namespace(
    page: Page, demo: DemoRun, artifacts: Path
) -> None:
    expect(page.get_by_label("API key")).to_be_visible()
    enter_key(page, demo.api_key)
    expect(page.get_by_role("heading", name=re.compile("Namespace __default__"))).to_contain_text(
        "products"
    )
    levels = page.get_by_role("table", name="Slabs per level")
    expect(levels).to_be_visible()
    first = levels.locator("tbody tr").first
    expect(first.locator("th")).to_have_text(re.compile(r"^L\d"))
    cells = first.locator("td")
    assert int(cells.nth(0).inner_text()) >= 1  # slabs
    assert int(cells.nth(1).inner_text().replace(",", "")) >= ROWS  # records (chunks)
    expect(page.locator("#shape")).to_contain_text("WAL LSN / checkpoint")
    page.screenshot(path=str(artifacts / "console-lsm.png"), full_page=True)


def test_query_playground_returns_scored_results_with_metadata(
    page: Page, demo: DemoRun, artifacts: Path
) -> None:
    enter_key(page, demo.api_key)
    page.get_by_label("Query", exact=True).fill("tool to edit photos")
    page.get_by_label("top_k").fill("5")
    page.get_by_role("button", name="Run query").click()
    results = page.get_by_role("table", name="Query results (5)")
    expect(results).to_be_visible()
    scores = [float(s) for s in results.locator("td.score").all_inner_texts()]
    assert len(scores) == 5 and scores == sorted(scores, reverse=True), scores
    expect(results.locator("tbody tr").first).to_contain_text("section")
    page.screenshot(path=str(artifacts / "console-query.png"), full_page=True)


def test_filter_and_record_id_queries(page: Page, demo: DemoRun) -> None:
    enter_key(page, demo.api_key)
    page.get_by_label("Record id").check()
    page.get_by_label("Query", exact=True).fill("1#0")
    page.get_by_label("Filter (JSON)").fill("{not json")
    page.get_by_role("button", name="Run query").click()
    expect(page.locator("#query-results [role=alert]")).to_contain_text("not JSON")
    page.get_by_label("Filter (JSON)").fill("")
    page.get_by_role("button", name="Run query").click()
    first = page.get_by_role("table", name=re.compile("Query results")).locator("tbody tr").first
    expect(first.locator("th")).to_have_text("1#0")  # a record is nearest to itself


def test_browse_by_id_prefix(page: Page, demo: DemoRun) -> None:
    enter_key(page, demo.api_key)
    page.get_by_label("Id prefix").fill("1")
    page.get_by_role("button", name="Browse").click()
    ids = page.get_by_role("table", name=re.compile("Records")).locator("tbody th")
    expect(ids.first).to_have_text(re.compile(r"^1"))
    assert all(i.startswith("1") for i in ids.all_inner_texts())


def test_key_is_kept_for_the_session_and_a_wrong_one_is_refused(page: Page, demo: DemoRun) -> None:
    enter_key(page, "sdb-not-a-key")
    expect(page.get_by_role("alert")).to_contain_text("refused")
    enter_key(page, demo.api_key)
    expect(page.get_by_role("table", name="Slabs per level")).to_be_visible()
    page.reload()
    expect(page.get_by_label("API key")).to_be_hidden()
    expect(page.get_by_role("table", name="Slabs per level")).to_be_visible()
    page.get_by_role("button", name="Forget API key").click()
    expect(page.get_by_label("API key")).to_be_visible()


def test_console_loads_nothing_from_another_origin(page: Page) -> None:
    refs = page.eval_on_selector_all(
        "[src], [href]", "els => els.map(e => e.getAttribute('src') || e.getAttribute('href'))"
    )
    assert refs and all(r.startswith(("/", "#")) for r in refs), refs
