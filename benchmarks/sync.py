"""Sync benchmark: bootstrap throughput and update→searchable lag on a real PostgreSQL 15.

    python benchmarks/sync.py [--rows 50000] [--minilm-rows 10000] [--edit-rate 20]

Writes ``benchmarks/results/sync.json``:

* ``bootstrap``: rows/s to enqueue and index a table of synthetic products, per embedder
  (``minilm``, the default model, and ``wordllama``), single worker process;
* ``lag``: update→searchable latency p50/p99 while an editor changes random rows at a
  steady rate. "Searchable" is when the worker committed the event's claim, which it does
  only after SlabDB acknowledged the write.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

from slabdb.sync import WorkerPool, WorkerSettings, bootstrap, init_sync
from slabdb.sync.setup import open_sync_worker, open_target, resolve_embedder
from slabdb.sync.worker import SyncWorker
from slabdb.testing.postgres import temporary_postgres

WORDS = [
    "light",
    "durable",
    "compact",
    "wireless",
    "steel",
    "cotton",
    "organic",
    "premium",
    "portable",
    "ergonomic",
    "waterproof",
    "vintage",
    "smart",
    "quiet",
    "fast",
    "classic",
    "kitchen",
    "garden",
    "office",
    "travel",
    "outdoor",
    "kids",
    "pet",
    "coffee",
    "camera",
    "shoe",
    "lamp",
    "chair",
    "desk",
    "bag",
    "watch",
    "phone",
    "book",
    "game",
    "tool",
]
RESULTS = Path(__file__).parent / "results" / "sync.json"


def make_table(dsn: str, rows: int) -> None:
    rng = random.Random(1)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS products")
        conn.execute(
            "CREATE TABLE products (id integer PRIMARY KEY, name text, description text,"
            " category text, price numeric(10,2))"
        )
        with conn.cursor().copy(
            "COPY products (id, name, description, category, price) FROM STDIN"
        ) as copy:
            for i in range(1, rows + 1):
                name = " ".join(rng.choices(WORDS, k=3))
                desc = " ".join(rng.choices(WORDS, k=rng.randint(15, 40)))
                copy.write_row((i, name, desc, rng.choice(WORDS[:8]), rng.randint(1, 500)))


def bench_bootstrap(dsn: str, embedder: str, rows: int) -> dict[str, Any]:
    make_table(dsn, rows)
    data = tempfile.mkdtemp(prefix=f"slabdb-bench-{embedder}-")
    cfg = init_sync(
        dsn, table="products", key="id", template="{name}: {description}",
        index=f"products-{embedder}", name=f"bench_{embedder}", metadata=["category", "price"],
        data=data, embedder=embedder,
    )  # fmt: skip
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        bootstrap(conn, cfg)
    enqueued = time.perf_counter() - started
    with open_sync_worker(dsn, cfg.name, settings=WorkerSettings(batch_keys=256)) as worker:
        n = worker.drain()
    total = time.perf_counter() - started
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP TRIGGER IF EXISTS slabdb_sync_{cfg.name}_ins ON products")
        conn.execute(f"DROP TRIGGER IF EXISTS slabdb_sync_{cfg.name}_del ON products")
        conn.execute(f"DROP TRIGGER IF EXISTS slabdb_sync_{cfg.name}_upd ON products")
        conn.execute("DELETE FROM slabdb_sync.config WHERE name = %s", (cfg.name,))
    return {
        "embedder": embedder,
        "rows": rows,
        "processed_keys": n,
        "enqueue_seconds": round(enqueued, 2),
        "total_seconds": round(total, 2),
        "rows_per_second": round(rows / total, 1),
    }


def bench_lag(dsn: str, embedder: str, rows: int, rate: float, seconds: float) -> dict[str, Any]:
    make_table(dsn, rows)
    data = tempfile.mkdtemp(prefix="slabdb-bench-lag-")
    cfg = init_sync(
        dsn, table="products", key="id", template="{name}: {description}", index="lag",
        name="bench_lag", metadata=["category", "price"], data=data, embedder=embedder,
    )  # fmt: skip
    with psycopg.connect(dsn, autocommit=True) as conn:
        bootstrap(conn, cfg)
    model = resolve_embedder(embedder)
    target = open_target(cfg, data)
    settings = WorkerSettings(batch_keys=64, poll_interval_seconds=1.0)
    SyncWorker(dsn, cfg, model, target, settings).drain()
    sent: dict[int, float] = {}
    lags: list[float] = []
    done = threading.Event()

    def watch() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            while not (done.is_set() and not sent):
                if sent:
                    ids = list(sent)
                    alive = {
                        r[0]
                        for r in conn.execute(
                            "SELECT id FROM slabdb_sync.outbox WHERE id = ANY(%s)", (ids,)
                        )
                    }
                    now = time.perf_counter()
                    for i in ids:
                        if i not in alive:
                            lags.append(now - sent.pop(i))
                time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    rng = random.Random(2)
    with WorkerPool(lambda: SyncWorker(dsn, cfg, model, target, settings), threads=1):
        with psycopg.connect(dsn, autocommit=True) as conn:
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                key = rng.randint(1, rows)
                conn.execute(
                    "UPDATE products SET description = %s WHERE id = %s",
                    (" ".join(rng.choices(WORDS, k=25)), key),
                )
                row = conn.execute(
                    "SELECT max(id) FROM slabdb_sync.outbox WHERE sync = 'bench_lag' AND key = %s",
                    (str(key),),
                ).fetchone()
                if row and row[0] is not None:
                    sent[int(row[0])] = time.perf_counter()
                time.sleep(1.0 / rate)
        done.set()
        watcher.join(60)
    target.close()
    lags.sort()

    def pct(p: float) -> float:
        return round(1000 * lags[min(len(lags) - 1, int(p * len(lags)))], 1) if lags else -1.0

    return {
        "embedder": embedder,
        "edit_rate_per_second": rate,
        "seconds": seconds,
        "edits_measured": len(lags),
        "lag_ms_p50": pct(0.5),
        "lag_ms_p99": pct(0.99),
        "worker_threads": 1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=50_000, help="rows for wordllama")
    parser.add_argument("--minilm-rows", type=int, default=10_000, help="rows for minilm")
    parser.add_argument("--edit-rate", type=float, default=20.0)
    parser.add_argument("--lag-seconds", type=float, default=20.0)
    parser.add_argument("--lag-rows", type=int, default=2_000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    results: dict[str, Any] = {"machine_cores": __import__("os").cpu_count()}
    with temporary_postgres() as pg:
        results["bootstrap"] = [
            bench_bootstrap(pg.dsn, "minilm", args.minilm_rows),
            bench_bootstrap(pg.dsn, "wordllama", args.rows),
        ]
        print(json.dumps(results["bootstrap"], indent=2))
        results["lag"] = [
            bench_lag(pg.dsn, "minilm", args.lag_rows, args.edit_rate, args.lag_seconds)
        ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
