"""API benchmark: the official SDK over REST and gRPC against ``slabdb serve``, and the
embedded API on the same data, in the same run.  Writes ``benchmarks/results/api.json``.

    .venv/bin/python benchmarks/api.py [--records 20000] [--dim 128] [--seconds 3]
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


def wait_idle(metrics_url: str, timeout_s: float = 90.0) -> None:
    """Wait until the server has no frozen memtables and no compaction backlog."""
    deadline = time.monotonic() + timeout_s
    busy = re.compile(r"^slabdb_(frozen_memtables|compaction_backlog_slabs)\{.*\} ([0-9.]+)$", re.M)
    while time.monotonic() < deadline:
        text = httpx.get(metrics_url).text
        if all(float(v) == 0 for _, v in busy.findall(text)):
            return
        time.sleep(0.5)


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


def query_load(
    fn: Callable[[np.ndarray], Any], queries: np.ndarray, clients: int, seconds: float
) -> dict[str, float]:
    lat: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def worker(seed: int) -> None:
        i, mine = seed, []
        while time.perf_counter() < stop:
            t = time.perf_counter()
            fn(queries[i % len(queries)])
            mine.append(time.perf_counter() - t)
            i += clients
        with lock:
            lat.extend(mine)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat.sort()
    return {
        "qps": round(len(lat) / wall, 1),
        "p50_ms": round(1000 * statistics.median(lat), 3),
        "p99_ms": round(1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))], 3),
        "queries": len(lat),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--seconds", type=float, default=3.0)
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
        "upsert_records_per_s": {}, "query": {},
    }  # fmt: skip
    proc, key = start_server(tmp / "server", args.port)
    try:
        pc = Pinecone(api_key=key, host=f"http://127.0.0.1:{args.port}", grpc_scheme="http")
        for name in ("rest1000", "rest100", "grpc1000", "rest-par"):
            pc.create_index(name=name, dimension=args.dim, metric="cosine", spec=SPEC)
        rest = {n: pc.Index(n) for n in ("rest1000", "rest100", "rest-par")}
        grpc_idx = pc.index(name="grpc1000", grpc=True)

        def via(index: Any) -> Callable[[int, int], None]:
            return lambda s, e: (
                index.upsert(
                    vectors=list(zip(ids[s:e], rows[s:e], strict=True)), show_progress=False
                )
                if hasattr(index, "_channel")
                else index.upsert(vectors=list(zip(ids[s:e], rows[s:e], strict=True)))
            )

        rates = out["upsert_records_per_s"]
        rates["rest_batch1000"] = round(upsert_rate(via(rest["rest1000"]), args.records, 1000))
        rates["rest_batch100"] = round(upsert_rate(via(rest["rest100"]), args.records // 4, 100))
        rates["grpc_batch1000"] = round(upsert_rate(via(grpc_idx), args.records, 1000))
        rates["rest_batch1000_4_clients"] = round(
            upsert_rate(via(rest["rest-par"]), args.records, 1000, clients=4)
        )
        wait_idle(f"http://127.0.0.1:{args.port}/metrics")
        qr = rest["rest1000"]
        qg = pc.index(name="rest1000", grpc=True)
        for c in CONCURRENCY:
            out["query"][f"rest_c{c}"] = query_load(
                lambda q, i=qr: i.query(vector=q.tolist(), top_k=10), queries, c, args.seconds
            )
            out["query"][f"grpc_c{c}"] = query_load(
                lambda q, i=qg: i.query(vector=q.tolist(), top_k=10), queries, c, args.seconds
            )
    finally:
        proc.terminate()
        proc.wait(30)
    with slabdb.connect(str(tmp / "embedded")) as db:
        db.create_index(name="emb", dimension=args.dim, metric="cosine")
        emb = db.Index("emb")
        rates["embedded_upsert_arrays_batch1000"] = round(
            upsert_rate(lambda s, e: emb.upsert_arrays(ids[s:e], vecs[s:e]), args.records, 1000)
        )
        db.create_index(name="emb2", dimension=args.dim, metric="cosine")
        emb2 = db.Index("emb2")
        rates["embedded_upsert_batch1000"] = round(
            upsert_rate(
                lambda s, e: emb2.upsert(list(zip(ids[s:e], rows[s:e], strict=True))),
                args.records,
                1000,
            )
        )
        emb.flush()  # the server's background worker has flushed its memtables by now too
        emb.compact()
        for c in CONCURRENCY:
            out["query"][f"embedded_c{c}"] = query_load(
                lambda q: emb.query(vector=q, top_k=10), queries, c, args.seconds
            )
    shutil.rmtree(tmp, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
