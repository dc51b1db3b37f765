"""``slabdb check``: look for damage in a store (fsck) without changing anything."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from slabdb.cli.data import DATA_HELP, DEFAULT_DATA, require_existing

if TYPE_CHECKING:
    from slabdb.check import Report

console = Console()


def check(
    data: str = typer.Option(DEFAULT_DATA, help=DATA_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Check a store for damage (read-only): sealed catalog entries, namespace markers and
    manifests, the slabs they list, and gaps in write-ahead logs. Exit status 1 if any
    error was found; orphaned objects are warnings."""
    from slabdb.check import check_store
    from slabdb.storage import open_store

    require_existing(data)
    store = open_store(data)
    try:
        report = check_store(store)
    finally:
        store.close()
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        _print_report(report, data)
    if not report.ok:
        raise typer.Exit(1)


def _print_report(report: Report, data: str) -> None:
    if report.findings:
        table = Table("severity", "object", "problem")
        table.columns[1].overflow = "fold"  # a key is what the user must see whole
        for finding in [*report.errors, *report.warnings]:
            style = "bold red" if finding.severity == "error" else "yellow"
            table.add_row(f"[{style}]{finding.severity}[/]", finding.key, finding.problem)
        console.print(table)
    checked = ", ".join(f"{n} {kind}" for kind, n in sorted(report.checked.items()))
    errors, warnings = len(report.errors), len(report.warnings)
    verdict = "[bold green]no damage found[/]" if report.ok else f"[bold red]{errors} error(s)[/]"
    console.print(f"{data}: checked {checked or 'nothing'}: {verdict}, {warnings} warning(s)")
