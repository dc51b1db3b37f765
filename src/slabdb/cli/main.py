"""The ``slabdb`` command line (Typer + Rich)."""

from __future__ import annotations

import time

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

import slabdb
from slabdb.cli.serve import keys_app, serve
from slabdb.cli.sync import sync_app
from slabdb.core.config import Settings
from slabdb.core.errors import SlabDBError

app = typer.Typer(
    help="SlabDB: a vector database with Pinecone's architecture and API.", no_args_is_help=True
)
console = Console()
app.add_typer(sync_app, name="sync")
app.command()(serve)
app.add_typer(keys_app, name="keys")

DEMO_INDEX = "demo"
DEMO_GENRES = ("drama", "comedy", "documentary", "thriller", "sci-fi")


def _client(data: str) -> slabdb.Client:
    settings = Settings(data=data)
    return slabdb.connect(settings.data, config=settings.engine_config())


@app.command()
def demo(
    data: str = typer.Option("./demo-data", help="Directory (or memory:// or s3://bucket/prefix)."),
    records: int = typer.Option(50_000, min=1000, help="How many records to ingest."),
    dimension: int = typer.Option(128, min=2, max=4096),
) -> None:
    """Create an index, ingest clustered vectors with metadata, and run filtered queries."""
    rng = np.random.default_rng(7)
    centers = rng.standard_normal((32, dimension)).astype(np.float32)
    with _client(data) as db:
        if db.has_index(DEMO_INDEX):
            db.delete_index(DEMO_INDEX)
        db.create_index(name=DEMO_INDEX, dimension=dimension, metric="cosine")
        index = db.Index(DEMO_INDEX)
        console.print(
            f"[bold]SlabDB demo[/] — store {db.store.url}, index '{DEMO_INDEX}' ({dimension}-d, cosine)"
        )
        batch = 1000
        started = time.perf_counter()
        with Progress(
            TextColumn("ingest"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("ingest", total=records)
            for start in range(0, records, batch):
                n = min(batch, records - start)
                cluster = rng.integers(0, len(centers), n)
                vecs = centers[cluster] + 0.3 * rng.standard_normal((n, dimension)).astype(
                    np.float32
                )
                ids = [f"item-{start + i:07d}" for i in range(n)]
                md = [
                    {
                        "genre": DEMO_GENRES[int(c) % len(DEMO_GENRES)],
                        "year": int(1950 + (start + i) % 75),
                        "cluster": int(c),
                    }
                    for i, c in enumerate(cluster)
                ]
                index.upsert_arrays(ids, vecs, metadata=md)
                bar.advance(task, n)
        ingest_s = time.perf_counter() - started
        console.print(
            f"ingested {records:,} records in {ingest_s:.1f}s ({records / ingest_s:,.0f}/s)"
        )
        t0 = time.perf_counter()
        index.flush()
        tasks = index.compact()
        console.print(f"flush + {tasks} compaction task(s): {time.perf_counter() - t0:.1f}s")

        probe = centers[3] + 0.1 * rng.standard_normal(dimension).astype(np.float32)
        table = Table(title="queries (top_k=5)")
        table.add_column("query")
        table.add_column("ms", justify="right")
        table.add_column("top 3: genre/year", no_wrap=True)
        for label, flt in (
            ("unfiltered", None),
            ("genre = comedy", {"genre": "comedy"}),
            ("year in [1990, 2000)", {"year": {"$gte": 1990, "$lt": 2000}}),
            (
                "sci-fi or drama, after 2010",
                {"$and": [{"genre": {"$in": ["sci-fi", "drama"]}}, {"year": {"$gt": 2010}}]},
            ),
        ):
            t = time.perf_counter()
            res = index.query(vector=probe.tolist(), top_k=5, filter=flt, include_metadata=True)
            ms = (time.perf_counter() - t) * 1000
            table.add_row(
                label,
                f"{ms:.1f}",
                ", ".join(
                    f"{(m.metadata or {}).get('genre')}/{(m.metadata or {}).get('year')}"
                    for m in res.matches[:3]
                ),
            )
        console.print(table)
        stats = index.describe_index_stats()
        console.print(
            f"records: {stats.total_vector_count:,}; namespaces: {list(stats.namespaces)}"
        )
        console.print(f"engine: {db.open_namespaces()[0].stats()}")


@app.command("indexes")
def list_indexes(data: str = typer.Option("./data", help="Directory or store URL.")) -> None:
    """List the indexes of a database."""
    with _client(data) as db:
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


@app.command()
def compact(
    index: str = typer.Argument(..., help="Index name."),
    data: str = typer.Option("./data", help="Directory or store URL."),
    namespace: str = typer.Option("", help="Namespace ('' is the default)."),
) -> None:
    """Flush and compact one namespace now."""
    with _client(data) as db:
        idx = db.Index(index)
        idx.flush(namespace=namespace)
        console.print(f"{idx.compact(namespace=namespace)} compaction task(s) ran")


def main() -> None:
    try:
        app()
    except SlabDBError as exc:
        console.print(f"[red]error:[/] {exc.message}")
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
