"""Query latency in the seconds after a 100k ingest, by time window, per GIL switch interval.

    .venv/bin/python benchmarks/post_ingest_latency.py [--switch-intervals 0,0.0005]

For each switch interval (``EngineConfig.switch_interval_seconds``; 0 leaves Python's 5 ms)
a fresh process ingests 100k real MiniLM records (``ann_data``) into a reference namespace,
lets it settle, then ingests them again into a second namespace with ``upsert_arrays`` and
queries that one, one query at a time, for six seconds from the moment the call returns
while the background worker flushes and compacts. p50/p90 per window (0-1 s, 1-2 s,
2-4 s, 4-6 s after the upsert returned) and the settled reference's p50. JSON in
``benchmarks/results/post_ingest_latency.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ann import open_namespace, settle
from ann_data import load_real_set
from common import environment, write_json

WINDOWS = ((0, 1), (1, 2), (2, 4), (4, 6))
OUT = Path(__file__).resolve().parent / "results" / "post_ingest_latency.json"


def measure(switch_interval: float, n: int) -> dict[str, Any]:
    from slabdb import EngineConfig
    from slabdb.client import Client
    from slabdb.storage import open_store

    data = load_real_set(n, 300)
    ids = [f"d{i}" for i in range(n)]
    with tempfile.TemporaryDirectory(prefix="slabdb-pil-") as root:
        tempfile.tempdir = root
        client = Client(open_store(root), EngineConfig(switch_interval_seconds=switch_interval))
        client.create_index(name="bench", dimension=data.vectors.shape[1], metric="cosine")
        index = client.Index("bench")
        index.upsert_arrays(ids, data.vectors, None, namespace="ref", show_progress=False)
        settle(open_namespace(client, "ref"))
        started = time.perf_counter()
        index.upsert_arrays(ids, data.vectors, None, namespace="live", show_progress=False)
        returned = time.perf_counter()
        samples = []
        while time.perf_counter() - returned < WINDOWS[-1][1]:
            for q in data.queries[:50]:
                t = time.perf_counter()
                index.query(vector=q, top_k=10, namespace="live")
                samples.append((t - returned, time.perf_counter() - t))
        ref = []
        for q in data.queries:
            t = time.perf_counter()
            index.query(vector=q, top_k=10, namespace="ref")
            ref.append(time.perf_counter() - t)
        client.close(flush=False)
        tempfile.tempdir = None
    at = np.asarray(samples)
    windows = {}
    for lo, hi in WINDOWS:
        lat = at[(at[:, 0] >= lo) & (at[:, 0] < hi), 1] * 1e3
        windows[f"{lo}-{hi}s"] = {
            "queries": len(lat),
            "p50_ms": float(np.median(lat)),
            "p90_ms": float(np.percentile(lat, 90)),
        }
    return {
        "switch_interval_seconds": switch_interval,
        "ingest_seconds": returned - started,
        "windows": windows,
        "settled_reference_p50_ms": float(np.median(ref) * 1e3),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--switch-intervals", default="0,0.0005")
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--out", default=str(OUT))
    p.add_argument("--worker", type=float, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker is not None:
        print(json.dumps(measure(args.worker, args.n)))
        return
    runs = []
    for value in (float(v) for v in args.switch_intervals.split(",")):
        cmd = [sys.executable, __file__, "--worker", str(value), "--n", str(args.n)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        run = json.loads(proc.stdout.strip().splitlines()[-1])
        runs.append(run)
        cells = ", ".join(f"{w} p50 {r['p50_ms']:.2f} ms" for w, r in run["windows"].items())
        print(f"switch interval {value}: {cells}; settled {run['settled_reference_p50_ms']:.2f} ms")
    print("wrote", write_json(args.out, {"environment": environment(), "n": args.n, "runs": runs}))


if __name__ == "__main__":
    main()
