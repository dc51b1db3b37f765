"""``sync status`` fits 80 columns and still shows every figure."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from slabdb.cli.sync_status import render_status
from slabdb.sync.metrics import SyncStatus

BUSY = SyncStatus(
    sync="products_catalogue_with_a_long_name",
    pending=12_345_678,
    retrying=4_321,
    lag_seconds=98_765.4,
    errors=1_234,
    events_per_second=5_432.1,
    processed_total=987_654_321,
    embedded_total=1_234_567_890,
    bootstrapped=False,
)


def _render(status: SyncStatus, width: int = 80) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width, force_terminal=False, color_system=None).print(
        render_status(status)
    )
    return out.getvalue().splitlines()


def test_status_fits_80_columns() -> None:
    lines = _render(BUSY)
    assert lines and max(len(line) for line in lines) <= 80


@pytest.mark.parametrize(
    "figure",
    [
        "products_catalogue_with_a_long_name",
        "12,345,678 events",
        "4,321 retrying",
        "98,765.4 s",
        "1,234 keys",
        "5,432.1 events/s",
        "987,654,321 keys",
        "1,234,567,890 texts embedded",
        "in progress",
    ],
)
def test_status_shows_every_figure_at_80_columns(figure: str) -> None:
    assert figure in "\n".join(_render(BUSY))


def test_a_bootstrap_never_run_says_how_to_run_it() -> None:
    idle = SyncStatus("items", 0, 0, 0.0, 0, 0.0, 0, 0, None)
    assert "slabdb sync bootstrap" in "\n".join(_render(idle))
