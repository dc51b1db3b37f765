"""The official pinecone SDK 10.x over REST against a real ``slabdb serve``: the control
plane and REST-only behaviour.  The data-plane scenario (upsert, query, fetch, update,
delete, list, stats, namespaces) runs in ``test_data_plane.py`` for REST, gRPC and embedded."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pinecone import Pinecone, ServerlessSpec
from pinecone.errors import ApiError, NotFoundError, UnauthorizedError
from slabdb_server_process import ServerProcess

SPEC = ServerlessSpec(cloud="aws", region="us-east-1")


@pytest.fixture(scope="module")
def pc(server: ServerProcess) -> Iterator[Pinecone]:
    with Pinecone(api_key=server.api_key, host=server.url) as client:
        yield client


def test_control_plane_lifecycle(pc: Pinecone) -> None:
    model = pc.create_index(
        name="life", dimension=3, metric="cosine", spec=SPEC, tags={"env": "dev"}
    )
    assert model.host.startswith("http://127.0.0.1:")
    assert pc.describe_index("life").host == model.host
    assert "life" in pc.list_indexes().names()
    assert pc.has_index("life") and not pc.has_index("nope")
    conf = pc.configure_index("life", deletion_protection="enabled", tags={"env": "prod"})
    assert conf.deletion_protection == "enabled" and conf.tags == {"env": "prod"}
    with pytest.raises(ApiError):
        pc.delete_index("life")  # deletion protection
    pc.configure_index("life", deletion_protection="disabled")
    pc.delete_index("life")
    with pytest.raises(NotFoundError):
        pc.describe_index("life")
    with pytest.raises(NotFoundError):
        pc.describe_index("missing-index")


def test_create_index_schema_shape(server: ServerProcess, pc: Pinecone) -> None:
    sparse = pc.create_index(
        name="sparse-schema", spec=SPEC, metric="dotproduct", vector_type="sparse"
    )
    assert sparse.host
    body = {
        "name": "schema-dense",
        "schema": {
            "fields": {"_values": {"type": "dense_vector", "dimension": 4, "metric": "euclidean"}}
        },
        "deployment": {"deployment_type": "managed", "cloud": "aws", "region": "us-east-1"},
    }
    headers = {"Api-Key": server.api_key, "X-Pinecone-Api-Version": "2026-07"}
    r = httpx.post(server.url + "/indexes", json=body, headers=headers)
    assert r.status_code == 201, r.text
    assert r.json()["schema"]["fields"]["_values"]["dimension"] == 4
    classic = httpx.get(
        server.url + "/indexes/schema-dense",
        headers={**headers, "X-Pinecone-Api-Version": "2025-10"},
    ).json()
    assert classic["dimension"] == 4 and classic["metric"] == "euclidean"
    assert classic["spec"] == {"serverless": {"cloud": "aws", "region": "us-east-1"}}
    newest = httpx.get(server.url + "/indexes/schema-dense", headers={"Api-Key": server.api_key})
    assert "deployment" in newest.json()
    doc = {
        **body,
        "name": "docs",
        "schema": {"fields": {"embedding": {"type": "dense_vector", "dimension": 3}}},
    }
    bad = httpx.post(server.url + "/indexes", json=doc, headers=headers)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID_ARGUMENT"
    dup = httpx.post(server.url + "/indexes", json=body, headers=headers)
    assert dup.status_code == 409 and dup.json()["status"] == 409


def test_batched_upsert_is_chunked_by_the_sdk(pc: Pinecone) -> None:
    pc.create_index(name="batched", dimension=3, metric="dotproduct", spec=SPEC)
    idx = pc.Index("batched")
    res = idx.upsert(vectors=[(f"d{i}", [0.1, 0.2, 0.3]) for i in range(5)], batch_size=2)
    assert res.upserted_count == 5
    assert sum(len(p.vectors) for p in idx.list(prefix="d")) == 5


def test_sparse_index(pc: Pinecone) -> None:
    pc.create_index(name="sparse", metric="dotproduct", vector_type="sparse", spec=SPEC)
    idx = pc.Index("sparse")
    idx.upsert(
        vectors=[
            {"id": "s1", "sparse_values": {"indices": [1, 5], "values": [1.0, 2.0]}},
            {"id": "s2", "sparse_values": {"indices": [2], "values": [3.0]}},
        ]
    )
    q = idx.query(sparse_vector={"indices": [5], "values": [1.0]}, top_k=1)
    assert q.matches[0].id == "s1"


def test_errors_and_headers(server: ServerProcess, pc: Pinecone) -> None:
    with (
        Pinecone(api_key="sdb-00000000-wrongwrongwrongwrongwrong", host=server.url) as bad,
        pytest.raises(UnauthorizedError),
    ):
        bad.list_indexes()
    pc.create_index(name="errs", dimension=3, metric="cosine", spec=SPEC)
    host = pc.describe_index("errs").host
    h = {"Api-Key": server.api_key}
    r = httpx.post(
        host + "/vectors/upsert", json={"vectors": [{"id": "a", "values": [1.0, 2.0]}]}, headers=h
    )
    assert r.status_code == 400 and r.json()["code"] == 3 and "dimension" in r.json()["message"]
    assert r.headers["x-pinecone-request-id"]
    r = httpx.post(
        host + "/query", content=b"{not json", headers={**h, "Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["code"] == 3
    r = httpx.post(host + "/query", json={"topK": 1, "vector": [1, 2, 3], "bogus": 1}, headers=h)
    assert r.status_code == 400 and "bogus" in r.json()["message"]
    r = httpx.post(host + "/query", json={"topK": "many", "vector": [1, 2, 3]}, headers=h)
    assert r.status_code == 400
    r = httpx.post(host + "/query", json={"topK": 10001, "vector": [1, 2, 3]}, headers=h)
    assert r.status_code == 400 and "top_k" in r.json()["message"]
    big = {"vectors": [{"id": f"v{i}", "values": [0.5] * 3} for i in range(1001)]}
    assert httpx.post(host + "/vectors/upsert", json=big, headers=h).status_code == 400
    huge = b'{"vectors": [' + b" " * (2 * 1024 * 1024 + 10) + b"]}"
    r = httpx.post(
        host + "/vectors/upsert", content=huge, headers={**h, "Content-Type": "application/json"}
    )
    assert r.status_code == 413
    assert httpx.get(host + "/describe_index_stats", headers=h).json()["totalVectorCount"] == 0
    r = httpx.get(server.url + "/indexes", headers={"Api-Key": "nope"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHENTICATED"
    r = httpx.post(server.url + "/vectors/upsert", json={"vectors": []}, headers=h)
    assert r.status_code == 404


def test_fetch_by_metadata(pc: Pinecone) -> None:
    pc.create_index(name="fbm", dimension=2, metric="cosine", spec=SPEC)
    idx = pc.Index("fbm")
    idx.upsert(
        vectors=[(f"r{i}", [1.0, float(i)], {"even": i % 2 == 0, "i": i}) for i in range(9)],
        namespace="n",
    )
    first = idx.fetch_by_metadata(filter={"even": True}, namespace="n", limit=3)
    assert sorted(first.vectors) == ["r0", "r2", "r4"]
    assert first.vectors["r2"].metadata == {"even": True, "i": 2}
    assert first.pagination is not None and first.pagination.next
    rest = idx.fetch_by_metadata(
        filter={"even": True}, namespace="n", limit=3, pagination_token=first.pagination.next
    )
    assert sorted(rest.vectors) == ["r6", "r8"]
    assert not rest.pagination


def test_lsn_headers_give_read_your_writes_checks(pc: Pinecone) -> None:
    pc.create_index(name="lsn", dimension=2, metric="cosine", spec=SPEC)
    idx = pc.Index("lsn")
    first = idx.upsert(vectors=[("a", [1.0, 0.0])])
    second = idx.upsert(vectors=[("b", [0.0, 1.0])])
    committed = second.response_info.lsn_committed
    assert committed is not None and committed > first.response_info.lsn_committed
    res = idx.query(vector=[1.0, 0.0], top_k=2)
    assert res.response_info.lsn_reconciled is not None
    assert res.response_info.is_reconciled(committed)
    assert {m.id for m in res.matches} == {"a", "b"}
