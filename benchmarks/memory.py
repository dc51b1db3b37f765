"""Memory of a large namespace: a 1M x 384 namespace served within 2 GiB RSS.

One command, three phases, each in a fresh subprocess on the same local directory so
each process's resident set is its own:

1. ``ingest``: ``upsert_arrays`` of n clustered synthetic vectors (benchmarks/common.py,
   seed 42) with n/10-record flushes into ten exact L0 slabs (``ann.min_rows`` is raised to
   the IVF threshold so the flushes build no index);
2. ``compact``: one compaction merges the L0 slabs into one slab, which gets the
   IVF-PQ fast-scan index (``ann.ivf_min_rows``, default 200k); peak RSS against the
   output slab's size, and where it came from: a thread samples the resident set every
   20 ms with the compacting thread's innermost SlabDB function (``steps``: each
   function's highest sample, in order; ``peak_at``: the stack at the highest);
3. ``serve``: a default client opens the namespace and answers the queries (top-10,
   one at a time); RSS after opening and after the queries, peak RSS, p50 latency,
   recall@10 against exact brute force (computed by the parent).

    .venv/bin/python benchmarks/memory.py                  # 1M x 384, 200 queries
    .venv/bin/python benchmarks/memory.py --n 200000       # smaller run

JSON goes to ``benchmarks/results/memory.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    REPO_ROOT,
    DatasetSpec,
    current_rss_mb,
    environment,
    latency_summary,
    make_dataset,
    normalized,
    peak_rss_mb,
    recall_at_k,
    record_id,
    write_json,
)

K = 10


def _spec(args: argparse.Namespace) -> DatasetSpec:
    return DatasetSpec(n=args.n, dim=args.dim, queries=args.queries)


def _rss() -> dict[str, float]:
    """Resident set now, split into anonymous and file-backed (mapped slab pages), MB."""
    out = {"rss_mb": current_rss_mb(), "peak_rss_mb": peak_rss_mb()}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("RssAnon", "RssFile"):
            out[name.lower() + "_mb"] = int(value.split()[0]) / 1024.0
    return out


@contextmanager
def _sampled(period: float = 0.02) -> Iterator[dict[str, Any]]:
    """Sample this process's RSS with the calling thread's SlabDB stack until the block
    ends; the result dict gets ``steps`` and ``peak_at`` (see the module doc)."""
    caller, done, samples = threading.get_ident(), threading.Event(), []

    def stack() -> list[str]:
        frame, out = sys._current_frames().get(caller), []
        while frame is not None:
            if "slabdb" in frame.f_code.co_filename:
                out.append(f"{Path(frame.f_code.co_filename).stem}.{frame.f_code.co_name}")
            frame = frame.f_back
        return out

    def run() -> None:
        while not done.wait(period):
            samples.append((_rss(), stack()))

    result: dict[str, Any] = {}
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        done.set()
        thread.join()
    steps: dict[str, dict[str, float]] = {}
    for rss, where in samples:
        step = where[0] if where else "(outside slabdb)"
        if step not in steps or rss["rss_mb"] > steps[step]["rss_mb"]:
            steps[step] = {k: rss[k] for k in ("rss_mb", "rssanon_mb", "rssfile_mb")}
    result["steps"] = steps
    result["peak_at"] = max(samples, key=lambda s: s[0]["rss_mb"])[1] if samples else []


def _build_config(args: argparse.Namespace) -> Any:
    from slabdb import EngineConfig
    from slabdb.core.config import AnnConfig

    ann = AnnConfig(min_rows=args.ivf_min_rows, ivf_min_rows=args.ivf_min_rows)
    return EngineConfig(
        background=False, flush_records=max(1, args.n // 10), level_fanout=10, max_level=2, ann=ann
    )


def phase_ingest(args: argparse.Namespace) -> dict[str, Any]:
    import slabdb

    data = make_dataset(_spec(args))
    db = slabdb.connect(args.data, config=_build_config(args))
    db.create_index(name="m", dimension=args.dim, metric="cosine")
    index = db.Index("m")
    start = time.perf_counter()
    index.upsert_arrays(data.ids, data.vectors, show_progress=False)
    index.flush()
    seconds = time.perf_counter() - start
    slabs = len(db.open_namespaces()[0].manifest.slabs)
    db.close(flush=False)
    return {"seconds": seconds, "l0_slabs": slabs, **_rss()}


def phase_compact(args: argparse.Namespace) -> dict[str, Any]:
    import slabdb
    from slabdb.engine.maintenance import collect_garbage, compact_until_idle

    db = slabdb.connect(args.data, config=_build_config(args))
    db.Index("m").describe_index_stats()
    (engine,) = db.open_namespaces()
    before = _rss()
    start = time.perf_counter()
    with _sampled() as where:
        tasks = compact_until_idle(engine)
    seconds = time.perf_counter() - start
    after = _rss()
    slabs = engine.manifest.slabs
    collect_garbage(engine, grace_seconds=0.0)
    db.close(flush=False)
    out_mb = max(s.size_bytes for s in slabs) / 2**20
    return {
        "seconds": seconds,
        "tasks": tasks,
        "slabs": [{"level": s.level, "rows": s.count, "mb": s.size_bytes / 2**20} for s in slabs],
        "output_slab_mb": out_mb,
        "rss_before": before,
        "rss_after": after,
        "peak_over_output": after["peak_rss_mb"] / out_mb,
        **where,
    }


def phase_serve(args: argparse.Namespace) -> dict[str, Any]:
    import slabdb

    queries = np.load(args.queries_file)
    baseline = _rss()
    db = slabdb.connect(args.data)
    index = db.Index("m")
    start = time.perf_counter()
    stats = index.describe_index_stats()
    open_seconds = time.perf_counter() - start
    opened = _rss()
    (engine,) = db.open_namespaces()
    reader = next(iter(engine.readers().values()))
    ann = reader.ann_index()
    found: list[list[str]] = []
    seconds: list[float] = []
    for q in queries:
        t = time.perf_counter()
        result = index.query(vector=q.tolist(), top_k=K)
        seconds.append(time.perf_counter() - t)
        found.append([m.id for m in result.matches])
    served = _rss()
    db.close(flush=False)
    return {
        "records": stats.total_vector_count,
        "open_seconds": open_seconds,
        "ann": None if ann is None else json.loads(ann.params.to_bytes()),
        "rss_baseline": baseline,
        "rss_open": opened,
        "rss_served": served,
        "latency": latency_summary(seconds),
        "found": found,
    }


def _truth(args: argparse.Namespace) -> tuple[np.ndarray, list[list[str]]]:
    """The queries and their exact top-10 ids (cosine)."""
    data = make_dataset(_spec(args))
    q = normalized(data.queries)
    best_s = np.full((len(q), 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(q), 0), dtype=np.int64)
    for start in range(0, args.n, 100_000):
        chunk = normalized(data.vectors[start : start + 100_000])
        scores = np.concatenate([best_s, q @ chunk.T], axis=1)
        rows = np.concatenate(
            [best_i, np.tile(np.arange(start, start + len(chunk)), (len(q), 1))], 1
        )
        part = np.argpartition(-scores, K - 1, axis=1)[:, :K]
        best_s = np.take_along_axis(scores, part, 1)
        best_i = np.take_along_axis(rows, part, 1)
    return data.queries, [[record_id(int(i)) for i in row] for row in best_i]


PHASES = {"ingest": phase_ingest, "compact": phase_compact, "serve": phase_serve}


def _child(args: argparse.Namespace, phase: str) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--phase", phase, "--data", args.data]
    cmd += ["--n", str(args.n), "--dim", str(args.dim), "--queries", str(args.queries)]
    cmd += ["--ivf-min-rows", str(args.ivf_min_rows), "--queries-file", args.queries_file]
    print(f"[memory] {phase} ...", file=sys.stderr, flush=True)
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO_ROOT)
    doc: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return doc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ivf-min-rows", type=int, default=200_000)
    parser.add_argument("--phase", choices=sorted(PHASES))
    parser.add_argument("--data")
    parser.add_argument("--queries-file")
    parser.add_argument("--out", default=str(REPO_ROOT / "benchmarks/results/memory.json"))
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(PHASES[args.phase](args), default=float))
        return
    own = args.data is None
    args.data = args.data or tempfile.mkdtemp(prefix="slabdb-memory-")
    queries, truth = _truth(args)
    args.queries_file = str(Path(tempfile.mkdtemp(prefix="slabdb-q-")) / "queries.npy")
    np.save(args.queries_file, queries)
    try:
        phases = {phase: _child(args, phase) for phase in ("ingest", "compact", "serve")}
    finally:
        if own:
            shutil.rmtree(args.data, ignore_errors=True)
    serve = phases["serve"]
    serve["recall_at_10"] = recall_at_k(serve.pop("found"), truth)
    doc = {"n": args.n, "dim": args.dim, "environment": environment(), "phases": phases}
    print(json.dumps({p: {k: v for k, v in d.items() if "rss" in k or k in (
        "seconds", "recall_at_10", "peak_over_output", "output_slab_mb")}
        for p, d in phases.items()}, indent=1, default=float))  # fmt: skip
    write_json(args.out, doc)


if __name__ == "__main__":
    main()
