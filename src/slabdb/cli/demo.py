"""``slabdb demo``: the whole system on one machine (``--embedded``: the engine alone).

Default: PostgreSQL with the product catalog, ``slabdb serve``, the sync workers and the
search app, run together until Ctrl-C (:mod:`slabdb.cli.demo_stack`). ``--embedded``
keeps the tour of the embedded engine that needs no PostgreSQL
(:mod:`slabdb.cli.demo_embedded`).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import typer

from slabdb.cli.errors import CommandError

DEFAULT_DEMO_DATA = "./demo-data"
DEFAULT_APP_PORT = 8080


def demo(
    data: str = typer.Option(
        DEFAULT_DEMO_DATA,
        help="The demo's state directory (created if missing): PostgreSQL, SlabDB, the app's "
        "state and logs. With --embedded: the database (a directory, memory:// or s3://...).",
    ),
    port: int = typer.Option(
        DEFAULT_APP_PORT, min=1, max=65535, help="The search app's port (on 127.0.0.1)."
    ),
    rows: int | None = typer.Option(
        None, min=1, help="Load only the first N products (first run; default: all 15,000)."
    ),
    workers: int = typer.Option(2, min=1, max=16, help="Sync worker threads."),
    embedded: bool = typer.Option(
        False, "--embedded", help="No PostgreSQL: ingest random vectors into an embedded engine."
    ),
    records: int = typer.Option(50_000, min=1000, help="--embedded: records to ingest."),
    dimension: int = typer.Option(128, min=2, max=4096, help="--embedded: vector dimension."),
) -> None:
    """Run the whole system: PostgreSQL products, SlabDB, the sync and the search app.

    Prints 'SlabDB demo ready: http://127.0.0.1:PORT/' and runs until Ctrl-C or SIGTERM,
    which stop everything it started. A second run reuses the data and is ready in
    seconds. --embedded runs the old tour of the embedded engine instead and exits.
    """
    if embedded:
        from slabdb.cli.demo_embedded import run_embedded_tour

        run_embedded_tour(data, records, dimension)
        return
    _run_stack(Path(data), port, rows, workers)


def _run_stack(data: Path, port: int, rows: int | None, workers: int) -> None:
    from slabdb.cli.demo_processes import ChildFailedError, stop_signals
    from slabdb.cli.demo_stack import DemoOptions, DemoStack

    stack = DemoStack(DemoOptions(data=data, port=port, rows=rows, workers=workers))
    try:
        with stop_signals():
            stack.run()
    except subprocess.CalledProcessError as exc:  # initdb, pg_ctl or psql
        detail = (exc.stderr or exc.stdout or "").strip() if isinstance(exc.stderr, str) else ""
        command = " ".join(str(a) for a in exc.cmd[-2:]) if exc.cmd else "a command"
        raise CommandError(f"PostgreSQL: {command} failed: {detail or exc}") from None
    except (ChildFailedError, TimeoutError, RuntimeError) as exc:
        message = str(exc)
        if "\n" in message:
            stack.console.print(message.split("\n", 1)[1], highlight=False, markup=False)
        raise CommandError(message) from None
