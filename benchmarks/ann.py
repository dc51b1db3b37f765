#!/usr/bin/env python
"""ANN benchmark: recall@10 versus QPS on real embeddings, SlabDB against faiss and peers.

Run from the repository root (peers need ``.venv/bin/pip install -e '.[bench]'``)::

    .venv/bin/python benchmarks/ann.py                  # 100k Debian descriptions, all systems
    .venv/bin/python benchmarks/ann.py --small          # 20k, SlabDB + faiss only, < 2 min
    .venv/bin/python benchmarks/ann.py --systems slabdb,faiss-same --n 50000
    .venv/bin/python benchmarks/ann.py --data changelogs  # the second real set

Data: :mod:`ann_data` (Debian package descriptions, or with ``--data changelogs`` the
installed packages' change-log entries, embedded with SlabDB's MiniLM, cached under
``benchmarks/results/cache/``); held-out texts of the same set are the queries.
Metadata: ``section`` (the package's Debian section) and ``bucket`` = row % 100, so
``bucket < 1 / 10 / 50`` are filters of exactly 1 %, 10 % and 50 % selectivity.

Every system runs in its own subprocess (``--worker NAME``): one query per call, one
client thread, after 5 warm-up queries.  Batch stages (``compacted-batch`` for SlabDB's
``query_batch`` on its query pool, ``peer-batch`` for one faiss ``search`` call on one
OpenMP thread per core) send the queries, repeated to
:data:`ann_probes.BATCH_QUERIES`, in one call: ``qps_batch``, the best of 3 calls.
``python_us_per_query``: SlabDB's CPU per query outside faiss
(:func:`ann_probes.python_per_query`).  The parent computes the exact top-10 (float64)
and every recall, and writes ``benchmarks/results/ann.json``.

Systems: ``slabdb`` (embedded, default config; its post-ingest, settled and compacted
states are :func:`worker_slabdb`'s), ``slabdb-oversubscribed`` (the same with 4 query
threads and BLAS left at the core count, as before the thread budget), ``faiss-same``
(IndexHNSWFlat with the M, efConstruction and tuned efSearch SlabDB chose for its
compacted slab, filters through ``IDSelectorBitmap`` with SlabDB's widening),
``faiss-flat`` (exact floor), and the peers in :mod:`ann_peers` (``chroma``,
``lancedb``, ``qdrant``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ann_data import DATASETS, DESCRIPTIONS, RealSet, load_real_set
from ann_probes import batch_of, python_per_query, time_batches
from common import Stopwatch, environment, peak_rss_mb, time_queries, write_json
from slabdb.slab import ann_ivf as ivf

K = 10
FILTERS: dict[str, int | None] = {"none": None, "1%": 1, "10%": 10, "50%": 50}
"""Filter name -> ``bucket < value`` (None: unfiltered)."""
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "ann.json"
ALL_SYSTEMS = (
    "slabdb",
    "slabdb-oversubscribed",
    "faiss-same",
    "faiss-flat",
    "chroma",
    "lancedb",
    "qdrant",
)
SMALL_SYSTEMS = ("slabdb", "slabdb-oversubscribed", "faiss-same", "faiss-flat")


def buckets(n: int) -> np.ndarray:
    return np.arange(n) % 100


def slabdb_filter(limit: int | None) -> dict[str, Any] | None:
    return None if limit is None else {"bucket": {"$lt": limit}}


# --- workers ------------------------------------------------------------------------------------


def _slabdb_queries(
    index: Any, data: RealSet, n_queries: int, namespace: str, filters: dict[str, int | None]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, limit in filters.items():
        flt = slabdb_filter(limit)

        def run(i: int, flt: dict[str, Any] | None = flt) -> list[str]:
            res = index.query(vector=data.queries[i], top_k=K, filter=flt, namespace=namespace)
            return [m.id for m in res.matches]

        summary, ids = time_queries(run, n_queries)
        summary["ids"] = ids
        out[name] = summary
    return out


def _slabdb_batches(
    index: Any, data: RealSet, namespace: str, filters: dict[str, int | None]
) -> dict[str, Any]:
    """``query_batch`` of the queries repeated to :data:`ann_probes.BATCH_QUERIES`, in
    one call (on the client's query pool: one thread per core)."""
    out: dict[str, Any] = {}
    vectors = batch_of(data.queries)
    for name, limit in filters.items():
        flt = slabdb_filter(limit)

        def run(flt: dict[str, Any] | None = flt) -> list[list[str]]:
            res = index.query_batch(vectors=vectors, top_k=K, filter=flt, namespace=namespace)
            return [[m.id for m in r.matches] for r in res]

        summary, ids = time_batches(run, len(data.queries), len(vectors))
        summary["ids"] = ids
        out[name] = summary
    return out


def worker_slabdb(args: argparse.Namespace, data: RealSet, oversubscribed: bool) -> dict[str, Any]:
    """The default engine (background flush and compaction) in three states of the same
    data: *post-ingest* (queried right after the last upsert returns, the background work
    still running), *settled* (the background worker idle) and *compacted* (every slab
    merged into one).  The compacted state is a second namespace ("ref") built first;
    its unfiltered queries alternate with the other states' round by round
    (``ratio_rounds``), so the ratios compare the same moments of a shared machine."""
    from threadpoolctl import threadpool_limits

    from slabdb import EngineConfig
    from slabdb.client import Client
    from slabdb.core.config import DEFAULT_L0_MERGE_ROWS, AnnConfig
    from slabdb.storage import open_store

    tmp = tempfile.mkdtemp(prefix="slabdb-ann-")
    n = len(data.texts)
    config = EngineConfig(
        flush_records=args.flush_records or max(1000, n // 10),
        query_threads=4 if oversubscribed else 0,
        ann=AnnConfig(min_rows=args.ann_min_rows),
        l0_merge_rows=DEFAULT_L0_MERGE_ROWS if args.l0_merge_rows < 0 else args.l0_merge_rows,
    )
    client = Client(open_store(tmp), config)
    if oversubscribed:  # the process before the thread budget: BLAS on every core
        threadpool_limits(limits=os.cpu_count() or 1, user_api="blas")
    client.create_index(name="bench", dimension=data.vectors.shape[1], metric="cosine")
    index = client.Index("bench")
    ids = [f"d{i}" for i in range(n)]
    md = [{"section": s, "bucket": int(b)} for s, b in zip(data.sections, buckets(n), strict=True)]
    index.upsert_arrays(ids, data.vectors, md, namespace="ref", show_progress=False)
    ref = open_namespace(client, "ref")
    ref_settle_seconds = settle(ref)
    with Stopwatch() as compaction:
        compact_fully(ref)
    with Stopwatch() as ingest:
        index.upsert_arrays(ids, data.vectors, md, namespace="live", show_progress=False)
    live = open_namespace(client, "live")
    watcher = _SettleWatcher(live)
    layout = {"post-ingest": _layout(live)}
    rounds = {"post-ingest": _ratio_rounds(index, data, args, live)}
    stages = {"post-ingest": _slabdb_queries(index, data, args.queries, "live", FILTERS)}
    layout["post-ingest-end"] = _layout(live)
    timings: dict[str, float | None] = {
        "ingest_seconds": ingest.seconds,
        "vectors_per_second": n / ingest.seconds,
    }
    timings["settle_seconds"] = ingest.seconds + settle(live)
    timings["settled_after_ingest_seconds"] = watcher.wait()
    layout["settled"] = _layout(live)
    rounds["settled"] = _ratio_rounds(index, data, args, live)
    stages["settled"] = _slabdb_queries(index, data, args.queries, "live", FILTERS)
    rounds["l0-idle"] = _idle_l0_rounds(config, data, ids, md, index, args)
    timings["reference_settle_seconds"] = ref_settle_seconds  # its background compaction
    timings["compaction_seconds"] = compaction.seconds  # what was left to merge after it
    layout["compacted"] = _layout(ref)
    stages["compacted"] = _slabdb_queries(index, data, args.queries, "ref", FILTERS)
    stages["compacted-batch"] = _slabdb_batches(index, data, "ref", FILTERS)
    timings["python_us_per_query"] = python_per_query(index, data, ref, "ref", K)
    client.close(flush=False)
    return {
        **timings,
        "slabs": layout,
        "ratio_rounds": rounds,
        "config": {
            "flush_records": config.flush_records,
            "query_threads": config.query_threads,
            "ann_min_rows": config.ann.min_rows,
            "l0_merge_rows": config.l0_merge_rows,
            "oversubscribed": oversubscribed,
        },
        "stages": stages,
    }


def open_namespace(client: Any, name: str) -> Any:
    return next(ns for _index, ns_name, ns in client.open_namespace_entries() if ns_name == name)


def _ratio_rounds(
    index: Any, data: RealSet, args: argparse.Namespace, live: Any, rounds: int = 2
) -> list[dict[str, Any]]:
    """Unfiltered rounds of the live namespace, each followed by one of the compacted
    reference: QPS of each and the live layout when the round started."""
    out = []
    unfiltered = {"none": None}
    for _ in range(rounds):
        state = _layout(live)
        mine = _slabdb_queries(index, data, args.queries, "live", unfiltered)["none"]
        theirs = _slabdb_queries(index, data, args.queries, "ref", unfiltered)["none"]
        out.append(_round(state, mine, theirs))
    return out


def _idle_l0_rounds(
    config: Any, data: RealSet, ids: list[str], md: list[Any], ref_index: Any, args: Any
) -> list[dict[str, Any]]:
    """The post-ingest layout with nothing running: the same rows flushed into L0 slabs
    by a client without a background worker (so never compacted), queried in rounds that
    alternate with the compacted reference, as :func:`_ratio_rounds` does."""
    from dataclasses import replace

    from slabdb.client import Client
    from slabdb.storage import open_store

    client = Client(
        open_store(tempfile.mkdtemp(prefix="slabdb-ann-l0-")), replace(config, background=False)
    )
    client.create_index(name="bench", dimension=data.vectors.shape[1], metric="cosine")
    index = client.Index("bench")
    index.upsert_arrays(ids, data.vectors, md, namespace="l0", show_progress=False)
    ns = open_namespace(client, "l0")
    ns.flush()
    out = []
    for _ in range(2):
        state = _layout(ns)
        mine = _slabdb_queries(index, data, args.queries, "l0", {"none": None})["none"]
        theirs = _slabdb_queries(ref_index, data, args.queries, "ref", {"none": None})["none"]
        out.append(_round(state, mine, theirs))
    client.close(flush=False)
    return out


def _round(state: dict[str, Any], mine: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    return {
        "l0_slabs": state["l0_slabs"],
        "slabs": len(state["slabs"]),
        "slabs_with_ann": state["slabs_with_ann"],
        "frozen_memtables": state["frozen_memtables"],
        "qps": mine["qps_single_thread"],
        "p50_ms": mine["p50_ms"],
        "compacted_qps": theirs["qps_single_thread"],
        "compacted_p50_ms": theirs["p50_ms"],
        "slower_by": theirs["qps_single_thread"] / mine["qps_single_thread"],
    }


class _SettleWatcher:
    """Seconds from its start until ``ns`` has nothing left to flush or compact, polled
    every 50 ms on a thread while the post-ingest queries run (``_settle`` after them
    can only give an upper bound)."""

    def __init__(self, ns: Any) -> None:
        import threading

        self._seconds: float | None = None
        self._thread = threading.Thread(target=self._run, args=(ns,), daemon=True)
        self._thread.start()

    def _run(self, ns: Any) -> None:
        self._seconds = settle(ns, poll_seconds=0.05)

    def wait(self) -> float | None:
        self._thread.join()
        return self._seconds


def settle(ns: Any, deadline_seconds: float = 900.0, poll_seconds: float = 0.1) -> float:
    """Seconds until the background worker has nothing left to flush or compact."""
    from slabdb.engine.maintenance import planner_for

    started = time.perf_counter()
    planner = planner_for(ns.config)
    while time.perf_counter() - started < deadline_seconds:
        manifest, _readers = ns.manifest_and_readers()
        stats = ns.stats()
        if not stats["frozen_memtables"] and planner.plan(manifest) is None:
            break
        time.sleep(poll_seconds)
    return time.perf_counter() - started


def compact_fully(ns: Any) -> None:
    """Merge every slab into one (the compacted reference state)."""
    from slabdb.compaction.planner import CompactionPlanner
    from slabdb.engine.maintenance import compact_once

    ns.flush()
    everything = CompactionPlanner(fanout=2, max_inputs=1 << 30, max_level=ns.config.max_level)
    while compact_once(ns, everything):
        pass


def _layout(ns: Any) -> dict[str, Any]:
    stats = ns.stats()
    slabs = []
    for reader in ns.readers().values():
        ann = reader.ann_index()
        slabs.append(
            {
                "level": reader.level,
                "rows": reader.n,
                "ann": None if ann is None else ann.params.__dict__,
            }
        )
    return {
        "l0_slabs": sum(1 for s in slabs if s["level"] == 0),
        "slabs_with_ann": sum(1 for s in slabs if s["ann"]),
        "frozen_memtables": stats["frozen_memtables"],
        "memtable_rows": stats["memtable_rows"],
        "slabs": slabs,
    }


def worker_faiss(args: argparse.Namespace, data: RealSet, same: bool) -> dict[str, Any]:
    import faiss

    from slabdb.slab.ann_search import candidate_count, ef_for

    faiss.omp_set_num_threads(1)
    x = data.vectors
    n, dim = x.shape
    params = json.loads(args.ann_params) if args.ann_params else {}
    ivf_same = same and params.get("kind") == ivf.IVF_KIND
    with Stopwatch() as build:
        if ivf_same:
            index = _faiss_ivf(x, params)
        elif same:
            index = faiss.IndexHNSWFlat(dim, params.get("hnsw_m", 32), faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = params.get("ef_construction", 40)
        else:
            index = faiss.IndexFlatIP(dim)
        if not ivf_same:
            index.add(x)
    tuned = params.get("ef_search", 64)
    b = buckets(n)
    stages: dict[str, Any] = {}
    batches: dict[str, Any] = {}
    for name, limit in FILTERS.items():
        bits = None if limit is None else np.packbits(b < limit, bitorder="little")
        sel = None if bits is None else faiss.IDSelectorBitmap(n, faiss.swig_ptr(bits))
        selectivity = 1.0 if limit is None else limit / 100
        if ivf_same:
            nprobe = ivf.nprobe_for(tuned, K, selectivity, params["nlist"])
            sp = faiss.SearchParametersIVF(nprobe=nprobe, sel=sel)
            want = ivf.rerank_count(K, params["rerank"])
        elif same:
            sp = faiss.SearchParametersHNSW(efSearch=ef_for(tuned, K, selectivity), sel=sel)
            want = candidate_count(K)
        else:
            sp = faiss.SearchParameters(sel=sel)
            want = K
        rerank = x if ivf_same else None

        def run(i: int, sp: Any = sp, want: int = want, rerank: Any = rerank) -> list[str]:
            q = data.queries[i : i + 1]
            labels = index.search(q, want, params=sp)[1][0]
            if rerank is not None:  # the codes only rank: re-score exactly, as SlabDB does
                labels = labels[labels >= 0]
                labels = labels[np.argsort(-(rerank[labels] @ q[0]))]
            return [f"d{j}" for j in labels[:K] if j >= 0]

        summary, ids = time_queries(run, args.queries)
        summary["ids"] = ids
        stages[name] = summary
        batches[name] = _faiss_batch(index, data, sp, want, rerank)
    return {
        "build_seconds": build.seconds,
        "config": params if same else {"index": "IndexFlatIP"},
        "stages": {"peer": stages, "peer-batch": batches},
    }


def _faiss_ivf(x: np.ndarray, params: dict[str, Any]) -> Any:
    """The IVF-PQ (or flat, one-list) fast-scan index SlabDB built, trained the same way."""
    import faiss

    n, dim = x.shape
    if params["nlist"] == 1:
        index = ivf.new_flat_index(dim, faiss.METRIC_INNER_PRODUCT)
    else:
        index = ivf.new_index(dim, n, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(n)
    sample = np.sort(rng.choice(n, size=min(n, ivf.train_rows(params["nlist"])), replace=False))
    index.train(x[sample])
    index.add(x)
    return index


def _faiss_batch(
    index: Any, data: RealSet, sp: Any, want: int, rerank: np.ndarray | None = None
) -> dict[str, Any]:
    """Every query in one search call on one OpenMP thread per core (re-ranked exactly
    from ``rerank``'s vectors when given)."""
    import faiss

    faiss.omp_set_num_threads(os.cpu_count() or 1)
    vectors = batch_of(data.queries)

    def run() -> list[list[str]]:
        _d, labels = index.search(vectors, want, params=sp)
        if rerank is None:
            return [[f"d{j}" for j in row[:K] if j >= 0] for row in labels]
        out = []
        for q, row in zip(vectors, labels, strict=True):
            row = row[row >= 0]
            out.append([f"d{j}" for j in row[np.argsort(-(rerank[row] @ q))][:K]])
        return out

    summary, ids = time_batches(run, len(data.queries), len(vectors))
    faiss.omp_set_num_threads(1)
    summary["ids"] = ids
    return summary


def run_worker(args: argparse.Namespace) -> None:
    """One system in this process; every directory it makes under the system temp dir
    (databases, spool files) lives in one that is removed when it ends."""
    with tempfile.TemporaryDirectory(prefix="slabdb-ann-") as root:
        tempfile.tempdir = root
        try:
            _run_system(args)
        finally:
            tempfile.tempdir = None


def _run_system(args: argparse.Namespace) -> None:
    data = load_real_set(args.n, args.queries, args.data)
    name = args.worker
    if name in ("slabdb", "slabdb-oversubscribed"):
        doc = worker_slabdb(args, data, oversubscribed=name.endswith("oversubscribed"))
    elif name in ("faiss-same", "faiss-flat"):
        doc = worker_faiss(args, data, same=name == "faiss-same")
    else:
        import ann_peers

        doc = ann_peers.WORKERS[name](data, args.queries, K, buckets(len(data.texts)))
    doc["peak_rss_mb"] = peak_rss_mb()
    Path(args.result).write_text(json.dumps(doc))


# --- parent -------------------------------------------------------------------------------------


def ground_truth(data: RealSet) -> dict[str, list[set[str]]]:
    x = data.vectors.astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    b = buckets(len(x))
    truth: dict[str, list[set[str]]] = {}
    for name, limit in FILTERS.items():
        rows = np.arange(len(x)) if limit is None else np.flatnonzero(b < limit)
        scores = data.queries.astype(np.float64) @ x[rows].T
        top = np.argsort(-scores, axis=1)[:, :K]
        truth[name] = [{f"d{rows[j]}" for j in t} for t in top]
    return truth


def score_stages(doc: dict[str, Any], truth: dict[str, list[set[str]]]) -> None:
    for stage in doc.get("stages", {}).values():
        for name, summary in stage.items():
            ids = summary.pop("ids")
            summary["recall_at_10"] = float(
                np.mean(
                    [len(set(got) & want) / K for got, want in zip(ids, truth[name], strict=True)]
                )
            )
            summary["returned_k"] = float(np.mean([len(got) for got in ids]))


def spawn(name: str, args: argparse.Namespace, ann_params: str) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        result = fh.name
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        name,
        "--result",
        result,
        "--n",
        str(args.n),
        "--queries",
        str(args.queries),
        "--data",
        args.data,
        "--ann-min-rows",
        str(args.ann_min_rows),
        "--flush-records",
        str(args.flush_records),
        "--l0-merge-rows",
        str(args.l0_merge_rows),
        "--ann-params",
        ann_params,
    ]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).parent)
    if proc.returncode != 0:
        return {"skipped": proc.stderr.strip().splitlines()[-1:] or ["failed"]}
    doc: dict[str, Any] = json.loads(Path(result).read_text())
    doc["wall_seconds"] = time.perf_counter() - started
    os.unlink(result)
    return doc


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--small", action="store_true", help="20k records, SlabDB + faiss (< 2 min)")
    p.add_argument("--n", type=int, default=None)
    p.add_argument("--queries", type=int, default=None)
    p.add_argument("--data", choices=DATASETS, default="debian", help="the real text set")
    p.add_argument("--systems", default=None, help=f"comma list from {','.join(ALL_SYSTEMS)}")
    p.add_argument("--ann-min-rows", type=int, default=None)
    p.add_argument("--flush-records", type=int, default=0)
    p.add_argument(
        "--l0-merge-rows", type=int, default=-1, help="EngineConfig.l0_merge_rows (-1: default)"
    )
    p.add_argument("--out", default=str(DEFAULT_OUT))
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    p.add_argument("--ann-params", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    from slabdb.core.config import DEFAULT_ANN_MIN_ROWS

    args.n = args.n or (20_000 if args.small else 100_000)
    args.queries = args.queries or (100 if args.small else 200)
    args.ann_min_rows = args.ann_min_rows or DEFAULT_ANN_MIN_ROWS
    if args.worker:
        run_worker(args)
        return
    systems = (
        args.systems.split(",")
        if args.systems
        else list(SMALL_SYSTEMS if args.small else ALL_SYSTEMS)
    )
    data = load_real_set(args.n, args.queries, args.data)
    truth = ground_truth(data)
    results: dict[str, Any] = {}
    ann_params = ""
    for name in systems:
        doc = spawn(name, args, ann_params)
        score_stages(doc, truth)
        results[name] = doc
        if name == "slabdb" and doc.get("slabs"):
            anns = [s["ann"] for s in doc["slabs"]["compacted"]["slabs"] if s["ann"]]
            ann_params = json.dumps(anns[0]) if anns else ""
        print(name, json.dumps(_brief(doc)), flush=True)
    doc = {
        "environment": environment(),
        "n": len(data.texts),
        "queries": args.queries,
        "k": K,
        "data": DESCRIPTIONS[args.data],
        "systems": results,
    }
    print("wrote", write_json(args.out, doc))


def _brief(doc: dict[str, Any]) -> dict[str, Any]:
    if "skipped" in doc:
        return doc
    return {
        f"{stage}/{f}": (
            round(s.get("qps_single_thread") or s["qps_batch"]),
            round(s["recall_at_10"], 3),
        )
        for stage, filters in doc["stages"].items()
        for f, s in filters.items()
    }


if __name__ == "__main__":
    main()
