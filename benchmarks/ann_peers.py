"""Peer vector stores for ``ann.py``, each run inside its own worker subprocess.

Every worker takes the data set, the query count, k and the ``bucket`` column, and
returns ``{"build_seconds", "config", "stages": {"peer": {filter: summary + ids}}}``.
Filters are ``bucket < 1 / 10 / 50`` in each system's own filter language.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np

from ann_data import RealSet
from common import Stopwatch, package_version, time_queries

FILTERS: dict[str, int | None] = {"none": None, "1%": 1, "10%": 10, "50%": 50}


def _stages(run_for: Callable[[int | None], Callable[[int], list[str]]], queries: int) -> dict:
    out: dict[str, Any] = {}
    for name, limit in FILTERS.items():
        summary, ids = time_queries(run_for(limit), queries)
        summary["ids"] = ids
        out[name] = summary
    return {"peer": out}


def worker_chroma(data: RealSet, queries: int, k: int, bucket: np.ndarray) -> dict[str, Any]:
    import chromadb
    from chromadb.config import Settings

    tmp = tempfile.mkdtemp(prefix="chroma-ann-")
    try:
        client = chromadb.PersistentClient(path=tmp, settings=Settings(anonymized_telemetry=False))
        col = client.create_collection(
            name="bench", embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )
        batch = int(client.get_max_batch_size())
        n = len(data.texts)
        with Stopwatch() as build:
            for s in range(0, n, batch):
                e = min(s + batch, n)
                col.add(
                    ids=[f"d{i}" for i in range(s, e)],
                    embeddings=data.vectors[s:e],
                    metadatas=[{"bucket": int(b)} for b in bucket[s:e]],
                )

        def run_for(limit: int | None) -> Callable[[int], list[str]]:
            where = None if limit is None else {"bucket": {"$lt": limit}}

            def run(i: int) -> list[str]:
                res = col.query(
                    query_embeddings=data.queries[i : i + 1],
                    n_results=k,
                    where=where,
                    include=["distances"],
                )
                return list(res["ids"][0])

            return run

        stages = _stages(run_for, queries)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "build_seconds": build.seconds,
        "stages": stages,
        "config": {"version": package_version("chromadb"), "index": "HNSW (defaults)"},
    }


def worker_lancedb(data: RealSet, queries: int, k: int, bucket: np.ndarray) -> dict[str, Any]:
    import lancedb
    import pyarrow as pa

    tmp = tempfile.mkdtemp(prefix="lancedb-ann-")
    n, dim = data.vectors.shape
    partitions, sub_vectors = max(16, int(np.sqrt(n))), dim // 8
    try:
        db = lancedb.connect(tmp)
        with Stopwatch() as build:
            flat = pa.array(data.vectors.reshape(-1), type=pa.float32())
            table = pa.table(
                {
                    "id": pa.array([f"d{i}" for i in range(n)], type=pa.string()),
                    "vector": pa.FixedSizeListArray.from_arrays(flat, dim),
                    "bucket": pa.array(bucket, type=pa.int32()),
                }
            )
            tbl = db.create_table("bench", data=table)
            tbl.create_index(
                metric="cosine",
                vector_column_name="vector",
                index_type="IVF_PQ",
                num_partitions=partitions,
                num_sub_vectors=sub_vectors,
            )

        def run_for(limit: int | None) -> Callable[[int], list[str]]:
            def run(i: int) -> list[str]:
                qb = tbl.search(data.queries[i]).distance_type("cosine").limit(k)
                qb = qb.nprobes(20).refine_factor(10).select(["id"])
                if limit is not None:
                    qb = qb.where(f"bucket < {limit}", prefilter=True)
                return [str(x) for x in qb.to_arrow()["id"].to_pylist()]

            return run

        stages = _stages(run_for, queries)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "build_seconds": build.seconds,
        "stages": stages,
        "config": {
            "version": package_version("lancedb"),
            "index": "IVF_PQ",
            "num_partitions": partitions,
            "num_sub_vectors": sub_vectors,
            "nprobes": 20,
            "refine_factor": 10,
        },
    }


def worker_qdrant(data: RealSet, queries: int, k: int, bucket: np.ndarray) -> dict[str, Any]:
    from qdrant_client import QdrantClient, models

    # Local mode in memory: with ``path=`` it stores every point through SQLite (46 s per
    # 10k points measured here, over 7 minutes for 100k) while searching the same numpy
    # arrays, so the in-memory client measures the same search at a tenth of the time.
    tmp = tempfile.mkdtemp(prefix="qdrant-ann-")
    n, dim = data.vectors.shape
    try:
        client = QdrantClient(":memory:")
        client.create_collection(
            "bench", vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE)
        )
        with Stopwatch() as build:
            client.upload_collection(
                "bench",
                vectors=data.vectors,
                payload=[{"bucket": int(b)} for b in bucket],
                ids=list(range(n)),
                batch_size=1000,
            )

        def run_for(limit: int | None) -> Callable[[int], list[str]]:
            flt = (
                None
                if limit is None
                else models.Filter(
                    must=[models.FieldCondition(key="bucket", range=models.Range(lt=limit))]
                )
            )

            def run(i: int) -> list[str]:
                res = client.query_points("bench", query=data.queries[i], limit=k, query_filter=flt)
                return [f"d{p.id}" for p in res.points]

            return run

        stages = _stages(run_for, queries)
        client.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "build_seconds": build.seconds,
        "stages": stages,
        "config": {"version": package_version("qdrant-client"), "mode": "local (:memory:)"},
    }


WORKERS: dict[str, Callable[[RealSet, int, int, np.ndarray], dict[str, Any]]] = {
    "chroma": worker_chroma,
    "lancedb": worker_lancedb,
    "qdrant": worker_qdrant,
}
