"""The official SDK's ``query_namespaces`` (its fan-out: one query per namespace, run on
the SDK's threads, merged by the SDK) against a real ``slabdb serve``, over REST and
gRPC: the merged top k is the brute-force top k across the namespaces, with filters,
and a namespace that does not exist adds nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from pinecone import Pinecone, ServerlessSpec
from slabdb_server_process import ServerProcess

SPEC = ServerlessSpec(cloud="aws", region="us-east-1")
NAMESPACES = ("alpha", "beta", "gamma")
PER_NAMESPACE, DIM, K = 40, 8, 7


@pytest.fixture(scope="module")
def records(server: ServerProcess) -> Iterator[dict[str, tuple[np.ndarray, dict[str, Any]]]]:
    rng = np.random.default_rng(5)
    out: dict[str, tuple[np.ndarray, dict[str, Any]]] = {}
    with Pinecone(api_key=server.api_key, host=server.url) as pc:
        pc.create_index(name="fanout", dimension=DIM, metric="cosine", spec=SPEC)
        index = pc.Index("fanout")
        for ns in NAMESPACES:
            vectors = rng.standard_normal((PER_NAMESPACE, DIM)).astype(np.float32)
            batch = []
            for i, v in enumerate(vectors):
                rid, md = f"{ns}-{i}", {"even": i % 2 == 0}
                out[rid] = (v, md)
                batch.append({"id": rid, "values": v.tolist(), "metadata": md})
            index.upsert(vectors=batch, namespace=ns)
        yield out


def _truth(
    records: dict[str, tuple[np.ndarray, dict[str, Any]]], q: np.ndarray, keep: Any
) -> list[str]:
    scores = {
        rid: float(v @ q / (np.linalg.norm(v) * np.linalg.norm(q)))
        for rid, (v, md) in records.items()
        if keep(md)
    }
    return sorted(scores, key=scores.__getitem__, reverse=True)[:K]


@pytest.mark.parametrize("grpc", [False, True], ids=["rest", "grpc"])
def test_query_namespaces_merges_the_top_k_across_namespaces(
    server: ServerProcess, records: dict[str, tuple[np.ndarray, dict[str, Any]]], grpc: bool
) -> None:
    with Pinecone(api_key=server.api_key, host=server.url, grpc_scheme="http") as pc:
        index = pc.index(name="fanout", grpc=grpc)
        rng = np.random.default_rng(9)
        for flt in (None, {"even": True}):
            q = rng.standard_normal(DIM).astype(np.float32)
            found = index.query_namespaces(
                vector=q.tolist(),
                namespaces=[*NAMESPACES, "missing"],
                metric="cosine",
                top_k=K,
                filter=flt,
                include_metadata=True,
            )
            ids = [m.id for m in found.matches]
            assert ids == _truth(records, q, lambda md, f=flt: f is None or md["even"])
            assert all(m.metadata == records[m.id][1] for m in found.matches)
            assert {rid.split("-")[0] for rid in ids} <= set(NAMESPACES)
