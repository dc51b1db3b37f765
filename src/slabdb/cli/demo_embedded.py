"""``slabdb demo --embedded``: a tour of the embedded engine without PostgreSQL (ingest,
flush, compact, filtered queries), in ``<data>/embedded``."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from slabdb.cli.data import create_directory
from slabdb.cli.indexes import open_client

if TYPE_CHECKING:
    from slabdb.client import Index

console = Console()

DEMO_INDEX = "demo"
DEMO_GENRES = ("drama", "comedy", "documentary", "thriller", "sci-fi")
DEMO_QUERIES: tuple[tuple[str, dict[str, Any] | None], ...] = (
    ("unfiltered", None),
    ("genre = comedy", {"genre": "comedy"}),
    ("year in [1990, 2000)", {"year": {"$gte": 1990, "$lt": 2000}}),
    (
        "sci-fi or drama, after 2010",
        {"$and": [{"genre": {"$in": ["sci-fi", "drama"]}}, {"year": {"$gt": 2010}}]},
    ),
)


def run_embedded_tour(data: str, records: int, dimension: int) -> None:
    """Create index 'demo' (replacing the demo's own, leaving others), ingest clustered
    vectors with metadata, flush, compact and time a few filtered queries."""
    import numpy as np

    if (created := create_directory(data)) is not None:
        console.print(f"created data directory {created}", highlight=False)
    rng = np.random.default_rng(7)
    centers = rng.standard_normal((32, dimension)).astype(np.float32)
    with open_client(data) as db:
        if db.has_index(DEMO_INDEX):
            db.delete_index(DEMO_INDEX)
        db.create_index(name=DEMO_INDEX, dimension=dimension, metric="cosine")
        index = db.Index(DEMO_INDEX)
        console.print(
            f"[bold]SlabDB demo[/] — store {db.store.url}, index '{DEMO_INDEX}' ({dimension}-d, cosine)"
        )
        started = time.perf_counter()
        _ingest(index, rng, centers, records)
        ingest_s = time.perf_counter() - started
        console.print(
            f"ingested {records:,} records in {ingest_s:.1f}s ({records / ingest_s:,.0f}/s)"
        )
        t0 = time.perf_counter()
        index.flush()
        tasks = index.compact()
        console.print(f"flush + {tasks} compaction task(s): {time.perf_counter() - t0:.1f}s")
        probe = centers[3] + 0.1 * rng.standard_normal(dimension).astype(np.float32)
        console.print(_query_table(index, probe.tolist()))
        stats = index.describe_index_stats()
        console.print(
            f"records: {stats.total_vector_count:,}; namespaces: {list(stats.namespaces)}"
        )
        console.print(f"engine: {db.open_namespaces()[0].stats()}")


def _ingest(index: Index, rng: Any, centers: Any, records: int, batch: int = 1000) -> None:
    """Upsert ``records`` vectors around random ``centers``, with genre/year metadata."""
    import numpy as np

    dimension = centers.shape[1]
    columns = (TextColumn("ingest"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("ingest", total=records)
        for start in range(0, records, batch):
            n = min(batch, records - start)
            cluster = rng.integers(0, len(centers), n)
            noise = 0.3 * rng.standard_normal((n, dimension)).astype(np.float32)
            ids = [f"item-{start + i:07d}" for i in range(n)]
            md = [
                {
                    "genre": DEMO_GENRES[int(c) % len(DEMO_GENRES)],
                    "year": int(1950 + (start + i) % 75),
                    "cluster": int(c),
                }
                for i, c in enumerate(cluster)
            ]
            index.upsert_arrays(ids, centers[cluster] + noise, metadata=md)
            bar.advance(task, n)


def _query_table(index: Index, probe: list[float]) -> Table:
    """Time a few filtered queries; show the top three matches' genre and year."""
    table = Table(title="queries (top_k=5)")
    table.add_column("query")
    table.add_column("ms", justify="right")
    table.add_column("top 3: genre/year", no_wrap=True)
    for label, flt in DEMO_QUERIES:
        t = time.perf_counter()
        res = index.query(vector=probe, top_k=5, filter=flt, include_metadata=True)
        ms = (time.perf_counter() - t) * 1000
        top = ", ".join(
            f"{(m.metadata or {}).get('genre')}/{(m.metadata or {}).get('year')}"
            for m in res.matches[:3]
        )
        table.add_row(label, f"{ms:.1f}", top)
    return table
