#!/usr/bin/env python
"""Python per query on the embedded path: ``Index.query`` against the search underneath.

Run from the repository root::

    .venv/bin/python benchmarks/query_overhead.py                 # 20k and 100k, ~4 min
    .venv/bin/python benchmarks/query_overhead.py --sizes 20000 --profile
    .venv/bin/python benchmarks/query_overhead.py --keep /tmp/qo  # reuse the built slabs

Data: the first ``n`` rows of ``benchmarks/results/cache/debian-minilm.npy`` (real
384-d MiniLM embeddings, :mod:`ann_data`), cosine; the file's last
:data:`QUERY_ROWS` rows (never indexed) are the queries.  Each size is one namespace,
ingested with ``upsert_arrays`` and compacted into one slab: with an HNSW graph
(``--index hnsw``, the default here: ``AnnConfig(min_rows=n, flat_min_rows=0)``) or
with the index the engine's defaults choose for its size (``--index default``).

Each round times five passes over the same queries, one after the other, one query
per call, on one thread (wall time, ``perf_counter``, and the thread's CPU time):

- ``query``: ``Index.query(vector=q, top_k=10, namespace=...)`` (q a float32 ndarray);
- ``slab_search``: ``SlabReader.search`` of the slab with the same vector, metric and k
  (the ANN proposal, the exact re-rank, the candidate bitmap: :mod:`slabdb.slab.search`);
- ``faiss``: the faiss ``search`` calls alone, with the arguments SlabDB passed them
  (recorded once: the query in index space, the candidate count, the parameters);
- ``api_replayed``: ``Index.query`` with ``SlabReader.search`` answering from a recording
  (no search at all: the client, the view and the response alone);
- ``python_replayed``: ``Index.query`` with the faiss index answering from a recording
  (all of SlabDB's Python and numpy, without the graph search or its cache misses).

``api_us`` = query − slab_search (what ``Index.query`` adds above the slab);
``python_us`` = query − faiss (everything SlabDB does around the graph search, including
the cache misses its code takes after the graph search evicted it); ``*_cpu_us`` the same
in thread CPU time (as ``benchmarks/ann.py``'s ``python_us_per_query``).  Medians over
rounds of the per-round differences; ``*_best_us``: the fastest round of each layer
minus the fastest of the one below (steadier on a loaded machine).  ``--profile`` writes a pyinstrument profile of
query passes next to the JSON.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ann import compact_fully, open_namespace
from common import environment, write_json

K = 10
QUERY_ROWS = 1000
"""Queries: the last rows of the embeddings file (102k rows: never among the indexed)."""
NAMESPACE = "qo"
RESULTS = Path(__file__).resolve().parent / "results"
VECTORS = RESULTS / "cache" / "debian-minilm.npy"


def build(n: int, store_dir: Path, kind: str) -> tuple[Any, Any]:
    """(client, index) whose namespace holds the first ``n`` vectors in one slab, with
    an HNSW graph (``kind`` "hnsw") or the engine's default index; a directory built
    before (``ready`` marker) is reopened as is."""
    from slabdb import EngineConfig
    from slabdb.client import Client
    from slabdb.core.config import AnnConfig
    from slabdb.storage import open_store

    ready = store_dir / "ready"
    ann = AnnConfig(min_rows=n, flat_min_rows=0) if kind == "hnsw" else AnnConfig()
    client = Client(open_store(str(store_dir)), EngineConfig(background=False, ann=ann))
    if not ready.exists():
        vectors = np.ascontiguousarray(np.load(VECTORS, mmap_mode="r")[:n], dtype=np.float32)
        client.create_index(name="qo", dimension=vectors.shape[1], metric="cosine")
        index = client.Index("qo")
        ids = [f"d{i}" for i in range(n)]
        index.upsert_arrays(ids, vectors, namespace=NAMESPACE, show_progress=False)
        compact_fully(open_namespace(client, NAMESPACE))
        ready.write_text("1\n")
    return client, client.Index("qo")


class _Replay:
    """Stands in for a callable: returns its recorded answers in turn, doing no work
    (every other attribute is the original's)."""

    def __init__(self, inner: Any, answers: list[Any]) -> None:
        self.inner, self._answers, self._next = inner, answers, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __call__(self, *_args: Any, **_kwargs: Any) -> Any:
        answer = self._answers[self._next]
        self._next = (self._next + 1) % len(self._answers)
        return answer

    search = __call__


class _Recorder:
    """Stands in for a faiss index: records the arguments of every ``search``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def search(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((args, kwargs))
        return self.inner.search(*args, **kwargs)


def _graph_calls(ann: Any, run: Any) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """The faiss ``search`` calls (query in index space, k, parameters) SlabDB makes
    during ``run()``, to repeat them alone."""
    original = ann._index
    ann._index = recorder = _Recorder(original)
    try:
        run()
    finally:
        ann._index = original
    return recorder.calls


def _runners(index: Any, ns: Any, queries: np.ndarray) -> dict[str, Any]:
    """One pass of each timed layer over ``queries`` (see the module docstring)."""
    readers = list(ns.readers().values())
    if len(readers) != 1:
        raise SystemExit(f"expected one slab after compaction, found {len(readers)}")
    reader = readers[0]
    ann = reader.ann_index()
    rows = list(queries)

    def query() -> None:
        for q in rows:
            index.query(vector=q, top_k=K, namespace=NAMESPACE)

    def slab_search() -> None:
        for q in rows:
            reader.search(vector=q, sparse=None, metric="cosine", k=K)

    def replayed(owner: Any, name: str, answers: list[Any]) -> Any:
        def run() -> None:
            original = getattr(owner, name)
            setattr(owner, name, _Replay(original, answers))
            try:
                query()
            finally:
                setattr(owner, name, original)

        return run

    runners = {"query": query, "slab_search": slab_search}
    calls = _graph_calls(ann, slab_search) if ann is not None else []
    found = [reader.search(vector=q, sparse=None, metric="cosine", k=K) for q in rows]
    runners["query_slab_replayed"] = replayed(reader, "search", found)
    if len(calls) == len(rows):  # every query answered from the graph
        graph = ann._index

        def faiss_only() -> None:
            for args, kwargs in calls:
                graph.search(*args, **kwargs)

        labels = [graph.search(*args, **kwargs) for args, kwargs in calls]
        runners["faiss"] = faiss_only
        runners["query_faiss_replayed"] = replayed(ann, "_index", labels)
    return runners


def measure(index: Any, ns: Any, queries: np.ndarray, rounds: int) -> dict[str, Any]:
    """Median µs per query of each layer, and of the differences, over ``rounds``."""
    runners = _runners(index, ns, queries)
    for run in runners.values():  # warm-up: loads the ANN index, faults the pages in
        run()
    wall: dict[str, list[float]] = {name: [] for name in runners}
    cpu: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            started, started_cpu = time.perf_counter(), time.thread_time()
            run()
            cpu[name].append((time.thread_time() - started_cpu) / len(queries) * 1e6)
            wall[name].append((time.perf_counter() - started) / len(queries) * 1e6)
    out: dict[str, Any] = {f"{name}_us": statistics.median(v) for name, v in wall.items()}
    for suffix, times in (("", wall), ("_cpu", cpu)):
        for what, below in (("api", "slab_search"), ("python", "faiss")):
            if below in times:
                out[f"{what}{suffix}_us"] = _median_gap(times, "query", below)
                out[f"{what}_best{suffix}_us"] = min(times["query"]) - min(times[below])
    out["api_replayed_us"] = out.pop("query_slab_replayed_us")
    if "faiss" in wall:
        out["python_replayed_us"] = out.pop("query_faiss_replayed_us")
    out["rounds"] = {"wall_us": wall, "thread_cpu_us": cpu}  # µs per query of each pass
    return out


def _median_gap(per_round: dict[str, list[float]], outer: str, inner: str) -> float:
    """The median over rounds of ``outer``'s µs per query minus ``inner``'s."""
    pairs = zip(per_round[outer], per_round[inner], strict=True)
    return statistics.median(a - b for a, b in pairs)


def profile(index: Any, queries: np.ndarray, path: Path, passes: int = 10) -> None:
    """A pyinstrument text profile of ``passes`` query passes (0.1 ms sampling)."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0001)
    with profiler:
        for _ in range(passes):
            for q in queries:
                index.query(vector=q, top_k=K, namespace=NAMESPACE)
    path.write_text(profiler.output_text(unicode=False, color=False, show_all=False))


def layout(ns: Any) -> dict[str, Any]:
    reader = next(iter(ns.readers().values()))
    ann = reader.ann_index()
    return {
        "rows": reader.n,
        "level": reader.level,
        "ann": None if ann is None else {"kind": ann.params.kind, "ef": ann.params.ef_search},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="20000,100000", help="comma list of row counts")
    parser.add_argument("--queries", type=int, default=QUERY_ROWS, help="queries per pass")
    parser.add_argument("--rounds", type=int, default=9, help="rounds (each: one pass a layer)")
    parser.add_argument("--index", choices=("hnsw", "default"), default="hnsw")
    parser.add_argument("--keep", type=Path, help="build (or reuse) the stores under this dir")
    parser.add_argument("--profile", action="store_true", help="write pyinstrument profiles")
    parser.add_argument("--out", type=Path, default=RESULTS / "query_overhead.json")
    args = parser.parse_args()
    all_rows = np.load(VECTORS, mmap_mode="r")
    queries = np.ascontiguousarray(all_rows[-min(args.queries, QUERY_ROWS) :], dtype=np.float32)
    root = args.keep or Path(tempfile.mkdtemp(prefix="slabdb-qo-"))
    results: dict[str, Any] = {}
    for n in (int(s) for s in args.sizes.split(",")):
        if n + QUERY_ROWS > len(all_rows):
            raise SystemExit(f"{n} rows leave fewer than {QUERY_ROWS} held-out queries")
        store_dir = root / (f"n{n}" if args.index == "hnsw" else f"n{n}-{args.index}")
        store_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        client, index = build(n, store_dir, args.index)
        ns = open_namespace(client, NAMESPACE) if client.open_namespace_entries() else None
        if ns is None:  # reopened: the namespace opens on first use
            index.query(vector=queries[0], top_k=K, namespace=NAMESPACE)
            ns = open_namespace(client, NAMESPACE)
        build_seconds = time.perf_counter() - started
        result: dict[str, Any] = {"layout": layout(ns), "build_seconds": build_seconds}
        result.update(measure(index, ns, queries, args.rounds))
        if args.profile:
            profile(index, queries, args.out.with_name(f"{args.out.stem}-profile-{n}.txt"))
        results[str(n)] = result
        brief = {k: round(v, 1) for k, v in result.items() if k.endswith("_us")}
        print(f"n={n}: {brief}", flush=True)
        client.close(flush=False)
    doc = {
        "benchmark": "query_overhead",
        "k": K,
        "index": args.index,
        "queries_per_pass": len(queries),
        "rounds": args.rounds,
        "environment": environment(),
        "sizes": results,
    }
    print(f"wrote {write_json(args.out, doc)}")
    if args.keep is None:  # the stores were only for this run
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
