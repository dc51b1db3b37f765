#!/usr/bin/env python
"""SlabDB engine benchmark: ingest, flush, compaction, query latency, recall, memory, peers.

Run from the repository root::

    .venv/bin/python benchmarks/engine.py                 # 100k x 384, all peers (~5 min)
    .venv/bin/python benchmarks/engine.py --quick         # smoke run, tiny sizes
    .venv/bin/python benchmarks/engine.py --peers numpy,faiss-flat --n 50000

Every system runs in its own subprocess (``--worker NAME``) on identical data
regenerated from a fixed seed, so each one's peak RSS is its own and no system's
threads or caches disturb another's timings.  The parent computes the exact
ground truth, recall@k, and the SlabDB / peer ratios, writes one JSON document and
prints Rich tables.  See ``benchmarks/README.md`` for what each figure means.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from common import (
    FILTERS,
    Dataset,
    DatasetSpec,
    FilterSpec,
    Stopwatch,
    current_rss_mb,
    dir_size_mb,
    environment,
    exact_top_k,
    make_dataset,
    normalized,
    package_version,
    peak_rss_mb,
    recall_at_k,
    time_queries,
    write_json,
)

SLABDB_SYSTEMS = ("slabdb", "slabdb-dict")
PEERS = ("numpy", "faiss-flat", "faiss-ivf", "faiss-hnsw", "chroma", "lancedb")
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "engine.json"
UPSERT_BATCH = 1000
"""Records per ``upsert`` call on the dict path (Pinecone's per-request maximum)."""
SLABDB_STAGES = ("l0", "compacted", "fresh")
PEER_STAGE = "built"
WORKER_TIMEOUT_SECONDS = 1800


@dataclass(frozen=True)
class Params:
    n: int
    dim: int
    queries: int
    top_k: int = 10
    seed: int = 42
    flush_records: int = 10_000
    fresh_records: int = 9_000
    ivf_nlist: int = 316
    ivf_nprobe: int = 16
    hnsw_m: int = 32
    hnsw_ef_construction: int = 40
    hnsw_ef_search: int = 64
    profile_dir: str | None = None

    @property
    def spec(self) -> DatasetSpec:
        return DatasetSpec(n=self.n, dim=self.dim, queries=self.queries, seed=self.seed)


def resolve_params(args: argparse.Namespace) -> Params:
    quick = args.quick
    n = args.n if args.n is not None else (10_000 if quick else 100_000)
    dim = args.dim if args.dim is not None else (32 if quick else 384)
    queries = args.queries if args.queries is not None else (20 if quick else 200)
    if args.flush_records is not None:
        flush_records = args.flush_records
    else:
        from slabdb.core.config import DEFAULT_FLUSH_RECORDS

        # Quick runs keep the same shape (10 L0 slabs -> one L1) at a tenth of the size.
        flush_records = max(100, n // 10) if quick else DEFAULT_FLUSH_RECORDS
    # Re-upserted records that stay in the memtable: under flush_records (no freeze) and
    # a whole number of upsert batches when large.
    fresh = min(int(flush_records * 0.9), n // 10)
    if fresh > UPSERT_BATCH:
        fresh -= fresh % UPSERT_BATCH
    nlist = max(8, round(math.sqrt(n)))
    return Params(
        n=n,
        dim=dim,
        queries=queries,
        top_k=args.top_k,
        seed=args.seed,
        flush_records=flush_records,
        fresh_records=max(1, fresh),
        ivf_nlist=nlist,
        ivf_nprobe=max(1, nlist // 20),
        profile_dir=str(Path(args.profile).resolve()) if args.profile else None,
    )


# ============================================================================================
# workers (one system each, in a subprocess)
# ============================================================================================


@contextlib.contextmanager
def profiled(p: Params, system: str, phase: str) -> Iterator[None]:
    """With ``--profile DIR``, write a pyinstrument text profile of this phase to DIR."""
    if p.profile_dir is None:
        yield
        return
    try:
        from pyinstrument import Profiler
    except ImportError:
        yield
        return
    profiler = Profiler(interval=0.001)
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()
        out = Path(p.profile_dir) / f"{system}-{phase}.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(profiler.output_text(unicode=False, color=False, show_all=False))


def _slabs_per_level(stats: dict[str, Any]) -> dict[str, int]:
    return {f"L{lvl}": cnt for lvl, cnt in sorted(stats.get("slabs_per_level", {}).items())}


def _ns_state(ns: Any) -> dict[str, Any]:
    st = ns.stats()
    return {
        "slabs_per_level": _slabs_per_level(st),
        "memtable_records": st.get("memtable_records"),
        "frozen_memtables": st.get("frozen_memtables"),
    }


def _slabdb_query_stage(
    index: Any, ds: Dataset, p: Params, system: str, stage: str
) -> dict[str, Any]:
    qlists = [q.tolist() for q in ds.queries]  # the SDK takes plain lists
    out: dict[str, Any] = {}
    for f in FILTERS:

        def run(i: int, f: FilterSpec = f) -> list[str]:
            res = index.query(
                vector=qlists[i], top_k=p.top_k, filter=f.pinecone, include_metadata=True
            )
            return [m.id for m in res.matches]

        with profiled(p, system, f"query-{stage}-{f.name}"):
            summary, ids = time_queries(run, p.queries)
        summary["ids"] = ids
        out[f.name] = summary
    return out


def worker_slabdb(p: Params, ds: Dataset) -> dict[str, Any]:
    """Bulk path ingest, L0 queries, flush, compaction, compacted and fresh queries."""
    import slabdb
    from slabdb import EngineConfig

    md = ds.metadata
    tmp = tempfile.mkdtemp(prefix="slabdb-bench-")
    try:
        cfg = EngineConfig(background=False, flush_records=p.flush_records)
        db = slabdb.connect(tmp, config=cfg)
        db.create_index(name="bench", dimension=ds.spec.dim, metric="cosine")
        index = db.Index("bench")
        with profiled(p, "slabdb", "ingest-bulk"), Stopwatch() as ingest:
            index.upsert_arrays(ds.ids, ds.vectors, metadata=md)
        ns = db.open_namespaces()[0]
        after_ingest = _ns_state(ns)
        queries: dict[str, Any] = {"l0": _slabdb_query_stage(index, ds, p, "slabdb", "l0")}

        remainder = after_ingest["memtable_records"]
        with Stopwatch() as flush_rest:
            index.flush()
        after_flush = _ns_state(ns)

        with profiled(p, "slabdb", "compaction"), Stopwatch() as compaction:
            tasks = index.compact()
        after_compaction = _ns_state(ns)
        queries["compacted"] = _slabdb_query_stage(index, ds, p, "slabdb", "compacted")

        # Fresh: newer versions of the last records (same vectors and metadata, so the
        # ground truth is unchanged) wait in the memtable and shadow their slab rows.
        lo = ds.n - p.fresh_records
        with Stopwatch() as fresh_ingest:
            index.upsert_arrays(ds.ids[lo:], ds.vectors[lo:], metadata=md[lo:])
        fresh_state = _ns_state(ns)
        queries["fresh"] = _slabdb_query_stage(index, ds, p, "slabdb", "fresh")

        with profiled(p, "slabdb", "flush"), Stopwatch() as flush_fresh:
            index.flush()
        after_fresh_flush = _ns_state(ns)
        disk_mb = dir_size_mb(tmp)
        db.close(flush=False)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    return {
        "kind": "exact",
        "version": package_version("slabdb"),
        "config": {
            "store": "local directory",
            "metric": "cosine",
            "flush_records": p.flush_records,
            "level_fanout": cfg.level_fanout,
            "query_threads": cfg.query_threads,
            "background": False,
        },
        "ingest": {
            "path": "upsert_arrays",
            "records": ds.n,
            "seconds": ingest.seconds,
            "vectors_per_s": ds.n / ingest.seconds,
            "note": "includes the inline L0 flushes a writer does with background=False",
        },
        "lifecycle": {
            "after_ingest": after_ingest,
            "flush_remainder": {"records": remainder, "seconds": flush_rest.seconds},
            "after_flush": after_flush,
            "compaction": {"seconds": compaction.seconds, "tasks": tasks},
            "after_compaction": after_compaction,
            "fresh_upsert": {
                "records": p.fresh_records,
                "seconds": fresh_ingest.seconds,
                "vectors_per_s": p.fresh_records / fresh_ingest.seconds,
            },
            "fresh_state": fresh_state,
            "flush": {
                "records": p.fresh_records,
                "seconds": flush_fresh.seconds,
                "records_per_s": p.fresh_records / flush_fresh.seconds,
            },
            "after_fresh_flush": after_fresh_flush,
            "disk_mb": disk_mb,
        },
        "queries": queries,
    }


def worker_slabdb_dict(p: Params, ds: Dataset) -> dict[str, Any]:
    """Dict path: ``upsert`` with batches of 1000 SDK-style dicts (lists of floats)."""
    import slabdb
    from slabdb import EngineConfig

    md = ds.metadata
    tmp = tempfile.mkdtemp(prefix="slabdb-bench-dict-")
    try:
        cfg = EngineConfig(background=False, flush_records=p.flush_records)
        db = slabdb.connect(tmp, config=cfg)
        db.create_index(name="bench", dimension=ds.spec.dim, metric="cosine")
        index = db.Index("bench")
        sw = Stopwatch()
        with profiled(p, "slabdb-dict", "ingest-dict"):
            for start in range(0, ds.n, UPSERT_BATCH):
                end = min(start + UPSERT_BATCH, ds.n)
                rows = ds.vectors[start:end].tolist()  # building the request is not timed
                batch = [
                    {"id": ds.ids[i], "values": rows[i - start], "metadata": md[i]}
                    for i in range(start, end)
                ]
                with sw:
                    index.upsert(vectors=batch)
        state = _ns_state(db.open_namespaces()[0])
        db.close(flush=False)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "kind": "exact",
        "version": package_version("slabdb"),
        "config": {"store": "local directory", "flush_records": p.flush_records},
        "ingest": {
            "path": f"upsert, {UPSERT_BATCH} dicts/call",
            "records": ds.n,
            "seconds": sw.seconds,
            "vectors_per_s": ds.n / sw.seconds,
            "note": "time inside upsert() only; converting numpy rows to lists is excluded",
        },
        "lifecycle": {"after_ingest": state},
    }


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    k = min(k, len(scores))
    part = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    return part[np.argsort(-scores[part], kind="stable")]


def worker_numpy(p: Params, ds: Dataset) -> dict[str, Any]:
    """The floor: one matrix-vector product and argpartition; filters as a boolean mask."""
    with Stopwatch() as ingest:
        xn = normalized(ds.vectors)
        genre_code = ds.genre_code.copy()
        year = ds.year.copy()
    cols = replace(ds, genre_code=genre_code, year=year)
    prefilter_fraction = 0.10
    queries: dict[str, Any] = {}
    for f in FILTERS:

        def run(i: int, f: FilterSpec = f) -> list[str]:
            q = ds.queries[i]
            q = q / np.linalg.norm(q)
            mask = f.mask(cols)  # evaluated per query, like a real filter
            if mask is None:
                best = _top_k(xn @ q, p.top_k)
            else:
                rows = np.flatnonzero(mask)
                if len(rows) < prefilter_fraction * len(mask):
                    best = rows[_top_k(xn[rows] @ q, p.top_k)]
                else:
                    scores = np.where(mask, xn @ q, -np.inf)
                    best = _top_k(scores, min(p.top_k, len(rows)))
            return [ds.ids[int(r)] for r in best]

        summary, ids = time_queries(run, p.queries)
        summary["ids"] = ids
        queries[f.name] = summary
    return {
        "kind": "exact",
        "version": np.__version__,
        "config": {"scoring": "normalized float32 matrix @ q, argpartition"},
        "ingest": _ingest(ds.n, ingest.seconds, "normalize to a matrix"),
        "queries": {PEER_STAGE: queries},
    }


def _ingest(n: int, seconds: float, path: str) -> dict[str, Any]:
    return {"path": path, "records": n, "seconds": seconds, "vectors_per_s": n / seconds}


def _faiss_worker(
    p: Params,
    ds: Dataset,
    build: Callable[[np.ndarray], Any],
    search_params: Callable[[Any], Any],
    config: dict[str, Any],
    kind: str,
) -> dict[str, Any]:
    import faiss

    with Stopwatch() as ingest:
        xn = np.ascontiguousarray(ds.vectors.copy())
        faiss.normalize_L2(xn)
        index = build(xn)
    queries: dict[str, Any] = {}
    for f in FILTERS:

        def run(i: int, f: FilterSpec = f) -> list[str]:
            q = np.ascontiguousarray(ds.queries[i : i + 1].copy())
            faiss.normalize_L2(q)
            mask = f.mask(ds)
            sel = None
            bits = None
            if mask is not None:
                bits = np.packbits(mask, bitorder="little")
                sel = faiss.IDSelectorBitmap(ds.n, faiss.swig_ptr(bits))
            _d, idx = index.search(q, p.top_k, params=search_params(sel))
            del bits
            return [ds.ids[int(r)] for r in idx[0] if r >= 0]

        summary, ids = time_queries(run, p.queries)
        summary["ids"] = ids
        queries[f.name] = summary
    return {
        "kind": kind,
        "version": getattr(faiss, "__version__", None),
        "config": config,
        "ingest": _ingest(ds.n, ingest.seconds, "normalize + (train) + add"),
        "queries": {PEER_STAGE: queries},
    }


def worker_faiss_flat(p: Params, ds: Dataset) -> dict[str, Any]:
    import faiss

    def build(xn: np.ndarray) -> Any:
        index = faiss.IndexFlatIP(ds.spec.dim)
        index.add(xn)
        return index

    def params(sel: Any) -> Any:
        return None if sel is None else faiss.SearchParameters(sel=sel)

    return _faiss_worker(p, ds, build, params, {"index": "IndexFlatIP"}, "exact")


def worker_faiss_ivf(p: Params, ds: Dataset) -> dict[str, Any]:
    import faiss

    def build(xn: np.ndarray) -> Any:
        quantizer = faiss.IndexFlatIP(ds.spec.dim)
        index = faiss.IndexIVFFlat(quantizer, ds.spec.dim, p.ivf_nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(xn)
        index.add(xn)
        index.nprobe = p.ivf_nprobe
        return index

    def params(sel: Any) -> Any:
        return faiss.SearchParametersIVF(sel=sel, nprobe=p.ivf_nprobe)

    cfg = {"index": "IndexIVFFlat", "nlist": p.ivf_nlist, "nprobe": p.ivf_nprobe}
    return _faiss_worker(p, ds, build, params, cfg, "ann")


def worker_faiss_hnsw(p: Params, ds: Dataset) -> dict[str, Any]:
    import faiss

    def build(xn: np.ndarray) -> Any:
        index = faiss.IndexHNSWFlat(ds.spec.dim, p.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = p.hnsw_ef_construction
        index.hnsw.efSearch = p.hnsw_ef_search
        index.add(xn)
        return index

    def params(sel: Any) -> Any:
        return faiss.SearchParametersHNSW(sel=sel, efSearch=p.hnsw_ef_search)

    cfg = {
        "index": "IndexHNSWFlat",
        "M": p.hnsw_m,
        "efConstruction": p.hnsw_ef_construction,
        "efSearch": p.hnsw_ef_search,
    }
    return _faiss_worker(p, ds, build, params, cfg, "ann")


def worker_chroma(p: Params, ds: Dataset) -> dict[str, Any]:
    import chromadb
    from chromadb.config import Settings

    md = ds.metadata
    tmp = tempfile.mkdtemp(prefix="chroma-bench-")
    try:
        client = chromadb.PersistentClient(path=tmp, settings=Settings(anonymized_telemetry=False))
        col = client.create_collection(
            name="bench", embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )
        batch = int(client.get_max_batch_size())
        with Stopwatch() as ingest:
            for start in range(0, ds.n, batch):
                end = min(start + batch, ds.n)
                col.add(
                    ids=ds.ids[start:end], embeddings=ds.vectors[start:end], metadatas=md[start:end]
                )
        queries: dict[str, Any] = {}
        for f in FILTERS:

            def run(i: int, f: FilterSpec = f) -> list[str]:
                res = col.query(
                    query_embeddings=ds.queries[i : i + 1],
                    n_results=p.top_k,
                    where=f.pinecone,
                    include=["distances", "metadatas"],
                )
                return list(res["ids"][0])

            summary, ids = time_queries(run, p.queries)
            summary["ids"] = ids
            queries[f.name] = summary
        disk_mb = dir_size_mb(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "kind": "ann",
        "version": package_version("chromadb"),
        "config": {
            "client": "PersistentClient (local directory)",
            "index": "HNSW (Chroma defaults)",
            "space": "cosine",
            "add_batch": batch,
            "disk_mb": disk_mb,
        },
        "ingest": _ingest(ds.n, ingest.seconds, f"add, {batch}/call"),
        "queries": {PEER_STAGE: queries},
    }


def worker_lancedb(p: Params, ds: Dataset) -> dict[str, Any]:
    import lancedb
    import pyarrow as pa

    tmp = tempfile.mkdtemp(prefix="lancedb-bench-")
    genre = ds.genre
    try:
        db = lancedb.connect(tmp)
        with Stopwatch() as ingest:
            flat = pa.array(ds.vectors.reshape(-1), type=pa.float32())
            table = pa.table(
                {
                    "id": pa.array(ds.ids, type=pa.string()),
                    "vector": pa.FixedSizeListArray.from_arrays(flat, ds.spec.dim),
                    "genre": pa.array(genre, type=pa.string()),
                    "year": pa.array(ds.year, type=pa.int32()),
                    "active": pa.array(ds.active, type=pa.bool_()),
                }
            )
            tbl = db.create_table("bench", data=table)
        columns = ["id", "genre", "year", "active", "_distance"]
        queries: dict[str, Any] = {}
        for f in FILTERS:

            def run(i: int, f: FilterSpec = f) -> list[str]:
                qb = tbl.search(ds.queries[i]).distance_type("cosine").limit(p.top_k)
                qb = qb.select(columns)
                if f.sql is not None:
                    qb = qb.where(f.sql, prefilter=True)
                return [str(x) for x in qb.to_arrow()["id"].to_pylist()]

            summary, ids = time_queries(run, p.queries)
            summary["ids"] = ids
            queries[f.name] = summary
        disk_mb = dir_size_mb(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "kind": "exact",
        "version": package_version("lancedb"),
        "config": {
            "index": "none (flat scan; no ANN index built)",
            "distance_type": "cosine",
            "prefilter": True,
            "pyarrow": package_version("pyarrow"),
            "disk_mb": disk_mb,
        },
        "ingest": _ingest(ds.n, ingest.seconds, "arrow table + create_table"),
        "queries": {PEER_STAGE: queries},
    }


WORKERS: dict[str, Callable[[Params, Dataset], dict[str, Any]]] = {
    "slabdb": worker_slabdb,
    "slabdb-dict": worker_slabdb_dict,
    "numpy": worker_numpy,
    "faiss-flat": worker_faiss_flat,
    "faiss-ivf": worker_faiss_ivf,
    "faiss-hnsw": worker_faiss_hnsw,
    "chroma": worker_chroma,
    "lancedb": worker_lancedb,
}
OPTIONAL_IMPORTS = {"chroma": "chromadb", "lancedb": "lancedb"}


def run_worker(name: str, p: Params, out: Path) -> None:
    module = OPTIONAL_IMPORTS.get(name)
    if module is not None:
        try:
            __import__(module)
        except Exception as exc:  # ImportError, or a broken native dependency
            write_json(
                out,
                {
                    "status": "skipped",
                    "reason": f"{module} is not importable ({type(exc).__name__}: {exc}); "
                    "install the bench extra: pip install -e '.[bench]'",
                },
            )
            return
    t0 = time.perf_counter()
    ds = make_dataset(p.spec)
    _ = ds.metadata  # built before the baseline, like any caller's input
    baseline = current_rss_mb()
    result = WORKERS[name](p, ds)
    peak = peak_rss_mb()
    result["status"] = "ok"
    result["memory"] = {
        "baseline_rss_mb": baseline,
        "peak_rss_mb": peak,
        "peak_over_baseline_mb": max(0.0, peak - baseline),
        "note": "baseline = RSS after generating the data set; peak = VmHWM of the worker",
    }
    result["worker_seconds"] = time.perf_counter() - t0
    write_json(out, result)


# ============================================================================================
# orchestration (parent process)
# ============================================================================================


def _spawn(name: str, p: Params, workdir: Path) -> dict[str, Any]:
    out = workdir / f"{name}.json"
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        name,
        "--worker-params",
        json.dumps(asdict(p)),
        "--worker-out",
        str(out),
    ]
    env = dict(os.environ)
    env.setdefault("LANCE_LOG", "error")
    env.setdefault("RUST_LOG", "error")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=WORKER_TIMEOUT_SECONDS, env=env
        )
    except subprocess.TimeoutExpired:
        return {"status": "failed", "reason": f"timed out after {WORKER_TIMEOUT_SECONDS} s"}
    if proc.returncode != 0 or not out.exists():
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        return {"status": "failed", "reason": f"worker exited {proc.returncode}: {tail}"}
    doc: dict[str, Any] = json.loads(out.read_text())
    doc["wall_seconds"] = time.perf_counter() - t0
    return doc


def _score_recall(doc: dict[str, Any], truth: dict[str, list[list[str]]]) -> None:
    """Replace each query workload's returned ids by its recall@k against the truth."""
    for stage in doc.get("queries", {}).values():
        for fname, summary in stage.items():
            ids = summary.pop("ids", None)
            if ids is not None:
                summary["recall_at_k"] = recall_at_k(ids, truth[fname])


def _ratios(systems: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """SlabDB / peer for times (ingest seconds, p50, p99): above 1 means SlabDB is slower."""
    base = systems.get("slabdb", {})
    if base.get("status") != "ok":
        return {}
    ours = base["queries"]["compacted"]
    out: dict[str, Any] = {}
    for name, doc in systems.items():
        if name in SLABDB_SYSTEMS or doc.get("status") != "ok":
            continue
        theirs = doc["queries"][PEER_STAGE]
        entry: dict[str, Any] = {
            "ingest_seconds": base["ingest"]["seconds"] / doc["ingest"]["seconds"],
        }
        for fname in theirs:
            entry[f"query_{fname}_p50"] = ours[fname]["p50_ms"] / theirs[fname]["p50_ms"]
            entry[f"query_{fname}_p99"] = ours[fname]["p99_ms"] / theirs[fname]["p99_ms"]
        entry["peak_rss"] = base["memory"]["peak_rss_mb"] / doc["memory"]["peak_rss_mb"]
        entry["query_p50_by_stage"] = {
            stage: {f: per[f]["p50_ms"] / theirs[f]["p50_ms"] for f in theirs if f in per}
            for stage, per in base["queries"].items()
        }
        out[name] = entry
    return out


def orchestrate(p: Params, peers: list[str], out: Path) -> dict[str, Any]:
    from rich.console import Console

    console = Console(stderr=True)
    t0 = time.perf_counter()
    console.print(
        f"[bold]SlabDB engine benchmark[/]: n={p.n:,} dim={p.dim} queries={p.queries} "
        f"top_k={p.top_k} peers={','.join(peers) or '-'}"
    )
    env = environment()  # load average before the run
    ds = make_dataset(p.spec)
    truth: dict[str, list[list[str]]] = {}
    selectivity: dict[str, float] = {}
    for f in FILTERS:
        mask = f.mask(ds)
        truth[f.name] = exact_top_k(ds, p.top_k, mask)
        selectivity[f.name] = 1.0 if mask is None else float(mask.mean())
    del ds

    systems: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="slabdb-bench-run-") as workdir:
        for name in [*SLABDB_SYSTEMS, *peers]:
            console.print(f"  running [cyan]{name}[/] ...", end="")
            t = time.perf_counter()
            doc = _spawn(name, p, Path(workdir))
            _score_recall(doc, truth)
            systems[name] = doc
            status = doc["status"]
            extra = "" if status == "ok" else f" ({doc.get('reason', '')[:120]})"
            console.print(f" {status} in {time.perf_counter() - t:.1f} s{extra}")

    result = {
        "benchmark": "slabdb-engine",
        "schema_version": 1,
        "environment": {**env, "load_average_at_end": environment()["load_average_1_5_15"]},
        "parameters": {
            **{k: v for k, v in asdict(p).items() if k != "profile_dir"},
            "metric": "cosine",
            "profiled": p.profile_dir is not None,
            "upsert_batch": UPSERT_BATCH,
            "peers": peers,
        },
        "dataset": {
            **asdict(p.spec),
            "dtype": "float32",
            "metadata": {
                "genre": "string, 100 values",
                "year": "integer 1950..2049",
                "active": "boolean",
            },
            "filters": {
                f.name: {
                    "filter": f.pinecone,
                    "sql": f.sql,
                    "description": f.description,
                    "selectivity": selectivity[f.name],
                }
                for f in FILTERS
            },
        },
        "systems": systems,
        "ratios": _ratios(systems),
        "skipped": {
            name: doc.get("reason", "")
            for name, doc in systems.items()
            if doc.get("status") != "ok"
        },
        "duration_seconds": time.perf_counter() - t0,
    }
    write_json(out, result)
    print_tables(result)
    console.print(f"wrote [bold]{out}[/] in {result['duration_seconds']:.0f} s")
    return result


# --- presentation -----------------------------------------------------------------------------


def _f(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def print_tables(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(shutil.get_terminal_size((140, 40)).columns, 120))
    systems = result["systems"]
    params = result["parameters"]
    env = result["environment"]
    console.print(
        f"\n[bold]n={params['n']:,} x dim={params['dim']}[/], {params['queries']} queries, "
        f"top_k={params['top_k']}, {env['cpu_count']} CPUs, commit "
        f"{(env['git_commit'] or '?')[:10]}, {env['date_utc']}, load average "
        f"{env.get('load_average_1_5_15')} -> {env.get('load_average_at_end')}"
    )

    ingest = Table(title="Ingest (and peak memory of each system's process)")
    for col in ("system", "how", "vectors/s", "seconds", "peak RSS MB", "over base MB"):
        ingest.add_column(col, justify="left" if col in ("system", "how") else "right")
    for name, doc in systems.items():
        if doc.get("status") != "ok":
            continue
        ing, mem = doc["ingest"], doc["memory"]
        ingest.add_row(
            name,
            ing["path"],
            _f(ing["vectors_per_s"], 0),
            _f(ing["seconds"]),
            _f(mem["peak_rss_mb"], 0),
            _f(mem["peak_over_baseline_mb"], 0),
        )
    console.print(ingest)

    slab = systems.get("slabdb", {})
    if slab.get("status") == "ok":
        life = slab["lifecycle"]
        t = Table(title="SlabDB lifecycle (background=False)")
        t.add_column("step")
        t.add_column("seconds", justify="right")
        t.add_column("slabs per level after")
        t.add_column("memtable records", justify="right")

        def levels(state: dict[str, Any]) -> str:
            return ", ".join(f"{k}:{v}" for k, v in state["slabs_per_level"].items()) or "-"

        t.add_row(
            f"bulk ingest {params['n']:,}",
            _f(slab["ingest"]["seconds"]),
            levels(life["after_ingest"]),
            str(life["after_ingest"]["memtable_records"]),
        )
        t.add_row(
            f"flush remainder ({life['flush_remainder']['records']} rec)",
            _f(life["flush_remainder"]["seconds"], 3),
            levels(life["after_flush"]),
            str(life["after_flush"]["memtable_records"]),
        )
        t.add_row(
            f"compaction ({life['compaction']['tasks']} task(s))",
            _f(life["compaction"]["seconds"]),
            levels(life["after_compaction"]),
            str(life["after_compaction"]["memtable_records"]),
        )
        t.add_row(
            f"re-upsert {life['fresh_upsert']['records']:,} (fresh)",
            _f(life["fresh_upsert"]["seconds"]),
            levels(life["fresh_state"]),
            str(life["fresh_state"]["memtable_records"]),
        )
        t.add_row(
            f"flush {life['flush']['records']:,} records",
            _f(life["flush"]["seconds"], 3),
            levels(life["after_fresh_flush"]),
            str(life["after_fresh_flush"]["memtable_records"]),
        )
        console.print(t)

    q = Table(title=f"Query latency p50 / p99 (ms), top_k={params['top_k']}, and recall@k")
    q.add_column("system (stage)")
    for f in FILTERS:
        q.add_column(f"{f.name} p50/p99", justify="right")
        q.add_column("recall", justify="right")
    for name, doc in systems.items():
        if doc.get("status") != "ok" or "queries" not in doc:
            continue
        for stage, per_filter in doc["queries"].items():
            row = [name if stage == PEER_STAGE else f"{name} ({stage})"]
            for f in FILTERS:
                s = per_filter.get(f.name)
                row += (
                    ["-", "-"]
                    if s is None
                    else [f"{_f(s['p50_ms'])} / {_f(s['p99_ms'])}", _f(s.get("recall_at_k"), 3)]
                )
            q.add_row(*row)
    console.print(q)

    if result["ratios"]:
        r = Table(
            title="SlabDB / peer (times: >1 = SlabDB slower; SlabDB queries after compaction)"
        )
        r.add_column("peer")
        cols = ["ingest_seconds"] + [
            f"query_{f.name}_{pct}" for f in FILTERS for pct in ("p50", "p99")
        ]
        for c in cols:
            r.add_column(c.replace("query_", "").replace("_seconds", ""), justify="right")
        r.add_column("peak RSS", justify="right")
        for peer, entry in result["ratios"].items():
            r.add_row(peer, *[_f(entry.get(c)) for c in [*cols, "peak_rss"]])
        console.print(r)

    if result["skipped"]:
        s = Table(title="Skipped or failed")
        s.add_column("system")
        s.add_column("reason")
        for name, reason in result["skipped"].items():
            s.add_row(name, reason)
        console.print(s)


# --- CLI --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=None, help="records (default 100000; quick 10000)")
    ap.add_argument("--dim", type=int, default=None, help="dimension (default 384; quick 32)")
    ap.add_argument("--queries", type=int, default=None, help="queries per workload (200)")
    ap.add_argument("--top-k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument(
        "--flush-records",
        type=int,
        default=None,
        help="memtable size that triggers a flush (engine default; quick: n/10)",
    )
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output path")
    ap.add_argument(
        "--peers",
        default=",".join(PEERS),
        help=f"comma list of peers to compare (default all: {','.join(PEERS)}; '' for none)",
    )
    ap.add_argument("--quick", action="store_true", help="tiny sizes for a smoke run")
    ap.add_argument(
        "--profile",
        metavar="DIR",
        default=None,
        help="write pyinstrument profiles of SlabDB phases to DIR (distorts timings)",
    )
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--worker-params", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--worker-out", type=Path, default=None, help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker is not None:
        if args.worker not in WORKERS or args.worker_params is None or args.worker_out is None:
            raise SystemExit(f"bad worker invocation: {args.worker!r}")
        run_worker(args.worker, Params(**json.loads(args.worker_params)), args.worker_out)
        return 0
    peers = [x.strip() for x in args.peers.split(",") if x.strip() and x.strip() != "none"]
    unknown = [x for x in peers if x not in PEERS]
    if unknown:
        raise SystemExit(f"unknown peers {unknown}; known: {', '.join(PEERS)}")
    p = resolve_params(args)
    if p.fresh_records >= p.flush_records:
        raise SystemExit("--flush-records is too small to keep the fresh records in a memtable")
    orchestrate(p, peers, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
