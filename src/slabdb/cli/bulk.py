"""``slabdb import``: load Parquet files into an index (Pinecone's import layout), with a
progress bar; ``--resume ID`` carries on an import whose process died."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from slabdb.cli.data import DATA_HELP, DEFAULT_DATA
from slabdb.cli.errors import CommandError

if TYPE_CHECKING:
    from slabdb.bulk.progress import ImportProgress

console = Console()


def import_command(
    uri: str = typer.Argument(
        "",
        help="Import directory: s3://bucket/dir or a local path (one sub-directory per namespace).",
    ),
    index: str = typer.Option(..., "--index", "-i", help="Index to import into."),
    data: str = typer.Option(DEFAULT_DATA, help=DATA_HELP),
    error_mode: str = typer.Option(
        "abort", help="'abort' at the first invalid record, or 'continue' past invalid ones."
    ),
    resume: str = typer.Option("", help="Resume the import with this id instead of starting one."),
    rows_per_slab: int = typer.Option(
        0, help="Rows per slab (0: 256 MB of vectors or the IVF threshold)."
    ),
    quiet: bool = typer.Option(False, help="No progress bar."),
    lease_seconds: float = typer.Option(
        15.0, help="How long a crashed run's lease blocks --resume (seconds)."
    ),
) -> None:
    """Import Parquet files (id, values, sparse_values, metadata) into an index."""
    from slabdb.cli.indexes import open_client

    if not uri and not resume:
        raise CommandError("give the import directory, or --resume <id>")
    with open_client(data) as db:
        imports = db.Index(index).bulk_imports()
        imports.lease_seconds = lease_seconds
        if rows_per_slab:
            imports.target.rows_per_slab = rows_per_slab
        with _bar(quiet) as bar:
            task = bar.add_task("import", total=100.0)

            def show(p: ImportProgress) -> None:
                done = f"{p.records_imported:,} records"
                bar.update(task, completed=p.percent_complete, description=f"import {p.id}: {done}")

            if resume:
                imports.resume(resume, background=False, on_progress=show)
                import_id = resume
            else:
                import_id = imports.start(uri, error_mode, background=False, on_progress=show).id
        model = imports.describe(import_id)
    failed = f", {model.records_failed:,} invalid skipped" if model.records_failed else ""
    console.print(f"import {model.id}: {model.status}, {model.records_imported:,} records{failed}")
    if model.status != "Completed":
        raise CommandError(model.error or f"import {model.id} ended {model.status}")


def _bar(quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
        transient=False,
    )
