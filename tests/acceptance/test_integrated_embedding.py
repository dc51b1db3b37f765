"""Integrated embedding end to end: SDK 10 ``create_index_for_model``, ``upsert_records``
and ``search`` against a real ``slabdb serve`` (fake model for speed, MiniLM for meaning)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pinecone import Pinecone, ServerlessSpec
from pinecone.errors import ApiError
from slabdb_server_process import ServerProcess

ARGS = ("--allow-test-embedders", "--model-alias", "llama-text-embed-v2=minilm")
DOCS = [
    {"_id": "apple", "chunk_text": "Apples are a sweet fruit that grows on trees.", "kind": "food"},
    {"_id": "car", "chunk_text": "The car engine needs new spark plugs.", "kind": "vehicle"},
    {"_id": "python", "chunk_text": "Python is a popular programming language.", "kind": "tech"},
    {
        "id": "bread",
        "chunk_text": "Fresh bread is baked in the oven every morning.",
        "kind": "food",
    },
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = Path(tmp_path_factory.mktemp("slabdb-embed"))
    with ServerProcess(data=data, extra_args=ARGS) as srv:
        yield srv


@pytest.fixture(scope="module")
def pc(server: ServerProcess) -> Iterator[Pinecone]:
    with Pinecone(api_key=server.api_key, host=server.url) as client:
        yield client


def test_fake_model_records_roundtrip(pc: Pinecone) -> None:
    model = pc.create_index_for_model(
        name="fake-recs",
        cloud="aws",
        region="us-east-1",
        embed={"model": "fake", "field_map": {"text": "chunk_text"}, "dimension": 16},
    )
    assert model.embed is not None
    assert model.embed.model == "fake" and model.embed.field_map == {"text": "chunk_text"}
    desc = pc.describe_index("fake-recs")
    assert desc.embed is not None and desc.embed.model == "fake"
    idx = pc.Index(host=desc.host)
    res = idx.upsert_records(namespace="ns1", records=DOCS)
    assert res.record_count == 4
    out = idx.search(
        namespace="ns1",
        query={"inputs": {"text": DOCS[1]["chunk_text"]}, "top_k": 3},
        fields=["chunk_text"],
    )
    hits = out.result.hits
    assert hits[0].id == "car" and hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert set(hits[0].fields) == {"chunk_text"}
    filtered = idx.search(
        namespace="ns1",
        query={"inputs": {"text": "anything"}, "top_k": 10, "filter": {"kind": {"$eq": "food"}}},
    )
    assert {h.id for h in filtered.result.hits} == {"apple", "bread"}
    assert filtered.result.hits[0].fields["kind"] == "food"  # all fields by default
    by_id = idx.search_records(namespace="ns1", top_k=1, id="python")
    assert by_id.result.hits[0].id == "python"
    assert idx.describe_index_stats().namespaces["ns1"].vector_count == 4


def test_minilm_semantic_search(pc: Pinecone) -> None:
    pc.create_index_for_model(
        name="minilm-recs",
        cloud="aws",
        region="us-east-1",
        embed={"model": "llama-text-embed-v2", "field_map": {"text": "chunk_text"}},
    )
    desc = pc.describe_index("minilm-recs")
    assert desc.embed is not None and desc.embed.model == "llama-text-embed-v2"
    idx = pc.Index(host=desc.host)
    idx.upsert_records(namespace="__default__", records=DOCS)
    queries = {
        "which fruit is healthy to eat": "apple",
        "automobile repair and maintenance": "car",
        "coding software": "python",
    }
    for text, expected in queries.items():
        out = idx.search(
            namespace="__default__",
            query={"inputs": {"text": text}, "top_k": 3},
            fields=["chunk_text", "kind"],
        )
        assert out.result.hits[0].id == expected, (text, out.result.hits)
    out = idx.search(
        namespace="__default__",
        query={"inputs": {"text": "baked food"}, "top_k": 3, "filter": {"kind": "food"}},
        fields=["chunk_text"],
    )
    assert [h.id for h in out.result.hits] == ["bread", "apple"]


def test_errors(server: ServerProcess, pc: Pinecone) -> None:
    with pytest.raises(ApiError) as err:
        pc.create_index_for_model(
            name="hosted",
            cloud="aws",
            region="us-east-1",
            embed={"model": "multilingual-e5-large", "field_map": {"text": "chunk_text"}},
        )
    assert err.value.status_code == 400 and "minilm" in str(err.value)
    pc.create_index_for_model(
        name="err-recs",
        cloud="aws",
        region="us-east-1",
        embed={"model": "fake", "field_map": {"text": "chunk_text"}, "dimension": 4},
    )
    host = pc.describe_index("err-recs").host
    headers = {"Api-Key": server.api_key, "Content-Type": "application/x-ndjson"}
    url = f"{host}/records/namespaces/ns/upsert"
    r = httpx.post(url, content=b'{"chunk_text": "no id"}\n', headers=headers)
    assert r.status_code == 400 and "_id" in r.json()["message"]
    r = httpx.post(url, content=b'{"_id": "a", "text": "wrong field"}\n', headers=headers)
    assert r.status_code == 400 and "chunk_text" in r.json()["message"]
    many = b"".join(b'{"_id": "r%d", "chunk_text": "t"}\n' % i for i in range(97))
    r = httpx.post(url, content=many, headers=headers)
    assert r.status_code == 400 and "96" in r.json()["message"]
    r = httpx.post(url, content=b"not json\n", headers=headers)
    assert r.status_code == 400
    idx = pc.Index(host=host)
    with pytest.raises(ApiError):
        idx.search(
            namespace="ns",
            query={"inputs": {"text": "x"}, "top_k": 2},
            rerank={"model": "bge-reranker-v2-m3", "rank_fields": ["chunk_text"]},
        )


def test_vector_index_rejects_text(server: ServerProcess, pc: Pinecone) -> None:
    spec = ServerlessSpec(cloud="aws", region="us-east-1")
    pc.create_index(name="plain", dimension=3, metric="cosine", spec=spec)
    idx = pc.Index(host=pc.describe_index("plain").host)
    idx.upsert(vectors=[("v1", [1.0, 0.0, 0.0]), ("v2", [0.0, 1.0, 0.0])], namespace="ns")
    with pytest.raises(ApiError) as err:
        idx.upsert_records(namespace="ns", records=[{"_id": "a", "chunk_text": "x"}])
    assert err.value.status_code == 400
    with pytest.raises(ApiError):
        idx.search(namespace="ns", query={"inputs": {"text": "x"}, "top_k": 1})
    out = idx.search(namespace="ns", query={"vector": {"values": [0.0, 1.0, 0.1]}, "top_k": 1})
    assert out.result.hits[0].id == "v2"


def test_describe_shapes(server: ServerProcess, pc: Pinecone) -> None:
    pc.create_index_for_model(
        name="shapes",
        cloud="aws",
        region="us-east-1",
        embed={"model": "fake", "field_map": {"text": "body"}, "metric": "dotproduct"},
    )
    base = {"Api-Key": server.api_key}
    new = httpx.get(f"{server.url}/indexes/shapes", headers=base).json()
    field = new["schema"]["fields"]["body"]
    assert field["type"] == "semantic_text" and field["model"] == "fake"
    assert field["metric"] == "dotproduct" and field["dimension"] == 384
    old = httpx.get(
        f"{server.url}/indexes/shapes", headers={**base, "X-Pinecone-Api-Version": "2025-10"}
    ).json()
    assert old["dimension"] == 384 and old["metric"] == "dotproduct"
    assert old["embed"]["field_map"] == {"text": "body"} and old["embed"]["model"] == "fake"


def test_configure_index_adds_an_embedding_model_before_2026_07(
    server: ServerProcess, pc: Pinecone
) -> None:
    pc.create_index(
        name="later-recs", dimension=16, metric="cosine",
        spec=ServerlessSpec(cloud="aws", region="us-east-1"),
    )  # fmt: skip
    url = f"{server.url}/indexes/later-recs"
    embed = {"model": "fake", "field_map": {"text": "chunk_text"}}
    newest = {"Api-Key": server.api_key, "X-Pinecone-Api-Version": "2026-07"}
    r = httpx.patch(url, json={"embed": embed}, headers=newest)
    assert r.status_code == 400 and "create_index_for_model" in r.json()["error"]["message"]
    older = {**newest, "X-Pinecone-Api-Version": "2025-10"}
    r = httpx.patch(url, json={"embed": embed}, headers=older)
    assert r.status_code == 200 and r.json()["embed"]["model"] == "fake"
    desc = pc.describe_index("later-recs")
    assert desc.embed is not None and desc.embed.model == "fake"
    idx = pc.Index(host=desc.host)
    assert idx.upsert_records(namespace="ns", records=DOCS).record_count == len(DOCS)
    out = idx.search(namespace="ns", query={"inputs": {"text": DOCS[0]["chunk_text"]}, "top_k": 1})
    assert out.result.hits[0].id == DOCS[0]["_id"]
