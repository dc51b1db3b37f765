"""Integrated embedding in the embedded API: create_index_for_model, upsert_records, search."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

import slabdb
from slabdb.api.rest.records import parse_ndjson
from slabdb.client import Client
from slabdb.client.catalog import IndexCatalog
from slabdb.client.records import MAX_UPSERT_RECORDS
from slabdb.core.errors import InvalidArgumentError, LimitExceededError
from slabdb.embed.models import EmbedModels, parse_aliases
from slabdb.storage import open_store

EMBED = {"model": "fake", "field_map": {"text": "chunk_text"}, "dimension": 8}
RECORDS = [
    {"_id": "a", "chunk_text": "red apple", "genre": "fruit", "year": 2020},
    {"_id": "b", "chunk_text": "green pear", "genre": "fruit", "year": 2021},
    {"id": "c", "chunk_text": "fast car", "genre": "vehicle", "year": 2022},
]


@pytest.fixture
def client() -> Iterator[Client]:
    with slabdb.connect("memory://") as c:
        yield c


@pytest.fixture
def index(client: Client) -> slabdb.Index:
    client.create_index_for_model("recs", cloud="aws", region="us-east-1", embed=EMBED)
    idx = client.Index("recs")
    idx.upsert_records("ns", RECORDS)
    return idx


def test_create_and_describe(client: Client) -> None:
    model = client.create_index_for_model("recs", embed=EMBED)
    assert model.dimension == 8 and model.metric == "cosine" and model.vector_type == "dense"
    assert model.embed is not None
    assert model.embed["model"] == "fake"
    assert model.embed["field_map"] == {"text": "chunk_text"}
    assert model.embed["read_parameters"]["input_type"] == "query"
    assert "embedder" not in model.embed
    assert client.describe_index("recs").embed == model.embed
    assert client.list_indexes()[0].embed == model.embed


def test_default_dimension_and_metric(client: Client) -> None:
    model = client.create_index_for_model(
        "d", embed={"model": "FAKE", "field_map": {"text": "t"}, "metric": "dotproduct"}
    )
    assert model.dimension == 384 and model.metric == "dotproduct"


@pytest.mark.parametrize(
    ("embed", "message"),
    [
        ({"model": "multilingual-e5-large", "field_map": {"text": "t"}}, "available models"),
        ({"model": "fake", "field_map": {}}, "field_map"),
        ({"model": "fake", "field_map": {"text": "t", "other": "x"}}, "field_map"),
        ({"model": "fake", "field_map": {"text": "t"}, "vector_type": "sparse"}, "dense"),
        ({"model": "wordllama", "field_map": {"text": "t"}, "dimension": 100}, "64, 128, 256"),
        ({"model": "fake", "field_map": {"text": "t"}, "metric": "hamming"}, "metric"),
        ({"model": "fake", "field_map": {"text": "t"}, "read_parameters": {"input_type": "x"}}, "input_type"),
        (None, "embed is required"),
    ],
)  # fmt: skip
def test_create_rejects(client: Client, embed: object, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        client.create_index_for_model("bad", embed=embed)
    assert not client.has_index("bad")


def test_search_text_fields_and_filter(index: slabdb.Index) -> None:
    res = index.search("ns", query={"inputs": {"text": "fast car"}, "top_k": 2}, fields=["genre"])
    hit = res.result.hits[0]
    assert hit.id == "c" and hit["_id"] == "c" and hit.score == pytest.approx(1.0, abs=1e-5)
    assert hit.fields == {"genre": "vehicle"}
    assert len(res.result.hits) == 2 and res.namespace == "ns"
    assert res.usage.embed_total_tokens == 2
    out = res.to_dict()
    assert set(out["result"]["hits"][0]) == {"_id", "_score", "fields"}

    res = index.search_records(
        "ns", {"inputs": {"text": "red apple"}, "top_k": 5, "filter": {"genre": {"$eq": "fruit"}}}
    )
    assert [h.id for h in res.result.hits] == ["a", "b"]
    assert res.result.hits[0].fields == {"chunk_text": "red apple", "genre": "fruit", "year": 2020}

    res = index.search(
        namespace="ns", top_k=3, inputs={"text": "pear"}, filter={"year": {"$gt": 2020}}
    )
    assert {h.id for h in res.result.hits} == {"b", "c"}
    res = index.search("ns", query={"id": "a", "top_k": 1}, fields=["*"])
    assert res.result.hits[0].id == "a" and "chunk_text" in res.result.hits[0].fields


def test_search_by_vector_on_plain_index(client: Client) -> None:
    client.create_index("plain", dimension=2, metric="cosine")
    idx = client.Index("plain")
    idx.upsert([("x", [1.0, 0.0], {"k": "v"}), ("y", [0.0, 1.0])])
    res = idx.search("", query={"vector": {"values": [0.1, 1.0]}, "top_k": 1})
    assert res.result.hits[0].id == "y" and res.namespace == "__default__"
    res = idx.search("__default__", query={"vector": [1.0, 0.1], "top_k": 1})
    assert res.result.hits[0].fields == {"k": "v"}
    with pytest.raises(InvalidArgumentError, match="integrated embedding"):
        idx.search("", query={"inputs": {"text": "hello"}, "top_k": 1})
    with pytest.raises(InvalidArgumentError, match="integrated embedding"):
        idx.upsert_records("", [{"_id": "a", "chunk_text": "x"}])


def test_upsert_records_validation(index: slabdb.Index) -> None:
    with pytest.raises(InvalidArgumentError, match="'_id'"):
        index.upsert_records("ns", [{"chunk_text": "x"}])
    with pytest.raises(InvalidArgumentError, match="chunk_text"):
        index.upsert_records("ns", [{"_id": "z", "text": "x"}])
    with pytest.raises(InvalidArgumentError, match="chunk_text"):
        index.upsert_records("ns", [{"_id": "z", "chunk_text": "  "}])
    with pytest.raises(InvalidArgumentError, match="list"):
        index.upsert_records("ns", {"_id": "z"})  # type: ignore[arg-type]
    too_many = [{"_id": str(i), "chunk_text": "t"} for i in range(MAX_UPSERT_RECORDS + 1)]
    with pytest.raises(LimitExceededError, match="96"):
        index.upsert_records("ns", too_many)
    assert index.upsert_records("ns", []).upserted_count == 0
    # _id wins over id; re-upsert replaces
    index.upsert_records("ns", [{"_id": "a", "id": "ignored", "chunk_text": "blue sky"}])
    fetched = index.fetch(["a", "ignored"], namespace="ns")
    assert list(fetched.vectors) == ["a"]
    assert fetched.vectors["a"].metadata == {"chunk_text": "blue sky"}


def test_search_validation(index: slabdb.Index) -> None:
    with pytest.raises(InvalidArgumentError, match="top_k"):
        index.search("ns", query={"inputs": {"text": "x"}})
    with pytest.raises(InvalidArgumentError, match="exactly one"):
        index.search("ns", query={"top_k": 1})
    with pytest.raises(InvalidArgumentError, match="exactly one"):
        index.search("ns", query={"top_k": 1, "id": "a", "inputs": {"text": "x"}})
    with pytest.raises(InvalidArgumentError, match="rerank"):
        index.search("ns", query={"top_k": 1, "id": "a"}, rerank={"model": "bge-reranker-v2-m3"})
    with pytest.raises(InvalidArgumentError, match="unknown"):
        index.search("ns", query={"top_k": 1, "id": "a", "bogus": 1})
    with pytest.raises(InvalidArgumentError, match=r"inputs\.text"):
        index.search("ns", query={"top_k": 1, "inputs": {"txt": "x"}})
    assert index.search("empty", query={"top_k": 1, "inputs": {"text": "x"}}).result.hits == []


def test_embedders_cached_and_input_types(client: Client) -> None:
    client.create_index_for_model("one", embed=EMBED)
    client.create_index_for_model("two", embed=EMBED)
    models = client.embed_models
    assert models.embedder("fake", 8) is models.embedder("fake", 8)
    fake = models.embedder("fake", 8)
    client.Index("one").upsert_records("", [{"_id": "a", "chunk_text": "doc"}])
    client.Index("two").search("", query={"top_k": 1, "inputs": {"text": "q"}})
    kinds = [kind for kind, _ in fake.calls]  # type: ignore[attr-defined]
    assert kinds == ["document", "query"]


def test_embed_config_survives_reopen(tmp_path: object) -> None:
    url = str(tmp_path)
    with slabdb.connect(url) as c:
        c.create_index_for_model("keep", embed=EMBED)
        c.Index("keep").upsert_records("ns", RECORDS)
    with slabdb.connect(url) as c:
        assert c.describe_index("keep").embed is not None
        res = c.Index("keep").search("ns", query={"top_k": 1, "inputs": {"text": "green pear"}})
        assert res.result.hits[0].id == "b"


def test_old_catalog_entries_load() -> None:
    store = open_store("memory://")
    old = {"name": "old", "dimension": 3, "metric": "cosine", "vector_type": "dense",
           "incarnation": "abc", "deletion_protection": "disabled", "tags": {},
           "created_at": 1.0}  # fmt: skip
    store.put("catalog/indexes/old.json", json.dumps(old).encode())
    cfg = IndexCatalog(store).get("old")
    assert cfg.embed is None and cfg.dimension == 3


def test_embed_models_policy() -> None:
    server = EmbedModels(aliases={"llama-text-embed-v2": "minilm"})
    assert server.available() == ["llama-text-embed-v2", "minilm", "wordllama"]
    assert server.resolve("Llama-Text-Embed-v2") == "minilm"
    with pytest.raises(InvalidArgumentError, match="fake"):
        EmbedModels(allow_test_models=True).resolve("nope")
    with pytest.raises(InvalidArgumentError, match="not available"):
        server.resolve("fake")
    with pytest.raises(ValueError, match="fake"):
        EmbedModels(aliases={"x": "fake"})
    assert parse_aliases(["a=minilm", " b = wordllama "]) == {"a": "minilm", "b": "wordllama"}
    with pytest.raises(ValueError, match="NAME=MODEL"):
        parse_aliases(["nope"])


def test_parse_ndjson() -> None:
    body = b'{"_id": "a", "t": "x"}\n\n{"_id": "b", "t": "y"}\n'
    assert [r["_id"] for r in parse_ndjson(body)] == ["a", "b"]
    assert parse_ndjson(b'[{"_id": "a"}]') == [{"_id": "a"}]
    with pytest.raises(InvalidArgumentError, match="no records"):
        parse_ndjson(b"  \n")
    with pytest.raises(InvalidArgumentError, match="line 2"):
        parse_ndjson(b'{"_id": "a"}\n{oops\n')
    with pytest.raises(InvalidArgumentError, match="96"):
        parse_ndjson(b'{"_id": "a"}\n' * 97)


def test_configure_index_turns_a_dense_index_into_an_integrated_one(client: Client) -> None:
    client.create_index(name="plain", dimension=8, metric="cosine")
    with pytest.raises(InvalidArgumentError, match="integrated embedding"):
        client.Index("plain").upsert_records("ns", RECORDS)
    model = client.configure_index(
        "plain", embed={"model": "fake", "field_map": {"text": "chunk_text"}}
    )
    assert model.embed is not None and model.embed["model"] == "fake"
    idx = client.Index("plain")
    idx.upsert_records("ns", RECORDS)
    hits = idx.search("ns", query={"inputs": {"text": "green pear"}, "top_k": 1}).result.hits
    assert hits[0].id == "b"
    with pytest.raises(InvalidArgumentError, match="already embeds"):
        client.configure_index("plain", embed=EMBED)


def test_configure_index_embed_must_fit_the_index(client: Client) -> None:
    client.create_index(name="wide", dimension=8, metric="euclidean")
    with pytest.raises(InvalidArgumentError, match="metric"):
        client.configure_index("wide", embed={**EMBED, "metric": "cosine"})
    client.create_index(name="sparse", metric="dotproduct", vector_type="sparse")
    with pytest.raises(InvalidArgumentError, match="dense"):
        client.configure_index("sparse", embed=EMBED)
    assert client.describe_index("wide").embed is None  # nothing changed
