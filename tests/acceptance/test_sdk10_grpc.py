"""The official pinecone SDK 10.x over gRPC, on the same index host as REST: gRPC-only
behaviour.  The data-plane scenario runs in ``test_data_plane.py`` for gRPC too."""

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


def test_grpc_is_served_on_the_rest_host(pc: Pinecone) -> None:
    pc.create_index(name="grpc", dimension=2, metric="cosine", spec=SPEC)
    idx = pc.index(name="grpc", grpc=True)
    assert idx.host == pc.describe_index("grpc").host
    assert idx.upsert(vectors=[("a", [1.0, 0.0])]).upserted_count == 1
    assert pc.Index("grpc").fetch(ids=["a"]).vectors["a"].values == [1.0, 0.0]  # REST sees it


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
