"""The official pinecone SDK 10.x over gRPC, on the same index host as REST."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pinecone import Pinecone, ServerlessSpec
from pinecone.errors import PineconeError
from slabdb_server_process import ServerProcess

SPEC = ServerlessSpec(cloud="aws", region="us-east-1")


@pytest.fixture(scope="module")
def pc(server: ServerProcess) -> Iterator[Pinecone]:
    with Pinecone(api_key=server.api_key, host=server.url, grpc_scheme="http") as client:
        yield client


def test_grpc_data_plane(pc: Pinecone) -> None:
    pc.create_index(name="grpc", dimension=3, metric="dotproduct", spec=SPEC)
    idx = pc.index(name="grpc", grpc=True)
    assert idx.host == pc.describe_index("grpc").host
    res = idx.upsert(
        vectors=[
            {"id": "a", "values": [0.1, 0.2, 0.3], "metadata": {"genre": "drama", "year": 2020}},
            {
                "id": "c",
                "values": [0.1, 0.1, 0.1],
                "sparse_values": {"indices": [1, 7], "values": [0.5, 0.25]},
            },
        ]
        + [{"id": f"doc1#{i}", "values": [0.3, 0.2, 0.1]} for i in range(5)],
        namespace="ns1",
    )
    assert res.upserted_count == 7
    q = idx.query(
        vector=[0.1, 0.2, 0.3],
        top_k=5,
        namespace="ns1",
        filter={"genre": {"$eq": "drama"}},
        include_values=True,
        include_metadata=True,
    )
    assert [m.id for m in q.matches] == ["a"] and q.matches[0].metadata["year"] == 2020
    hybrid = idx.query(
        vector=[0.0, 0.0, 0.01],
        sparse_vector={"indices": [1], "values": [5.0]},
        top_k=1,
        namespace="ns1",
    )
    assert hybrid.matches[0].id == "c"
    assert idx.query(id="a", top_k=1, namespace="ns1").matches
    f = idx.fetch(ids=["a", "c"], namespace="ns1")
    assert set(f.vectors) == {"a", "c"} and f.vectors["c"].sparse_values.indices == [1, 7]
    idx.update(id="a", set_metadata={"genre": "comedy"}, namespace="ns1")
    assert idx.fetch(ids=["a"], namespace="ns1").vectors["a"].metadata["genre"] == "comedy"
    page = idx.list_paginated(prefix="doc1#", limit=2, namespace="ns1")
    assert [v.id for v in page.vectors] == ["doc1#0", "doc1#1"] and page.pagination.next
    assert idx.describe_index_stats(filter={"genre": {"$exists": True}}).total_vector_count == 1
    assert idx.describe_index_stats().namespaces["ns1"].vector_count == 7
    idx.delete(ids=["a"], namespace="ns1")
    idx.delete(filter={"genre": {"$in": ["x"]}}, namespace="ns1")
    assert idx.describe_index_stats().total_vector_count == 6
    assert idx.describe_namespace(namespace="ns1").record_count == 6
    assert [n.name for n in idx.list_namespaces_paginated(limit=5).namespaces] == ["ns1"]
    idx.delete_namespace(namespace="ns1")
    assert idx.describe_index_stats().total_vector_count == 0


def test_grpc_errors(server: ServerProcess, pc: Pinecone) -> None:
    pc.create_index(name="grpc-errs", dimension=3, metric="cosine", spec=SPEC)
    idx = pc.index(name="grpc-errs", grpc=True)
    with pytest.raises(PineconeError, match="dimension"):
        idx.upsert(vectors=[("a", [1.0, 2.0])])
    with Pinecone(
        api_key="sdb-00000000-wrongwrongwrongwrongwrong", host=server.url, grpc_scheme="http"
    ) as bad:
        bad_idx = bad.index(host=pc.describe_index("grpc-errs").host, grpc=True)
        with pytest.raises(PineconeError):
            bad_idx.describe_index_stats()


def test_grpc_fetch_by_metadata(pc: Pinecone) -> None:
    pc.create_index(name="grpc-fbm", dimension=2, metric="cosine", spec=SPEC)
    idx = pc.index(name="grpc-fbm", grpc=True)
    idx.upsert(vectors=[(f"r{i}", [1.0, float(i)], {"i": i}) for i in range(6)])
    res = idx.fetch_by_metadata(filter={"i": {"$gte": 3}}, limit=10)
    assert sorted(res.vectors) == ["r3", "r4", "r5"]
    assert res.vectors["r4"].metadata["i"] == 4
