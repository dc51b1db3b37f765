"""The official pinecone SDK 10.x over REST against a real ``slabdb serve``."""

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


def test_data_plane(pc: Pinecone) -> None:
    pc.create_index(name="data", dimension=3, metric="dotproduct", spec=SPEC)
    idx = pc.Index("data")
    res = idx.upsert(
        vectors=[
            {"id": "a", "values": [0.1, 0.2, 0.3]},
            {
                "id": "b",
                "values": [0.4, 0.5, 0.6],
                "metadata": {"genre": "drama", "year": 2020, "tags": ["x", "y"], "flag": True},
            },
            {
                "id": "c",
                "values": [0.1, 0.1, 0.1],
                "sparse_values": {"indices": [1, 7], "values": [0.5, 0.25]},
            },
        ],
        namespace="ns1",
    )
    assert res.upserted_count == 3
    idx.upsert(
        vectors=[(f"doc1#{i}", [0.1, 0.2, 0.3]) for i in range(5)], namespace="ns1", batch_size=2
    )

    q = idx.query(
        vector=[0.4, 0.5, 0.6], top_k=2, namespace="ns1", include_metadata=True, include_values=True
    )
    assert q.matches[0].id == "b" and q.matches[0].metadata["genre"] == "drama"
    assert q.matches[0].values == pytest.approx([0.4, 0.5, 0.6])
    flt = {
        "genre": {"$eq": "drama"},
        "year": {"$gte": 2019},
        "$or": [{"tags": {"$in": ["x"]}}, {"flag": True}],
    }
    assert [
        m.id
        for m in idx.query(vector=[0.1, 0.2, 0.3], top_k=5, namespace="ns1", filter=flt).matches
    ] == ["b"]
    hybrid = idx.query(
        vector=[0.0, 0.0, 0.01],
        sparse_vector={"indices": [7], "values": [10.0]},
        top_k=1,
        namespace="ns1",
    )
    assert hybrid.matches[0].id == "c"
    assert idx.query(id="a", top_k=1, namespace="ns1").matches[0].id in {"b", "a"}

    fetched = idx.fetch(ids=["a", "c", "missing"], namespace="ns1")
    assert set(fetched.vectors) == {"a", "c"}
    assert fetched.vectors["c"].sparse_values.indices == [1, 7]

    assert idx.update(id="a", set_metadata={"genre": "comedy"}, namespace="ns1") is not None
    dry = idx.update(
        filter={"genre": {"$eq": "comedy"}}, set_metadata={"x": 1}, namespace="ns1", dry_run=True
    )
    assert dry.matched_records == 1
    assert "x" not in idx.fetch(ids=["a"], namespace="ns1").vectors["a"].metadata
    done = idx.update(filter={"genre": {"$eq": "comedy"}}, set_metadata={"x": 1}, namespace="ns1")
    assert done.matched_records == 1
    assert idx.fetch(ids=["a"], namespace="ns1").vectors["a"].metadata["x"] == 1

    page = idx.list_paginated(prefix="doc1#", limit=2, namespace="ns1")
    assert [v.id for v in page.vectors] == ["doc1#0", "doc1#1"] and page.pagination.next
    page2 = idx.list_paginated(
        prefix="doc1#", limit=2, namespace="ns1", pagination_token=page.pagination.next
    )
    assert [v.id for v in page2.vectors] == ["doc1#2", "doc1#3"]
    assert sum(len(p) for p in idx.list(prefix="doc1#", namespace="ns1")) == 5

    stats = idx.describe_index_stats()
    assert stats.total_vector_count == 8 and stats.dimension == 3
    assert idx.describe_index_stats(filter={"genre": {"$exists": True}}).total_vector_count == 2

    idx.delete(ids=["doc1#0"], namespace="ns1")
    idx.delete(filter={"genre": {"$in": ["drama", "comedy"]}}, namespace="ns1")
    assert idx.describe_index_stats().total_vector_count == 5
    idx.delete(delete_all=True, namespace="ns1")
    assert idx.describe_index_stats().total_vector_count == 0


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


def test_namespaces(pc: Pinecone) -> None:
    pc.create_index(name="nsx", dimension=2, metric="euclidean", spec=SPEC)
    idx = pc.Index("nsx")
    idx.create_namespace(name="ns2")
    idx.upsert(vectors=[("v", [1.0, 2.0])], namespace="ns3")
    names = [n.name for page in idx.list_namespaces() for n in page.namespaces]
    assert {"ns2", "ns3"} <= set(names)
    assert idx.describe_namespace(namespace="ns3").record_count == 1
    page = idx.list_namespaces_paginated(prefix="ns", limit=1)
    assert len(page.namespaces) == 1 and page.pagination is not None
    idx.delete_namespace(namespace="ns3")
    with pytest.raises(NotFoundError):
        idx.describe_namespace(namespace="ns3")


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


def test_metrics(server: ServerProcess, pc: Pinecone) -> None:
    pc.create_index(name="metered", dimension=2, metric="cosine", spec=SPEC)
    pc.Index("metered").upsert(vectors=[("m", [1.0, 0.0])])
    text = httpx.get(server.url + "/metrics").text
    assert 'slabdb_requests_total{method="POST",route="/vectors/upsert"' in text
    assert "slabdb_request_seconds_bucket" in text
    assert 'slabdb_applied_lsn{index="metered",namespace="__default__",project="default"}' in text
    assert "slabdb_memtable_records" in text


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
