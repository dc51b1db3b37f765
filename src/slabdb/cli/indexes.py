"""``slabdb indexes`` and ``slabdb compact``: look at and maintain an existing database."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from slabdb.cli.data import DATA_HELP, DEFAULT_DATA, require_existing

if TYPE_CHECKING:
    from slabdb.client import Client

console = Console()


def open_client(data: str) -> Client:
    """The embedded client on ``data`` (engine settings from ``SLABDB_*`` variables)."""
    from slabdb.client import connect
    from slabdb.core.config import Settings

    require_existing(data)
    settings = Settings(data=data)
    return connect(settings.data, config=settings.engine_config())


def list_indexes(data: str = typer.Option(DEFAULT_DATA, help=DATA_HELP)) -> None:
    """List the indexes of a database."""
    with open_client(data) as db:
        table = Table("name", "dimension", "metric", "type", "records")
        for model in db.list_indexes():
            stats = db.Index(model.name).describe_index_stats()
            table.add_row(
                model.name,
                str(model.dimension),
                model.metric,
                model.vector_type,
                f"{stats.total_vector_count:,}",
            )
        console.print(table)


def compact(
    index: str = typer.Argument(..., help="Index name."),
    data: str = typer.Option(DEFAULT_DATA, help=DATA_HELP),
    namespace: str = typer.Option("", help="Namespace ('' is the default)."),
) -> None:
    """Flush and compact one namespace now."""
    with open_client(data) as db:
        idx = db.Index(index)
        idx.flush(namespace=namespace)
        console.print(f"{idx.compact(namespace=namespace)} compaction task(s) ran")
