"""Which index for small and medium slabs: faiss alone, one thread, real embeddings.

    .venv/bin/python benchmarks/flat_codes.py [--n 100000] [--queries 300]

The candidates for slabs below the IVF threshold, each searched for one query at a
time and (for the compressed codes) re-ranked exactly from the float32 vectors, as
SlabDB does: HNSW (M = 32, efConstruction 40), flat PQ fast-scan codes with dim/2,
dim/4 and dim/8 sub-quantizers (``IVF1,PQ{m}x4fs``), RaBitQ (plain and fast-scan) and
8-/4-bit scalar quantization, at re-rank depths 50-400; recall@10 against brute force,
µs per query (search + re-rank), build seconds (train + add).  Also a layout of ten
10k-row flat indexes (the post-ingest L0 slabs) against one over all the rows and
against the ten encoded with one codebook and merged into one index (as SlabDB searches
its L0 slabs), and the flat codes under a 50 % and a 10 % ID selector.  Data: the Debian descriptions of
``ann_data`` (MiniLM, 384-d, unit norm).  JSON in ``benchmarks/results/flat_codes.json``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from ann_data import load_real_set
from common import environment, write_json

K = 10
DEPTHS = (50, 100, 200, 400)
OUT = Path(__file__).resolve().parent / "results" / "flat_codes.json"


def truth(base: np.ndarray, queries: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    scores = queries @ base.T
    if allowed is not None:
        scores[:, ~allowed] = -np.inf
    return np.argsort(-scores, axis=1)[:, :K]


def measure(
    search: Callable[[np.ndarray], np.ndarray], base: np.ndarray, queries: np.ndarray,
    gt: np.ndarray, rerank: bool,
) -> dict[str, float]:  # fmt: skip
    """Mean recall@10 and µs per query of ``search`` (labels of one query), re-ranked."""
    hits, started = 0, time.perf_counter()
    for i, q in enumerate(queries):
        labels = search(q[None])
        labels = labels[labels >= 0]
        if rerank:
            labels = labels[np.argsort(-(base[labels] @ q))]
        hits += len(set(labels[:K].tolist()) & set(gt[i].tolist()))
    seconds = time.perf_counter() - started
    return {"recall_at_10": hits / (K * len(queries)), "us_per_query": 1e6 * seconds / len(queries)}


def built(spec: str, base: np.ndarray) -> tuple[Any, float]:
    index = faiss.index_factory(base.shape[1], spec, faiss.METRIC_INNER_PRODUCT)
    started = time.perf_counter()
    index.train(base[: min(len(base), 10_000)])
    index.add(base)
    return index, time.perf_counter() - started


def codes(base: np.ndarray, queries: np.ndarray, gt: np.ndarray) -> dict[str, Any]:
    dim = base.shape[1]
    out: dict[str, Any] = {}
    hnsw = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = 40
    started = time.perf_counter()
    hnsw.add(base)
    build = time.perf_counter() - started
    for ef in (24, 48, 64, 96):
        p = faiss.SearchParametersHNSW(efSearch=ef)
        row = measure(lambda q, p=p: hnsw.search(q, K, params=p)[1][0], base, queries, gt, False)
        out[f"HNSW32 ef{ef}"] = {**row, "build_seconds": build}
    specs = [f"IVF1,PQ{dim // d}x4fs" for d in (2, 4, 8)] + ["RaBitQ", "SQ8", "SQ4"]
    for spec in specs:
        index, build = built(spec, base)
        params = faiss.SearchParametersIVF(nprobe=1) if spec.startswith("IVF") else None
        for depth in DEPTHS:
            row = measure(
                lambda q, d=depth, i=index, p=params: i.search(q, d, params=p)[1][0],
                base, queries, gt, True,
            )  # fmt: skip
            out[f"{spec} depth{depth}"] = {**row, "build_seconds": build}
    return out


def layouts(base: np.ndarray, queries: np.ndarray, gt: np.ndarray) -> dict[str, Any]:
    """Ten 10k flat indexes (labels offset) against one, and selectors on the one."""
    spec, depth = f"IVF1,PQ{base.shape[1] // 4}x4fs", 100
    params = faiss.SearchParametersIVF(nprobe=1)
    own = [
        (start, *built(spec, base[start : start + 10_000])) for start in range(0, len(base), 10_000)
    ]
    parts = [(start, index) for start, index, _seconds in own]

    def ten(q: np.ndarray) -> np.ndarray:
        found = [start + p.search(q, depth // 2, params=params)[1][0] for start, p in parts]
        return np.concatenate(found)

    one, _ = built(spec, base)
    merged, timings = _one_codebook_merged(parts, base)
    out: dict[str, Any] = {
        "seconds: 10k flat with its own codebook (train + add), with a shared one (add); "
        "merging the ten, extending nine by one": {
            "own": float(np.median([seconds for _s, _i, seconds in own])),
            **timings,
        },
        f"{len(parts)} x 10k flat, depth {depth // 2} each": measure(ten, base, queries, gt, True),
        "1 flat over all rows, depth 100": measure(
            lambda q: one.search(q, depth, params=params)[1][0], base, queries, gt, True
        ),
        f"{len(parts)} x 10k flat, faiss search only": measure(ten, base, queries, gt, False),
        "1 flat over all rows, faiss search only": measure(
            lambda q: one.search(q, depth, params=params)[1][0], base, queries, gt, False
        ),
        f"{len(parts)} x 10k flat, one codebook, merged, depth 100": measure(
            lambda q: merged.search(q, depth, params=params)[1][0], base, queries, gt, True
        ),
    }
    rng = np.random.default_rng(1)
    for share in (0.5, 0.1):
        allowed = rng.random(len(base)) < share
        bits = np.packbits(allowed, bitorder="little")
        sel = faiss.SearchParametersIVF(
            nprobe=1, sel=faiss.IDSelectorBitmap(len(base), faiss.swig_ptr(bits))
        )
        out[f"1 flat, {int(share * 100)} % selector, depth 100"] = measure(
            lambda q, sel=sel: one.search(q, depth, params=sel)[1][0],
            base, queries, truth(base, queries, allowed), True,
        )  # fmt: skip
    return out


def _one_codebook_merged(
    parts: list[tuple[int, Any]], base: np.ndarray
) -> tuple[Any, dict[str, float]]:
    """The L0 layout as SlabDB searches it (``slabdb.engine.code_groups``): every 10k
    part encoded with the first part's quantizers, the codes appended into one index
    (``slabdb.slab.ann_merge.appended``), ids offset by each part's first row; and the
    seconds of encoding a part (median, no training), of merging all the parts, and of
    extending the merge of all but the last by the last (what a flush costs a group)."""
    from slabdb.slab.ann_merge import appended

    codebook = faiss.clone_index(parts[0][1])
    codebook.reset()
    shared, seconds = [], []
    for start, _own in parts:
        part = faiss.clone_index(codebook)
        started = time.perf_counter()
        part.add(base[start : start + 10_000])
        seconds.append(time.perf_counter() - started)
        shared.append((part, start))
    started = time.perf_counter()
    merged = appended(None, shared)
    merge_seconds = time.perf_counter() - started
    all_but_last = appended(None, shared[:-1])
    started = time.perf_counter()
    appended(all_but_last, shared[-1:])
    extend_seconds = time.perf_counter() - started
    timings = {"shared": float(np.median(seconds)), "merge": merge_seconds}
    return merged, {**timings, "extend_by_one": extend_seconds}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args()
    faiss.omp_set_num_threads(1)
    data = load_real_set(args.n, args.queries)
    base = np.ascontiguousarray(data.vectors, dtype=np.float32)
    queries = np.ascontiguousarray(data.queries, dtype=np.float32)
    gt = truth(base, queries, None)
    doc = {
        "environment": environment(),
        "n": len(base),
        "queries": len(queries),
        "codes": codes(base, queries, gt),
        "layouts": layouts(base, queries, gt),
    }
    for name, row in {**doc["codes"], **doc["layouts"]}.items():
        if "recall_at_10" not in row:
            print(f"{name}: {row}")
            continue
        print(f"{name:45s} recall {row['recall_at_10']:.3f}  {row['us_per_query']:7.0f} us")
    print("wrote", write_json(args.out, doc))


if __name__ == "__main__":
    main()
