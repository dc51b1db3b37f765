"""The embedded API's semantics, on the in-memory store."""

import numpy as np
import pytest

import slabdb
from slabdb import EngineConfig
from slabdb.core.errors import (
    AlreadyExistsError,
    IndexNotFoundError,
    InvalidArgumentError,
    NamespaceNotFoundError,
    PermissionDeniedError,
)


@pytest.fixture
def db():
    client = slabdb.connect(
        "memory://", config=EngineConfig(background=False, flush_records=4, level_fanout=2)
    )
    yield client
    client.close()


@pytest.fixture
def index(db):
    db.create_index(name="docs", dimension=3, metric="cosine")
    return db.Index("docs")


def test_control_plane(db):
    model = db.create_index(name="a-1", dimension=8, metric="euclidean", tags={"team": "x"})
    assert (model.name, model.dimension, model.metric, model.vector_type) == (
        "a-1",
        8,
        "euclidean",
        "dense",
    )
    assert db.has_index("a-1") and not db.has_index("b")
    assert db.list_indexes().names() == ["a-1"]
    assert db.describe_index("a-1").tags == {"team": "x"}
    with pytest.raises(AlreadyExistsError):
        db.create_index(name="a-1", dimension=8)
    db.configure_index("a-1", deletion_protection="enabled")
    with pytest.raises(PermissionDeniedError):
        db.delete_index("a-1")
    db.configure_index("a-1", deletion_protection="disabled")
    db.delete_index("a-1")
    with pytest.raises(IndexNotFoundError):
        db.describe_index("a-1")
    with pytest.raises(IndexNotFoundError):
        db.Index("a-1")


def test_recreated_index_starts_empty(db):
    db.create_index(name="x", dimension=2, metric="dotproduct")
    db.Index("x").upsert(vectors=[("a", [1.0, 2.0])])
    db.delete_index("x")
    db.create_index(name="x", dimension=2, metric="dotproduct")
    assert db.Index("x").fetch(ids=["a"]).vectors == {}


def test_upsert_query_fetch_read_your_writes(index):
    index.upsert(
        vectors=[
            {"id": "a", "values": [1, 0, 0], "metadata": {"genre": "drama", "year": 2001}},
            ("b", [0, 1, 0], {"genre": "comedy", "year": 1999}),
            ("c", [0.9, 0.1, 0]),
        ],
        namespace="ns",
    )
    res = index.query(
        vector=[1, 0, 0], top_k=2, namespace="ns", include_metadata=True, include_values=True
    )
    assert [m.id for m in res.matches] == ["a", "c"]
    assert res.matches[0].score == pytest.approx(1.0)
    assert res.matches[0].metadata == {"genre": "drama", "year": 2001}
    assert res.matches[0].values == [1.0, 0.0, 0.0]
    assert res["matches"][0]["id"] == "a"
    assert index.query(vector=[1, 0, 0], top_k=5, namespace="other").matches == []
    got = index.fetch(ids=["a", "zz"], namespace="ns")
    assert set(got.vectors) == {"a"} and got.vectors["a"].metadata["genre"] == "drama"


def test_filters_never_post_filter(index):
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((40, 3)).astype(np.float32)
    index.upsert(
        vectors=[
            (f"v{i}", vecs[i].tolist(), {"k": "rare" if i % 10 == 0 else "common", "i": i})
            for i in range(40)
        ]
    )
    res = index.query(vector=[1, 0, 0], top_k=10, filter={"k": "rare"}, include_metadata=True)
    assert sorted(m.id for m in res.matches) == ["v0", "v10", "v20", "v30"]
    res = index.query(
        vector=[1, 0, 0], top_k=3, filter={"$and": [{"i": {"$gte": 5}}, {"i": {"$lt": 8}}]}
    )
    assert sorted(m.id for m in res.matches) == ["v5", "v6", "v7"]


def test_newest_write_wins_and_deletes_hide_across_flushes(index):
    index.upsert(vectors=[(f"v{i}", [1, i, 0]) for i in range(10)])
    index.flush()
    index.upsert(vectors=[("v1", [0, 0, 1], {"new": True})])
    index.delete(ids=["v2"])
    index.flush()
    index.compact()
    res = index.query(vector=[0, 0, 1], top_k=1, include_metadata=True)
    assert res.matches[0].id == "v1" and res.matches[0].metadata == {"new": True}
    assert "v2" not in index.fetch(ids=["v2"]).vectors
    assert index.describe_index_stats().total_vector_count == 9
    ids = [i for page in index.list() for i in page]
    assert ids == sorted(f"v{i}" for i in range(10) if i != 2)


def test_update_by_id_and_by_filter(index):
    index.upsert(vectors=[("a", [1, 0, 0], {"g": "x", "n": 1}), ("b", [0, 1, 0], {"g": "y"})])
    index.update(id="a", set_metadata={"n": 2})
    index.update(id="b", values=[0, 0, 1])
    assert index.fetch(ids=["a"]).vectors["a"].metadata == {"g": "x", "n": 2}
    assert index.fetch(ids=["b"]).vectors["b"].values == [0.0, 0.0, 1.0]
    assert (
        index.update(filter={"g": "x"}, set_metadata={"tag": "t"}, dry_run=True).matched_records
        == 1
    )
    assert index.fetch(ids=["a"]).vectors["a"].metadata == {"g": "x", "n": 2}
    assert (
        index.update(filter={"g": {"$in": ["x", "y"]}}, set_metadata={"tag": "t"}).matched_records
        == 2
    )
    assert index.fetch(ids=["b"]).vectors["b"].metadata == {"g": "y", "tag": "t"}
    assert index.update(id="missing", set_metadata={"x": "y"}).matched_records == 0
    assert index.fetch(ids=["missing"]).vectors == {}


def test_delete_by_filter_and_delete_all(index):
    index.upsert(vectors=[(f"v{i}", [1, i, 0], {"even": i % 2 == 0}) for i in range(8)])
    index.flush()
    index.delete(filter={"even": True})
    assert sorted(i for p in index.list() for i in p) == ["v1", "v3", "v5", "v7"]
    index.delete(delete_all=True)
    assert index.query(vector=[1, 0, 0], top_k=10).matches == []
    index.upsert(vectors=[("z", [1, 1, 1])])
    index.flush()
    assert [m.id for m in index.query(vector=[1, 0, 0], top_k=10).matches] == ["z"]


def test_list_paginated(index):
    index.upsert(vectors=[(f"doc#{i:02d}", [1, i, 0]) for i in range(12)] + [("other", [1, 0, 0])])
    page = index.list_paginated(prefix="doc#", limit=5)
    assert [v.id for v in page.vectors] == [f"doc#{i:02d}" for i in range(5)]
    page2 = index.list_paginated(prefix="doc#", limit=5, pagination_token=page.pagination.next)
    assert [v.id for v in page2.vectors] == [f"doc#{i:02d}" for i in range(5, 10)]
    last = index.list_paginated(prefix="doc#", limit=5, pagination_token=page2.pagination.next)
    assert [v.id for v in last.vectors] == ["doc#10", "doc#11"] and last.pagination is None


def test_namespaces(index):
    index.upsert(vectors=[("a", [1, 0, 0])], namespace="one")
    index.upsert(vectors=[("b", [1, 0, 0]), ("c", [0, 1, 0])], namespace="two")
    assert {n.name: n.record_count for n in index.list_namespaces()} == {"one": 1, "two": 2}
    assert index.describe_namespace("two").record_count == 2
    stats = index.describe_index_stats()
    assert stats.total_vector_count == 3 and stats.namespaces["two"].vector_count == 2
    assert index.describe_index_stats(filter={"x": {"$exists": True}}).total_vector_count == 0
    index.delete_namespace("one")
    with pytest.raises(NamespaceNotFoundError):
        index.describe_namespace("one")
    assert [n.name for n in index.list_namespaces()] == ["two"]


def test_query_by_id(index):
    index.upsert(vectors=[("a", [1, 0, 0]), ("b", [0.9, 0.2, 0]), ("c", [0, 0, 1])])
    assert [m.id for m in index.query(id="a", top_k=2).matches] == ["a", "b"]
    assert index.query(id="nope", top_k=2).matches == []


def test_metrics_follow_pinecone():
    db = slabdb.connect("memory://", config=EngineConfig(background=False))
    db.create_index(name="e", dimension=2, metric="euclidean")
    db.create_index(name="d", dimension=2, metric="dotproduct")
    e, d = db.Index("e"), db.Index("d")
    for idx in (e, d):
        idx.upsert(vectors=[("near", [1, 1]), ("far", [3, 3])])
    res = e.query(vector=[1, 2], top_k=2)
    assert [m.id for m in res.matches] == ["near", "far"]
    assert [m.score for m in res.matches] == pytest.approx(
        [1.0, 5.0]
    )  # squared distance, ascending
    res = d.query(vector=[1, 2], top_k=2)
    assert [m.id for m in res.matches] == ["far", "near"]
    assert [m.score for m in res.matches] == pytest.approx([9.0, 3.0])
    db.close()


def test_hybrid_and_sparse_indexes():
    db = slabdb.connect("memory://", config=EngineConfig(background=False, flush_records=2))
    db.create_index(name="h", dimension=2, metric="dotproduct")
    h = db.Index("h")
    h.upsert(
        vectors=[
            {"id": "a", "values": [1, 0], "sparse_values": {"indices": [5], "values": [2.0]}},
            {"id": "b", "values": [1, 0], "sparse_values": {"indices": [6], "values": [3.0]}},
            {"id": "c", "values": [0.5, 0]},
        ]
    )
    res = h.query(vector=[1, 0], sparse_vector={"indices": [6], "values": [1.0]}, top_k=3)
    assert [m.id for m in res.matches] == ["b", "a", "c"]
    assert [m.score for m in res.matches] == pytest.approx([4.0, 1.0, 0.5])
    db.create_index(name="s", metric="dotproduct", vector_type="sparse")
    s = db.Index("s")
    s.upsert(
        vectors=[
            {"id": f"d{i}", "sparse_values": {"indices": [i, 100], "values": [1.0, 0.1 * i]}}
            for i in range(5)
        ]
    )
    res = s.query(
        sparse_vector={"indices": [3, 100], "values": [1.0, 1.0]}, top_k=2, include_values=True
    )
    assert [m.id for m in res.matches] == ["d3", "d4"]
    assert res.matches[0].sparse_values.indices == [3, 100]
    db.close()


def test_bulk_arrays(index):
    rng = np.random.default_rng(3)
    mat = rng.standard_normal((2500, 3)).astype(np.float32)
    ids = [f"r{i}" for i in range(2500)]
    assert (
        index.upsert_arrays(ids, mat, metadata=[{"i": i} for i in range(2500)]).upserted_count
        == 2500
    )
    assert index.describe_index_stats().total_vector_count == 2500
    got = index.fetch(ids=["r2499"]).vectors["r2499"]
    assert np.array_equal(np.asarray(got.values, dtype=np.float32), mat[2499])


@pytest.mark.parametrize(
    "bad",
    [
        [("a", [1, 2])],  # wrong dimension
        [("a", [1, float("nan"), 0])],
        [("a", [1, float("inf"), 0])],
        [("", [1, 0, 0])],  # empty id
        [("x" * 513, [1, 0, 0])],  # id too long
        [("é", [1, 0, 0])],  # non-ASCII id
        [("a", [1, 0, 0], {"k": None})],  # null metadata
        [("a", [1, 0, 0], {"k": {"nested": 1}})],
        [("a", [1, 0, 0], {"k": [1, 2]})],  # list of numbers
        [("a", [1, 0, 0], {"k": "x" * 41_000})],  # metadata over 40 KB
        [("a", [0, 0, 0])],  # zero vector in a cosine index
        [{"id": "a", "values": [1, 0, 0], "bogus": 1}],
        [(f"v{i}", [1, 0, 0]) for i in range(1001)],  # too many records
    ],
)
def test_bad_upserts_are_rejected_and_leave_data_untouched(index, bad):
    index.upsert(vectors=[("keep", [1, 0, 0], {"k": "v"})])
    with pytest.raises(InvalidArgumentError):
        index.upsert(vectors=bad)
    got = index.fetch(ids=["keep", "a"]).vectors
    assert list(got) == ["keep"] and got["keep"].metadata == {"k": "v"}
    assert index.describe_index_stats().total_vector_count == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"top_k": 0, "vector": [1, 0, 0]},
        {"top_k": 10_001, "vector": [1, 0, 0]},
        {"top_k": 1, "vector": [1, 0]},
        {"top_k": 1, "vector": [1, 0, 0], "filter": {"g": {"$regex": "x"}}},
        {"top_k": 1, "vector": [1, 0, 0], "filter": {"g": {"$gt": "x"}}},
        {"top_k": 1, "vector": [1, 0, 0], "filter": {"g": {"$in": list(range(10_001))}}},
        {"top_k": 1},
    ],
)
def test_bad_queries_are_rejected(index, kwargs):
    with pytest.raises(InvalidArgumentError):
        index.query(**kwargs)


def test_request_size_limit(db):
    from slabdb.core.errors import PayloadTooLargeError

    db.create_index(name="big", dimension=1000, metric="dotproduct")
    big = db.Index("big")
    with pytest.raises(PayloadTooLargeError):
        big.upsert(vectors=[(f"v{i}", [0.5] * 1000) for i in range(600)])  # ~2.4 MB of floats
    assert big.describe_index_stats().total_vector_count == 0


def test_fetch_and_delete_limits(index):
    with pytest.raises(InvalidArgumentError):
        index.fetch(ids=[f"v{i}" for i in range(1001)])
    with pytest.raises(InvalidArgumentError):
        index.delete(ids=[f"v{i}" for i in range(1001)])
    with pytest.raises(InvalidArgumentError):
        index.delete()


@pytest.mark.parametrize("name", ["UPPER", "a_b", "-a", "a-", "x" * 46, ""])
def test_bad_index_names(db, name):
    with pytest.raises(InvalidArgumentError):
        db.create_index(name=name, dimension=3)


def test_bad_dimensions(db):
    for dim in (0, 20_001, "3", None):
        with pytest.raises(InvalidArgumentError):
            db.create_index(name="d", dimension=dim)
    with pytest.raises(InvalidArgumentError):
        db.create_index(name="d", dimension=3, metric="manhattan")


@pytest.mark.parametrize(
    "call",
    [
        lambda ix: ix.delete(filter={"k": {"$regex": "v"}}),
        lambda ix: ix.delete(filter={"$or": []}),
        lambda ix: ix.update(filter={"k": {"$gt": "v"}}, set_metadata={"x": 1}),
        lambda ix: ix.update(id="keep", set_metadata={"x": None}),
        lambda ix: ix.update(id="keep", values=[1, 2]),
        lambda ix: ix.delete(ids=[""]),
    ],
)
def test_bad_updates_and_deletes_change_nothing(index, call):
    index.upsert(vectors=[("keep", [1, 0, 0], {"k": "v"})])
    with pytest.raises(InvalidArgumentError):
        call(index)
    got = index.fetch(ids=["keep"]).vectors
    assert got["keep"].metadata == {"k": "v"} and got["keep"].values == [1.0, 0.0, 0.0]


def test_fetch_by_metadata_paginates_in_id_order(index):
    index.upsert(vectors=[(f"r{i}", [1, i, 0], {"even": i % 2 == 0}) for i in range(9)])
    index.flush()
    index.update(id="r0", set_metadata={"even": False})
    page = index.fetch_by_metadata(filter={"even": True}, limit=2)
    assert list(page.vectors) == ["r2", "r4"] and page.pagination is not None
    page2 = index.fetch_by_metadata(
        filter={"even": True}, limit=2, pagination_token=page.pagination.next
    )
    assert list(page2.vectors) == ["r6", "r8"] and page2.pagination is None
    assert index.namespace_names() == [""]
    assert index.list_namespaces_paginated().total_count == 1


def test_writes_report_their_lsn_and_queries_what_they_saw(index):
    a = index.upsert(vectors=[("a", [1, 0, 0])])
    b = index.update(id="a", set_metadata={"k": "v"})
    c = index.delete(ids=["zz"])
    assert a.lsn is not None and a.lsn < b.lsn < c.lsn
    assert c == {}  # delete answers {} as the SDK does
    assert index.query(vector=[1, 0, 0], top_k=1).lsn >= c.lsn
    assert "lsn" not in a.to_dict() and repr(a) == "UpsertResponse(upserted_count=1)"


def test_metadata_errors_name_the_record(index):
    with pytest.raises(InvalidArgumentError, match=r"vectors\[1\]\.metadata"):
        index.upsert(vectors=[("a", [1, 0, 0], {"ok": 1}), ("b", [1, 0, 0], {"bad": None})])


def test_namespace_pages_continue_past_the_default_namespace() -> None:
    db = slabdb.connect("memory://", config=slabdb.EngineConfig(background=False))
    db.create_index(name="nsp", dimension=2, metric="euclidean")
    index = db.Index("nsp")
    for ns in ("", "b", "c"):
        index.upsert(vectors=[("x", [1.0, 2.0])], namespace=ns)
    first = index.list_namespaces_paginated(limit=1)
    assert [d.name for d in first.namespaces] == ["__default__"]
    assert first.pagination is not None and first.pagination.next  # an opaque token
    second = index.list_namespaces_paginated(limit=1, pagination_token=first.pagination.next)
    assert [d.name for d in second.namespaces] == ["b"]
    assert [d.name for d in index.list_namespaces(limit=1)] == ["__default__", "b", "c"]
    assert set(index.describe_index_stats().namespaces) == {"__default__", "b", "c"}
    db.close()
