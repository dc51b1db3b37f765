"""The embedded API refuses what it could not store and serve back (issue 8), and
answers Pinecone's own checks; the server tests are in tests/unit/api_server/test_wire_hardening.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from obstore import exceptions as obs_exc
from obstore.store import MemoryStore

import slabdb
from slabdb import EngineConfig
from slabdb.client.client import Client
from slabdb.client.embedding import public_embed
from slabdb.core.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    StorageError,
    WriteOutcomeUnknownError,
)
from slabdb.storage import keys
from slabdb.storage.local_writer import LocalWriter
from slabdb.storage.obstore_store import ObstoreObjectStore

CONFIG = EngineConfig(background=False)


@pytest.fixture
def db() -> Iterator[Client]:
    client = slabdb.connect("memory://", config=CONFIG)
    yield client
    client.close()


@pytest.fixture
def index(db: Client) -> Any:
    db.create_index(name="d", dimension=3, metric="dotproduct")
    return db.Index("d")


@pytest.mark.parametrize(
    ("metadata", "message"),
    [({"a": 2**70}, "fit in 64 bits"), ({"a": -(2**63) - 1}, "fit in 64 bits"),
     ({"a": float("nan")}, "finite"), ({"$a": 1}, "reserved")],
)  # fmt: skip
def test_metadata_that_cannot_be_stored_is_refused(index: Any, metadata: Any, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        index.upsert(vectors=[("a", [1.0, 0.0, 0.0], metadata)])
    index.upsert(vectors=[("b", [1.0, 0.0, 0.0], {"a": 2**64 - 1, "b": -(2**63)})])
    assert index.fetch(ids=["b"]).vectors["b"].metadata == {"a": 2**64 - 1, "b": -(2**63)}
    assert index.query(vector=[1, 0, 0], top_k=1, include_metadata=True).matches[0].id == "b"


@pytest.mark.parametrize(
    "values", [["1", 0, 0], [True, 0.5, 0], np.array(["1", "0", "0"]), [1, 2, None]]
)
def test_non_numbers_are_not_vector_values(index: Any, values: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="must be"):
        index.upsert(vectors=[("a", values)])
    with pytest.raises(InvalidArgumentError):
        index.upsert(vectors=[{"id": "s", "values": [1, 0, 0],
                               "sparse_values": {"indices": [0, 1, 2], "values": values}}])  # fmt: skip
    with pytest.raises(InvalidArgumentError):
        index.upsert_arrays(ids=["a"], vectors=np.array([["1", "0", "0"]]))


def test_vectors_whose_scores_could_overflow_are_refused(index: Any) -> None:
    for bad in ([3e38, 3e38, 3e38], [2.0**62, 0.0, 0.0]):
        with pytest.raises(InvalidArgumentError, match="norm"):
            index.upsert(vectors=[("a", bad)])
        with pytest.raises(InvalidArgumentError, match="norm"):
            index.query(vector=bad, top_k=1)
        with pytest.raises(InvalidArgumentError, match="norm"):
            index.upsert_arrays(ids=["a"], vectors=np.array([bad], dtype=np.float32))
    big = 2.0**61
    index.upsert(vectors=[("a", [big, big, 0.0]), ("b", [-big, -big, 0.0])])
    scores = [m.score for m in index.query(vector=[big, big, 0.0], top_k=2).matches]
    assert len(scores) == 2 and all(np.isfinite(scores)), scores


def test_sparse_indices_must_fit_uint32(db: Client) -> None:
    db.create_index(name="sp", vector_type="sparse")  # metric defaults to dotproduct
    sp = db.Index("sp")
    for bad in (2**70, 2**32, -1):
        with pytest.raises(InvalidArgumentError, match="2\\^32-1"):
            sp.upsert(vectors=[{"id": "a", "sparse_values": {"indices": [bad], "values": [1.0]}}])
        with pytest.raises(InvalidArgumentError, match="2\\^32-1"):
            sp.query(top_k=1, sparse_vector={"indices": [bad], "values": [1.0]})
    sp.upsert(vectors=[{"id": "a", "sparse_values": {"indices": [2**32 - 1], "values": [1.0]}}])
    assert sp.fetch(ids=["a"]).vectors["a"].sparse_values.indices == [2**32 - 1]


def test_pinecones_create_and_query_checks(db: Client, index: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="dotproduct"):
        db.create_index(name="sc", vector_type="sparse", metric="cosine")
    with pytest.raises(InvalidArgumentError, match="at least one record"):
        index.upsert(vectors=[])
    with pytest.raises(InvalidArgumentError, match="NUL"):
        index.upsert(vectors=[("a\x00b", [1.0, 0.0, 0.0])])
    index.upsert(vectors=[("a", [1.0, 0.0, 0.0])])
    with pytest.raises(InvalidArgumentError, match="sparse_vector or id"):
        index.query(top_k=1, id="a", sparse_vector={"indices": [1], "values": [1.0]})
    index.create_namespace("n")
    with pytest.raises(AlreadyExistsError):
        index.create_namespace("n")
    with pytest.raises(AlreadyExistsError):
        index.create_namespace("__default__")
    for bad in ("   ", "a\x00"):
        with pytest.raises(InvalidArgumentError):
            index.create_namespace(bad)


def test_sparse_values_on_a_dense_cosine_index_are_kept(db: Client) -> None:
    db.create_index(name="c", dimension=2, metric="cosine")
    idx = db.Index("c")
    idx.upsert(vectors=[{"id": "a", "values": [1.0, 0.0],
                         "sparse_values": {"indices": [4], "values": [0.5]}}])  # fmt: skip
    assert idx.fetch(ids=["a"]).vectors["a"].sparse_values.indices == [4]


def test_garbage_pagination_tokens_are_refused(index: Any) -> None:
    index.upsert(vectors=[(f"r{i}", [1.0, 0.0, 0.0]) for i in range(3)])
    page = index.list_paginated(limit=1)
    assert page.pagination is not None
    assert [v.id for v in index.list_paginated(limit=1, pagination_token=page.pagination.next)
            .vectors] == ["r1"]  # fmt: skip
    for token in ("r0", "garbage!", page.pagination.next[:-2]):
        with pytest.raises(InvalidArgumentError, match="invalid pagination token"):
            index.list_paginated(limit=1, pagination_token=token)
    with pytest.raises(InvalidArgumentError, match="invalid pagination token"):
        index.fetch_by_metadata(filter={}, pagination_token=page.pagination.next)  # other listing
    with pytest.raises(InvalidArgumentError, match="invalid pagination token"):
        index.list_namespaces_paginated(pagination_token="x")


LONG_NAMES = ["a" * 200, "é" * 130, "z" * 512, "名前/" * 170]


def test_long_namespace_names_are_stored_on_a_local_directory(tmp_path: Path) -> None:
    with slabdb.connect(str(tmp_path / "db"), config=CONFIG) as db:
        db.create_index(name="l", dimension=2, metric="euclidean")
        idx = db.Index("l")
        for name in LONG_NAMES:
            idx.upsert(vectors=[("a", [1.0, 2.0])], namespace=name)
            assert len(keys.namespace_key(name)) <= keys.MAX_NAMESPACE_KEY_BYTES
    with slabdb.connect(str(tmp_path / "db"), config=CONFIG) as db:  # reopened: names listed
        idx = db.Index("l")
        assert sorted(idx.namespace_names()) == sorted(LONG_NAMES)
        assert set(idx.describe_index_stats().namespaces) == set(LONG_NAMES)
        for name in LONG_NAMES:
            assert set(idx.fetch(ids=["a"], namespace=name).vectors) == {"a"}
            idx.delete_namespace(name)
        assert idx.namespace_names() == []


def test_short_names_keep_their_reversible_keys() -> None:
    assert keys.namespace_key("docs") == "n-docs"
    assert keys.namespace_key("é") == "x-c3a9"
    assert keys.namespace_from_key(keys.namespace_key("é" * 63)) == "é" * 63
    assert keys.namespace_key("é" * 64).startswith("h-")


class _TimesOut:
    """An obstore store whose create-if-absent puts land, then time out (once)."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.fail_next_create = False

    def put(self, key: str, data: bytes, mode: Any = None) -> Any:
        result = self.inner.put(key, data, mode=mode) if mode else self.inner.put(key, data)
        if mode == "create" and "/wal/" in key and self.fail_next_create:
            self.fail_next_create = False
            raise obs_exc.GenericError(
                "Generic S3 error: error sending request: operation timed out"
            )
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_write_whose_outcome_is_unknown_says_so_and_a_retry_is_safe() -> None:
    raw = _TimesOut()
    db = Client(ObstoreObjectStore(raw, url="memory://"), CONFIG)
    db.create_index(name="t", dimension=2, metric="euclidean")
    idx = db.Index("t")
    idx.upsert(vectors=[("a", [1.0, 0.0])])
    raw.fail_next_create = True
    with pytest.raises(WriteOutcomeUnknownError, match="outcome unknown, safe to retry") as info:
        idx.upsert(vectors=[("b", [2.0, 0.0])])
    assert isinstance(info.value, StorageError) and info.value.retryable
    assert info.value.http_status == 503
    idx.upsert(vectors=[("b", [2.0, 0.0])])  # the retry: same ids, same values
    assert sorted(idx.fetch(ids=["a", "b"]).vectors) == ["a", "b"]
    assert idx.describe_index_stats().total_vector_count == 2
    db.close()


def test_storage_errors_do_not_show_the_server_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(self: LocalWriter, key: str, *args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device", str(tmp_path / "db" / key))

    with slabdb.connect(str(tmp_path / "db"), config=CONFIG) as db:
        db.create_index(name="f", dimension=2, metric="euclidean")
        monkeypatch.setattr(LocalWriter, "write", disk_full)
        with pytest.raises(StorageError) as info:
            db.Index("f").upsert(vectors=[("a", [1.0, 0.0])])
        assert "No space left on device" in info.value.message
        assert str(tmp_path) not in info.value.message
        assert not isinstance(info.value, WriteOutcomeUnknownError)  # a refusal is definite
        monkeypatch.undo()


def test_describe_says_which_local_model_serves_an_alias() -> None:
    embed = {"model": "llama-text-embed-v2", "embedder": "minilm", "dimension": 384,
             "metric": "cosine", "field_map": {"text": "t"}}  # fmt: skip
    shown = public_embed(embed)
    assert shown is not None and "embedder" not in shown
    local = shown["local_model"]
    assert (local["name"], local["dimension"]) == ("minilm", 384)
    assert "1024" in local["note"] and "minilm" in local["note"]
    assert "local_model" not in (public_embed({**embed, "model": "minilm"}) or {})
