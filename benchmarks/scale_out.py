"""Stateless nodes on one store: throughput with 1-3 nodes, staleness, read-your-writes,
object-store requests per query, in one run.

    python benchmarks/scale_out.py            # 100k x 384 real embeddings, ~5 min
    python benchmarks/scale_out.py --small    # 5k x 384, short phases (the smoke test)

Set-up: one moto S3 server (in this process, requests serialized under one lock as
``slabdb.testing.s3`` does), one Postgres control catalog (Debian's binaries; a shared
SQLite file when they are missing, stated in the JSON) and three ``slabdb serve`` nodes
on them.  The index is created through node 1; its records are loaded, flushed and
compacted by an embedded client on the same store (``upsert_arrays``, the shape a
builder leaves: one L1 slab with its ANN index in the full run), so every node serves the
same slabs.  Vectors: the Debian package-description MiniLM embeddings cached by
``benchmarks/ann_data.py`` when present (else clustered synthetic ones, stated).

Phases:

* ``requests_per_query``: an embedded client over a counting store wrapper
  (``HookStore``, one call = one request) with a fresh slab cache runs what a node runs
  per query: cold (opens the namespace), warm (same query), warm steady (other queries),
  a refresh that finds nothing new, and a read-your-writes catch-up.
* ``throughput``: REST queries (top-10, no values; 50 distinct ones, each run once on
  every node first, so the slab cache is warm) for ``--seconds`` from client processes
  (one per node, ``--threads`` threads each) against the first 1, 2, 3 nodes; QPS,
  latency, and the CPU seconds the node processes used (``psutil``), so CPU-ms per
  query.  Nodes, clients and moto share the machine's cores (reported, with its load).
* ``staleness``: a write through node 1, then node 2 polled (plain fetch, every 5 ms)
  until it sees it: the delay's p50 / p99 / max with the refresh interval used.
* ``read_your_writes``: a write through node 1, then one fetch through node 2 with
  ``x-slabdb-min-lsn``: its latency (always visible: asserted), against a plain fetch.
* ``bulk``: the figures of ``benchmarks/results/bulk.json`` (``benchmarks/bulk.py``),
  quoted with their date, when that file exists.

JSON to ``benchmarks/results/scale_out.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).parent))
import slabdb
from common import DatasetSpec, environment, latency_summary, make_dataset, write_json
from slabdb import EngineConfig
from slabdb.control.catalog_db import ControlCatalog
from slabdb.control.prefixed_store import PrefixedStore
from slabdb.core.config import DEFAULT_BACKGROUND_INTERVAL_SECONDS, CacheConfig
from slabdb.engine.maintenance import compact_until_idle
from slabdb.storage import open_store
from slabdb.testing.cluster import Node, new_catalog, node_cluster
from slabdb.testing.postgres import find_pg_bin, temporary_postgres
from slabdb.testing.s3 import MotoS3Server, moto_s3_server
from slabdb.testing.stores import HookStore

RESULTS = Path(__file__).parent / "results"
REAL_VECTORS = RESULTS / "cache" / "debian-minilm.npy"
MIN_LSN = "x-slabdb-min-lsn"
INDEX = "scale"
DIM = 384
TOP_K = 10
THROUGHPUT_QUERIES = 50
"""Distinct queries cycled in the throughput phase (each node runs them all first)."""
REQUESTS = ("get", "get_range", "head", "list", "put", "put_if_absent", "put_if_match", "delete")


# --- set-up ---------------------------------------------------------------------------------
def load_vectors(n: int, queries: int) -> tuple[np.ndarray, np.ndarray, str]:
    """(data, queries, description): real embeddings if cached, else synthetic."""
    if REAL_VECTORS.exists():
        real = np.load(REAL_VECTORS, mmap_mode="r")
        if len(real) >= n + queries:
            data = np.ascontiguousarray(real[:n], dtype=np.float32)
            held_out = np.ascontiguousarray(real[-queries:], dtype=np.float32)
            return (
                data,
                held_out,
                f"Debian package descriptions, MiniLM 384-d ({REAL_VECTORS.name})",
            )
    ds = make_dataset(DatasetSpec(n=n, dim=DIM, queries=queries))
    return ds.vectors, ds.queries, "synthetic: 100 Gaussian clusters (benchmarks/common.py)"


def catalog_for(stack: ExitStack, tmp: Path) -> tuple[str, str]:
    """(catalog URL, kind): Postgres when its binaries are there, else a shared SQLite file."""
    if find_pg_bin() is not None:
        pg = stack.enter_context(temporary_postgres())
        return new_catalog(pg, "scale_out"), "postgres"
    return str(tmp / "catalog.sqlite3"), "sqlite (PostgreSQL binaries missing)"


def project_store(s3: MotoS3Server, data_url: str, catalog: str) -> PrefixedStore:
    """The default project's part of the store, as the nodes see it."""
    prefix = ControlCatalog(catalog).get_project("default").store_prefix
    return PrefixedStore(open_store(data_url, **s3.store_kwargs), prefix)


def create_index(node: Node, key: str) -> int:
    """Create the index through ``node``; its slot."""
    spec = {"serverless": {"cloud": "aws", "region": "us-east-1"}}
    body = {"name": INDEX, "dimension": DIM, "metric": "cosine", "spec": spec}
    r = httpx.post(node.url + "/indexes", headers={"Api-Key": key}, json=body, timeout=60)
    r.raise_for_status()
    return int(r.json()["host"].rsplit(":", 1)[1]) - node.port


def load(store: PrefixedStore, vectors: np.ndarray, tmp: Path) -> dict[str, Any]:
    """Upsert, flush and compact with an embedded client; the slabs' shape and sizes."""
    config = EngineConfig(background=False, cache=CacheConfig(disk_dir=str(tmp / "loader")))
    db = slabdb.Client(store, config)
    started = time.perf_counter()
    index = db.Index(INDEX)
    index.upsert_arrays([f"v{i}" for i in range(len(vectors))], vectors, show_progress=False)
    index.flush()
    (ns,) = db.open_namespaces()
    compact_until_idle(ns)
    seconds = time.perf_counter() - started
    slabs = [{"level": s.level, "rows": s.count, "bytes": s.size_bytes} for s in ns.manifest.slabs]
    db.close(flush=False)
    return {"seconds_upsert_flush_compact": round(seconds, 2), "slabs": slabs}


# --- requests per query -----------------------------------------------------------------------
def _requests(store: HookStore) -> dict[str, int]:
    found = {name: store.calls[name] for name in REQUESTS if store.calls.get(name)}
    store.calls.clear()
    return {**found, "total": sum(found.values())}


def requests_per_query(store: PrefixedStore, queries: np.ndarray, tmp: Path) -> dict[str, Any]:
    """What a node's engine asks the store for per query (a fresh cache: cold)."""
    hooked = HookStore(store)
    config = EngineConfig(background=False, cache=CacheConfig(disk_dir=str(tmp / "counting")))
    db = slabdb.Client(hooked, config)
    index = db.Index(INDEX)
    _requests(hooked)
    out: dict[str, Any] = {}
    index.query(vector=queries[0].tolist(), top_k=TOP_K)
    out["cold_first_query"] = _requests(hooked)
    index.query(vector=queries[0].tolist(), top_k=TOP_K)
    out["warm_same_query"] = _requests(hooked)
    steady = min(50, len(queries) - 1)
    for q in queries[1 : 1 + steady]:
        index.query(vector=q.tolist(), top_k=TOP_K)
    counted = _requests(hooked)
    out["warm_other_queries_per_query"] = {k: v / steady for k, v in counted.items()}
    (ns,) = db.open_namespaces()
    ns.refresh()
    out["refresh_nothing_new"] = _requests(hooked)
    writer = slabdb.Client(
        store, EngineConfig(background=False, cache=CacheConfig(disk_dir=str(tmp / "writer")))
    )
    lsn = writer.Index(INDEX).upsert(vectors=[("rw-probe", queries[0].tolist())]).lsn
    writer.close(flush=False)
    _requests(hooked)
    assert "rw-probe" in index.fetch(ids=["rw-probe"], min_lsn=lsn).vectors
    out["read_your_writes_catch_up"] = _requests(hooked)
    db.close(flush=False)
    return out


# --- throughput -------------------------------------------------------------------------------
def _client_load(
    args: tuple[str, str, list[list[float]], int, float],
) -> tuple[list[float], float, float]:
    """One client process: ``threads`` threads querying ``url`` for ``seconds``; the
    latencies and the window (``time.monotonic``, the same clock in every process)."""
    url, key, queries, threads, seconds = args
    latencies: list[float] = []
    lock = threading.Lock()
    started = time.monotonic()
    stop_at = started + seconds

    def run(offset: int) -> None:
        mine: list[float] = []
        with httpx.Client(headers={"Api-Key": key}, timeout=60) as http:
            i = offset
            while time.monotonic() < stop_at:
                body = {"vector": queries[i % len(queries)], "topK": TOP_K}
                t0 = time.perf_counter()
                http.post(url + "/query", json=body).raise_for_status()
                mine.append(time.perf_counter() - t0)
                i += threads
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return latencies, started, time.monotonic()


def _ready(_: int) -> int:
    time.sleep(0.5)  # long enough that every process takes one
    return os.getpid()


def _warm(url: str, key: str, queries: list[list[float]]) -> None:
    """Run every query once: the node has the namespace open and every slab section and
    vector page these queries touch cached (the throughput phase makes no store request)."""
    with httpx.Client(headers={"Api-Key": key}, timeout=120) as http:
        for q in queries:
            http.post(url + "/query", json={"vector": q, "topK": TOP_K}).raise_for_status()


def _cpu_seconds(nodes: list[Node]) -> list[float]:
    out = []
    for node in nodes:
        assert node.proc is not None
        t = psutil.Process(node.proc.pid).cpu_times()
        out.append(t.user + t.system)
    return out


def throughput(
    nodes: list[Node], urls: list[str], key: str, queries: np.ndarray, threads: int,
    seconds: float,
) -> dict[str, Any]:  # fmt: skip
    qs = [q.tolist() for q in queries[:THROUGHPUT_QUERIES]]
    warmers = [threading.Thread(target=_warm, args=(url, key, qs)) for url in urls]
    for w in warmers:
        w.start()
    for w in warmers:
        w.join()
    out: dict[str, Any] = {}
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(len(urls)) as pool:
        pool.map(_ready, range(len(urls)))  # the client processes are up before timing
        for n in range(1, len(urls) + 1):
            jobs = [(urls[i], key, qs, threads, seconds) for i in range(n)]
            cpu_before = _cpu_seconds(nodes)
            per_client = pool.map(_client_load, jobs)
            cpu = [b - a for a, b in zip(cpu_before, _cpu_seconds(nodes), strict=True)]
            wall = max(end for _, _, end in per_client) - min(t0 for _, t0, _ in per_client)
            lat = [x for part, _, _ in per_client for x in part]
            served = sum(cpu[:n])
            out[f"{n}_nodes"] = {
                "queries": len(lat),
                "qps": round(len(lat) / wall, 1),
                "latency": latency_summary(lat),
                "client_processes": n,
                "threads_per_client": threads,
                "node_cpu_seconds": [round(c, 2) for c in cpu],
                "serving_node_cpu_ms_per_query": round(1e3 * served / max(1, len(lat)), 3),
            }
    return out


# --- staleness and read-your-writes ---------------------------------------------------------------
def _upsert(http: httpx.Client, url: str, rid: str, vector: list[float]) -> int:
    r = http.post(url + "/vectors/upsert", json={"vectors": [{"id": rid, "values": vector}]})
    r.raise_for_status()
    return int(r.headers["x-pinecone-request-lsn"])


def _visible(http: httpx.Client, url: str, rid: str, min_lsn: int | None = None) -> bool:
    headers = {} if min_lsn is None else {MIN_LSN: str(min_lsn)}
    r = http.get(url + "/vectors/fetch", params={"ids": rid}, headers=headers)
    r.raise_for_status()
    return rid in r.json()["vectors"]


def staleness(writer: str, reader: str, key: str, vector: list[float], samples: int) -> dict:
    """Seconds from a write's acknowledgment through ``writer`` until ``reader`` shows it."""
    delays = []
    with httpx.Client(headers={"Api-Key": key}, timeout=60) as http:
        for i in range(samples):
            _upsert(http, writer, f"stale-{i}", vector)
            written = time.monotonic()
            while not _visible(http, reader, f"stale-{i}"):
                if time.monotonic() - written > 30:
                    raise RuntimeError(f"stale-{i} not visible through {reader} in 30 s")
                time.sleep(0.005)
            delays.append(time.monotonic() - written)
            time.sleep(0.137 * (i % 7))  # writes at varied phases of the refresh cycle
    return latency_summary(delays) | {"samples": samples}


def read_your_writes(writer: str, reader: str, key: str, vector: list[float], samples: int):
    """Latency of a fetch with the write's LSN through another node, and of a plain one."""
    with_lsn, plain = [], []
    with httpx.Client(headers={"Api-Key": key}, timeout=60) as http:
        for i in range(samples):
            lsn = _upsert(http, writer, f"ryw-{i}", vector)
            t0 = time.perf_counter()
            seen = _visible(http, reader, f"ryw-{i}", lsn)
            with_lsn.append(time.perf_counter() - t0)
            if not seen:
                raise AssertionError(f"ryw-{i} not visible with its LSN {lsn}")
            t0 = time.perf_counter()
            _visible(http, reader, f"ryw-{i}")
            plain.append(time.perf_counter() - t0)
    return {
        "samples": samples,
        "all_visible_at_once": True,
        "fetch_with_min_lsn": latency_summary(with_lsn),
        "plain_fetch_same_node": latency_summary(plain),
    }


def bulk_figures() -> dict[str, Any]:
    path = RESULTS / "bulk.json"
    if not path.exists():
        return {"status": "not run: python benchmarks/bulk.py writes benchmarks/results/bulk.json"}
    doc = json.loads(path.read_text())
    keep = ("parameters", "import", "import_without_ann", "upsert_arrays", "ratios")
    return {"source": "benchmarks/results/bulk.json", "date_utc": doc["environment"]["date_utc"],
            **{k: doc[k] for k in keep if k in doc}}  # fmt: skip


# --- main ---------------------------------------------------------------------------------------
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--small", action="store_true", help="5k vectors, short phases (smoke)")
    p.add_argument("--n", type=int, default=0, help="vectors (default 100,000; --small 5,000)")
    p.add_argument("--seconds", type=float, default=0.0, help="per throughput step (10; 2)")
    p.add_argument("--threads", type=int, default=2, help="threads per client process")
    p.add_argument("--samples", type=int, default=0, help="staleness/RYW samples (40; 8)")
    p.add_argument("--refresh", type=float, default=1.0, help="nodes' refresh interval (s)")
    p.add_argument("--out", default=str(RESULTS / "scale_out.json"))
    a = p.parse_args()
    n = a.n or (5_000 if a.small else 100_000)
    seconds = a.seconds or (2.0 if a.small else 10.0)
    samples = a.samples or (8 if a.small else 40)
    data, queries, source = load_vectors(n, 200)

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scale-out-")))
        s3 = stack.enter_context(moto_s3_server())
        catalog, catalog_kind = catalog_for(stack, tmp)
        data_url = s3.unique_url("scale-out")
        settings = [{"refresh_interval_seconds": str(a.refresh)}] * 3
        key, nodes = stack.enter_context(node_cluster(data_url, catalog, s3.env, settings))
        slot = create_index(nodes[0], key)
        urls = [node.wait_index(slot, key) for node in nodes]
        store = project_store(s3, data_url, catalog)
        loaded = load(store, data, tmp)
        counted = requests_per_query(store, queries, tmp)
        rate = throughput(nodes, urls, key, queries, a.threads, seconds)
        vector = queries[0].tolist()
        stale = staleness(urls[0], urls[1], key, vector, samples)
        ryw = read_your_writes(urls[0], urls[1], key, vector, samples)

    doc = {
        "benchmark": "scale_out",
        "environment": environment(),
        "parameters": {
            "n": n,
            "dim": DIM,
            "top_k": TOP_K,
            "vectors": source,
            "small": a.small,
            "store": "moto S3 server in the benchmark process (requests serialized)",
            "catalog": catalog_kind,
            "nodes": 3,
            "seconds_per_step": seconds,
            "threads_per_client": a.threads,
            "refresh_interval_seconds": a.refresh,
            "background_interval_seconds": DEFAULT_BACKGROUND_INTERVAL_SECONDS,
            "cores_shared_by_nodes_clients_and_store": os.cpu_count(),
        },
        "load": loaded,
        "requests_per_query": counted,
        "throughput": rate,
        "staleness_through_another_node": stale,
        "read_your_writes": ryw,
        "bulk": bulk_figures(),
    }
    print(json.dumps({k: doc[k] for k in ("throughput", "staleness_through_another_node")},
                     indent=1))  # fmt: skip
    print(f"wrote {write_json(a.out, doc)}")


if __name__ == "__main__":
    main()
