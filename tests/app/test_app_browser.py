"""The app in Debian's Chromium (Playwright, headless) over the real stack: Postgres, the
sync workers and an embedded SlabDB with a few hundred Debian packages.

Screenshots go to ``<pytest tmp>/artifacts/`` (or ``$SLABDB_TEST_ARTIFACTS/app/``). Never runs ``playwright install``: the
browser is ``/usr/bin/chromium`` from ``scripts/system-deps.sh``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from slabdb.testing.app import IMAGE_EDITORS
from slabdb.testing.browser import CHROMIUM, artifacts_dir, chromium_available, chromium_page

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

if not chromium_available():
    pytest.skip(
        f"playwright or {CHROMIUM} missing (bash scripts/system-deps.sh; pip install -e '.[app]')",
        allow_module_level=True,
    )

from playwright.sync_api import Locator, Page, expect  # noqa: E402

Stack = Any  # tests/app/conftest.py: the running stack (url, dsn, services, sql())

SEARCH_TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: ``$SLABDB_TEST_ARTIFACTS/app`` or ``<pytest tmp>/artifacts``."""
    return artifacts_dir("app", lambda: tmp_path_factory.mktemp("artifacts"))


@pytest.fixture
def page(stack: Stack, tmp_path: Path) -> Iterator[Page]:
    with chromium_page(tmp_path / "chromium-profile", timeout_ms=SEARCH_TIMEOUT_MS) as page:
        page.goto(stack.url + "/")
        yield page


def search(page: Page, text: str, mode: str = "Semantic", category: str = "") -> Locator:
    page.get_by_label("Mode").select_option(label=mode)
    page.get_by_label("Category").select_option(value=category)
    box = page.get_by_label("Search")
    box.fill(text)
    box.press("Enter")
    summary = page.locator("#summary")
    expect(summary).to_contain_text(f"“{text}”")
    expect(summary).to_contain_text(mode)
    return page.locator("#results tbody tr")


def names(rows: Locator) -> list[str]:
    return [n.strip() for n in rows.locator("th[scope=row]").all_inner_texts()]


def test_semantic_search_finds_an_image_editor(page: Page, artifacts: Path) -> None:
    rows = search(page, "tool to edit photos")
    top = names(rows)[:5]
    page.screenshot(path=str(artifacts / "semantic-search.png"), full_page=True)
    assert set(top) & set(IMAGE_EDITORS), top
    expect(rows.first.locator("td.score")).to_have_text(re.compile(r"^\d\.\d{3}$"))


def test_keyword_mode_finds_libpq5_first(page: Page, artifacts: Path) -> None:
    rows = search(page, "libpq5", mode="Keyword")
    page.screenshot(path=str(artifacts / "keyword-search.png"), full_page=True)
    assert names(rows)[0] == "libpq5"


def test_hybrid_mode_finds_libpq5_and_ranks_by_meaning(page: Page) -> None:
    assert names(search(page, "libpq5", mode="Hybrid"))[0] == "libpq5"


def test_category_filter_narrows_the_results(page: Page, artifacts: Path) -> None:
    everything = names(search(page, "tool to edit photos"))
    rows = search(page, "tool to edit photos", category="graphics")
    page.screenshot(path=str(artifacts / "category-filter.png"), full_page=True)
    sections = [s.strip() for s in rows.locator("td .tag").all_inner_texts()]
    assert sections and set(sections) == {"graphics"}
    assert len(sections) < len(everything)


def test_table_pages_through_the_products(page: Page, stack: Stack) -> None:
    expect(page.locator("#summary")).to_contain_text("page 1 of")
    first = names(page.locator("#results tbody tr"))
    page.get_by_role("link", name=re.compile("Next")).click()
    expect(page.locator("#summary")).to_contain_text("page 2 of")
    assert names(page.locator("#results tbody tr")) != first
    assert len(first) == stack.services.store.page(0, 25).limit


def test_edit_becomes_searchable_and_the_status_says_so(
    page: Page, stack: Stack, artifacts: Path
) -> None:
    phrase = f"quokka-striped telescope {int(time.time())}"
    rows = search(page, "libpq5", mode="Keyword")
    row = rows.filter(has=page.locator("th", has_text=re.compile(r"^libpq5$")))
    row.get_by_role("button", name="Edit").click()
    editor = page.locator("tr.editing")
    description = editor.get_by_label("Description")
    expect(description).to_be_focused()
    description.fill(f"PostgreSQL C client library. {phrase}.")
    page.screenshot(path=str(artifacts / "editor.png"), full_page=True)
    editor.get_by_role("button", name="Save").click()
    saved_at = time.monotonic()
    status = page.locator("#results tbody tr").filter(has_text="libpq5").get_by_role("status")
    expect(status).to_contain_text("searchable", timeout=30_000)
    expect(status).to_contain_text(re.compile(r"after \d+\.\d\d s"))
    page.screenshot(path=str(artifacts / "edit-searchable.png"), full_page=True)
    assert time.monotonic() - saved_at < 30
    found = names(search(page, phrase, mode="Keyword"))
    assert found[:1] == ["libpq5"], found
    stored = stack.sql("SELECT description FROM products WHERE name = 'libpq5'")[0][0]
    assert phrase in str(stored)


def test_live_panel_shows_the_index_and_the_sync(page: Page, artifacts: Path) -> None:
    panel = page.locator("#panel-body")
    expect(panel).to_contain_text("Records in SlabDB")
    expect(panel.locator("dt:text-is('Sync workers') + dd")).to_have_text("1")
    expect(panel.locator("dt:text-is('Pending events') + dd")).to_have_text(re.compile(r"^\d+"))
    count = panel.locator("dt:text-is('Records in SlabDB') + dd")
    expect(count).to_have_text(re.compile(r"^[1-9][\d,]*$"))
    page.screenshot(path=str(artifacts / "panel.png"), full_page=True)


def test_search_is_usable_from_the_keyboard(page: Page) -> None:
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")
    expect(page.get_by_label("Search")).to_be_focused()
    page.keyboard.type("image editor")
    page.keyboard.press("Enter")
    expect(page.locator("#summary")).to_contain_text("“image editor”")
    first_edit = page.locator("#results tbody tr").first.get_by_role("button", name="Edit")
    first_edit.focus()
    page.keyboard.press("Enter")
    expect(page.locator("tr.editing").get_by_label("Description")).to_be_focused()


def test_a_stopped_sync_worker_is_shown_and_the_panel_recovers(page: Page, stack: Stack) -> None:
    panel = page.locator("#panel-body")
    expect(panel.locator("dt:text-is('Sync workers') + dd")).to_have_text("1")
    assert stack.pool is not None
    stack.pool.stop()
    try:
        expect(panel).to_contain_text("No sync worker is running")
        expect(panel.locator("dt:text-is('Sync workers') + dd")).to_have_text("0")
    finally:
        stack.start_workers()
    expect(panel).not_to_contain_text("No sync worker is running")
    expect(panel.locator("dt:text-is('Sync workers') + dd")).to_have_text("1")


def test_a_stopped_postgres_is_a_message_and_the_page_recovers(
    page: Page, stack: Stack, artifacts: Path
) -> None:
    stack.pg.stop()
    try:
        page.reload()
        expect(page.locator("#results")).to_contain_text("Postgres is unreachable")
        expect(page.locator("#panel-body")).to_contain_text("Postgres is unreachable")
        page.screenshot(path=str(artifacts / "postgres-down.png"), full_page=True)
        assert "Traceback" not in page.content()
        rows = search(page, "libpq5", mode="Keyword")
        assert names(rows)[0] == "libpq5", "search needs only SlabDB"
    finally:
        stack.pg.start()
    page.goto(stack.url + "/")
    expect(page.locator("#summary")).to_contain_text("page 1 of")
    expect(page.locator("#panel-body")).not_to_contain_text("unreachable")
