"""API benchmark: the official SDK over REST and gRPC against ``slabdb serve``, and the
embedded API on the same data, in the same run.  Writes ``benchmarks/results/api.json``.

    .venv/bin/python benchmarks/api.py [--records 20000] [--dim 128] [--seconds 3] [--rounds 3]

Upsert rates are records/s, the median of ``--rounds`` rounds taken in turns with the
embedded API (``upsert_rounds`` has every round); ``upsert_vs_embedded_arrays`` divides
each by embedded ``upsert_arrays`` of the same run; ``upsert_cpu_ms_per_1000_records``
is the CPU each phase cost, in the server and in the benchmark's own process.

Queries run from 1, 8 and 32 client threads sharing one SDK client, as an application
would, for ``--rounds`` rounds of ``--seconds`` each, the phases taking turns (each
reports its median-QPS round; ``qps_rounds`` has every round).  ``cpu_ms_per_query`` is
the CPU a query cost in the server and in this process, ``max_ms`` the slowest query.
The SDK's REST connection pool is sized to keep one idle connection per thread
(``SDK_POOL``).  With its default (20 connections, 10 kept idle) 32 threads open a new
connection for nearly every query, and hit a race in httpcore 1.0.9's pool that closes
a connection already handed to a waiting request (encode/httpcore#1110): that request
hangs for the SDK's 30 s timeout before its retry, and the phase measured the stall
(48.5 QPS), not the server.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from pinecone import Pinecone, ServerlessSpec

import slabdb

RESULTS = Path(__file__).resolve().parent / "results" / "api.json"
SPEC = ServerlessSpec(cloud="aws", region="us-east-1")
CONCURRENCY = (1, 8, 32)
SDK_POOL = 2 * max(CONCURRENCY)
"""The SDK keeps half its pool idle (httpx ``max_keepalive_connections``): one per thread."""


def start_server(data: Path, port: int) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "slabdb.cli", "serve", "--init", "--data", str(data),
           "--port", str(port), "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    key = ""
    for line in proc.stdout:
        if m := re.match(r"^\s+(sdb-\S+)$", line):
            key = m.group(1)
        if line.startswith("SlabDB serving"):
            break
    threading.Thread(target=lambda: [None for _ in proc.stdout or []], daemon=True).start()
    httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).raise_for_status()
    return proc, key


def sdk_client(key: str, port: int) -> Pinecone:
    """The SDK client every phase uses (its REST pool sized by :data:`SDK_POOL`)."""
    return Pinecone(
        api_key=key, host=f"http://127.0.0.1:{port}", grpc_scheme="http",
        connection_pool_maxsize=SDK_POOL,
    )  # fmt: skip


def wait_idle(metrics_url: str, timeout_s: float = 90.0) -> None:
    """Wait until the server has no frozen memtables and no compaction backlog."""
    deadline = time.monotonic() + timeout_s
    busy = re.compile(r"^slabdb_(frozen_memtables|compaction_backlog_slabs)\{.*\} ([0-9.]+)$", re.M)
    while time.monotonic() < deadline:
        text = httpx.get(metrics_url).text
        if all(float(v) == 0 for _, v in busy.findall(text)):
            return
        time.sleep(0.5)


def wait_embedded_idle(db: slabdb.Client, timeout_s: float = 90.0) -> None:
    """:func:`wait_idle` for the embedded client (its own background worker)."""
    deadline = time.monotonic() + timeout_s
    fanout, top = db.config.level_fanout, db.config.max_level
    while time.monotonic() < deadline:
        stats = [ns.stats() for _, _, ns in db.open_namespace_entries()]
        if all(
            st["frozen_memtables"] == 0
            and all(c < fanout for lvl, c in st["slabs_per_level"].items() if lvl < top)
            for st in stats
        ):
            return
        time.sleep(0.2)


def upsert_rate(fn: Callable[[int, int], None], n: int, batch: int, clients: int = 1) -> float:
    starts = list(range(0, n, batch))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        while True:
            with lock:
                if not starts or errors:
                    return
                s = starts.pop()
            try:
                fn(s, min(s + batch, n))
            except BaseException as exc:
                errors.append(exc)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return n / (time.perf_counter() - t0)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_quiet(pid: int, window_s: float = 0.3, timeout_s: float = 60.0) -> None:
    """Wait until process ``pid`` uses under 5 % of a core over ``window_s`` (background
    work the metrics do not show, such as removing replaced files, has ended)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        before = process_cpu_seconds(pid)
        time.sleep(window_s)
        if process_cpu_seconds(pid) - before < 0.05 * window_s:
            return


def measure_upserts(
    phases: dict[str, tuple[Callable[[int, int], Any], int, int, int]],
    rounds: int,
    server_pid: int,
    metrics_url: str,
    db: slabdb.Client,
) -> dict[str, Any]:
    """Records/s of each upsert phase: the median of ``rounds`` rounds, the phases taking
    turns round by round (so that every one sees the same machine load, which other
    processes on a shared machine change from second to second). Every phase starts
    with the server and the embedded client idle (no flush or compaction left from the
    phase before it, and the server process quiet).

    Also the CPU time a phase costs per 1000 records (median of the rounds), in the
    server process and in this one (the SDK client, or the embedded engine): unlike
    wall time, it hardly moves when other processes load the machine."""
    runs: dict[str, list[int]] = {name: [] for name in phases}
    cpu: dict[str, list[tuple[float, float]]] = {name: [] for name in phases}
    for _ in range(rounds):
        for name, (fn, n, batch, clients) in phases.items():
            wait_idle(metrics_url)
            wait_embedded_idle(db)
            wait_quiet(server_pid)
            server0, own0 = process_cpu_seconds(server_pid), time.process_time()
            runs[name].append(round(upsert_rate(fn, n, batch, clients)))
            server = process_cpu_seconds(server_pid) - server0
            cpu[name].append((1e6 * server / n, 1e6 * (time.process_time() - own0) / n))
    median = statistics.median
    return {
        "upsert_records_per_s": {name: round(median(r)) for name, r in runs.items()},
        "upsert_rounds": runs,
        "upsert_cpu_ms_per_1000_records": {
            name: {
                "server": round(median(s for s, _ in c), 2),
                "benchmark_process": round(median(o for _, o in c), 2),
            }
            for name, c in cpu.items()
        },
    }


def query_load(
    fn: Callable[[np.ndarray], Any],
    queries: np.ndarray,
    clients: int,
    seconds: float,
    server_pid: int | None = None,
) -> dict[str, Any]:
    """``clients`` threads query for ``seconds``; QPS counts every query that started in
    the window over the time until the last one ended.  A query that fails fails the
    run (a thread that died would silently drop its queries from the count)."""
    lat: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def worker(seed: int) -> None:
        i, mine = seed, []
        try:
            while time.perf_counter() < stop:
                t = time.perf_counter()
                fn(queries[i % len(queries)])
                mine.append(time.perf_counter() - t)
                i += clients
        except BaseException as exc:
            errors.append(exc)
        with lock:
            lat.extend(mine)

    def server_cpu() -> float:
        return process_cpu_seconds(server_pid) if server_pid is not None else 0.0

    server0, own0 = server_cpu(), time.process_time()
    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise errors[0]
    server, own = server_cpu() - server0, time.process_time() - own0
    lat.sort()
    n = len(lat)
    return {
        "qps": round(n / wall, 1),
        "p50_ms": round(1000 * statistics.median(lat), 3),
        "p99_ms": round(1000 * lat[min(n - 1, int(0.99 * n))], 3),
        "max_ms": round(1000 * lat[-1], 3),
        "queries": n,
        "wall_s": round(wall, 3),
        "cpu_ms_per_query": {
            "server": round(1000 * server / n, 3),
            "benchmark_process": round(1000 * own / n, 3),
        },
    }


def top10(index: Any) -> Callable[[np.ndarray], Any]:
    """One SDK query (REST or gRPC index) of the benchmark's query vectors."""
    return lambda q: index.query(vector=q.tolist(), top_k=10)


def measure_queries(
    phases: dict[str, tuple[Callable[[np.ndarray], Any], int]],
    queries: np.ndarray,
    rounds: int,
    seconds: float,
    server_pid: int | None = None,
) -> dict[str, Any]:
    """:func:`query_load` of each phase (name -> (query, clients)), the phases taking
    turns round by round as in :func:`measure_upserts`, so that 1, 8 and 32 clients are
    compared under the same machine load; each phase reports its median-QPS round, and
    ``qps_rounds`` every round (the first also warms the caches)."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in phases}
    for _ in range(rounds):
        for name, (fn, clients) in phases.items():
            runs[name].append(query_load(fn, queries, clients, seconds, server_pid))
    median_round = {
        name: sorted(r, key=lambda x: x["qps"])[len(r) // 2] for name, r in runs.items()
    }
    return {
        name: {**median_round[name], "qps_rounds": [x["qps"] for x in r]}
        for name, r in runs.items()
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument(
        "--rounds", type=int, default=3, help="upsert and query rounds (median reported)"
    )
    ap.add_argument("--port", type=int, default=35080)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    vecs = rng.standard_normal((args.records, args.dim)).astype(np.float32)
    ids = [f"r{i}" for i in range(args.records)]
    queries = rng.standard_normal((200, args.dim)).astype(np.float32)
    # 4 decimals keep a 1000 x 128 JSON batch under Pinecone's 2 MB request limit
    rows = np.round(vecs.astype(np.float64), 4).tolist()
    vecs = np.asarray(rows, dtype=np.float32)
    tmp = Path(tempfile.mkdtemp(prefix="slabdb-bench-api-"))
    out: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "records": args.records, "dim": args.dim, "query_seconds": args.seconds,
        "upsert_records_per_s": {}, "upsert_vs_embedded_arrays": {}, "upsert_rounds": {},
        "upsert_cpu_ms_per_1000_records": {}, "sdk_connection_pool_maxsize": SDK_POOL,
        "query": {},
    }  # fmt: skip
    proc, key = start_server(tmp / "server", args.port)
    db = slabdb.connect(str(tmp / "embedded"))
    try:
        pc = sdk_client(key, args.port)
        for name in ("rest1000", "rest100", "grpc1000", "rest-par"):
            pc.create_index(name=name, dimension=args.dim, metric="cosine", spec=SPEC)
        rest = {n: pc.Index(n) for n in ("rest1000", "rest100", "rest-par")}
        grpc_idx = pc.index(name="grpc1000", grpc=True)
        for name in ("emb", "emb2"):
            db.create_index(name=name, dimension=args.dim, metric="cosine")
        emb, emb2 = db.Index("emb"), db.Index("emb2")

        def via(index: Any) -> Callable[[int, int], None]:
            return lambda s, e: (
                index.upsert(
                    vectors=list(zip(ids[s:e], rows[s:e], strict=True)), show_progress=False
                )
                if hasattr(index, "_channel")
                else index.upsert(vectors=list(zip(ids[s:e], rows[s:e], strict=True)))
            )

        # name -> (upsert of records [s, e), records, batch size, clients)
        phases: dict[str, tuple[Callable[[int, int], Any], int, int, int]] = {
            "rest_batch1000": (via(rest["rest1000"]), args.records, 1000, 1),
            "rest_batch100": (via(rest["rest100"]), args.records // 4, 100, 1),
            "grpc_batch1000": (via(grpc_idx), args.records, 1000, 1),
            "rest_batch1000_4_clients": (via(rest["rest-par"]), args.records, 1000, 4),
            "embedded_upsert_arrays_batch1000": (
                lambda s, e: emb.upsert_arrays(ids[s:e], vecs[s:e]), args.records, 1000, 1
            ),
            "embedded_upsert_batch1000": (
                lambda s, e: emb2.upsert(list(zip(ids[s:e], rows[s:e], strict=True))),
                args.records, 1000, 1,
            ),
        }  # fmt: skip
        out.update(
            measure_upserts(
                phases, args.rounds, proc.pid, f"http://127.0.0.1:{args.port}/metrics", db
            )
        )
        rates = out["upsert_records_per_s"]
        embedded = rates["embedded_upsert_arrays_batch1000"]
        out["upsert_vs_embedded_arrays"] = {
            k: round(v / embedded, 3) for k, v in rates.items() if not k.startswith("embedded")
        }
        wait_idle(f"http://127.0.0.1:{args.port}/metrics")
        wait_quiet(proc.pid)
        qr = rest["rest1000"]
        qg = pc.index(name="rest1000", grpc=True)
        served = {
            f"{name}_c{c}": (top10(index), c)
            for c in CONCURRENCY
            for name, index in (("rest", qr), ("grpc", qg))
        }
        out["query"] = measure_queries(served, queries, args.rounds, args.seconds, proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
    emb.flush()  # the server's background worker has flushed its memtables by now too
    emb.compact()
    embedded = {f"embedded_c{c}": (lambda q: emb.query(vector=q, top_k=10), c) for c in CONCURRENCY}
    out["query"].update(measure_queries(embedded, queries, args.rounds, args.seconds))
    db.close()
    shutil.rmtree(tmp, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
