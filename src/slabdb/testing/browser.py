"""Debian's Chromium driven by Playwright for Python, headless, offline.

    with chromium_page(tmp_path / "profile") as page:
        page.goto(url)

Uses ``/usr/bin/chromium`` (``apt-get install chromium``; ``scripts/system-deps.sh``),
never a browser of Playwright's own (``playwright install`` downloads one). Each call
gets a fresh profile directory.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
VIEWPORT = {"width": 1400, "height": 1000}
ARTIFACTS_ENV = "SLABDB_TEST_ARTIFACTS"
"""A directory that outlives pytest's rotating temporary ones (CI uploads, a person looks)."""


def artifacts_dir(name: str, fallback: Callable[[], Path]) -> Path:
    """Where screenshots go: ``$SLABDB_TEST_ARTIFACTS/<name>`` if set, else ``fallback()``."""
    if os.environ.get(ARTIFACTS_ENV):
        path = Path(os.environ[ARTIFACTS_ENV]) / name
        path.mkdir(parents=True, exist_ok=True)
        return path
    return fallback()


def chromium_available() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return Path(CHROMIUM).exists()


@contextmanager
def chromium_page(profile: Path, *, timeout_ms: float = 15_000) -> Iterator[Any]:
    """A page of a headless Chromium with its own fresh ``--user-data-dir``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            user_data_dir=str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=list(CHROMIUM_FLAGS),
            viewport=VIEWPORT,  # type: ignore[arg-type]
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(timeout_ms)
            yield page
        finally:
            context.close()
