from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pyroaring import BitMap, FrozenBitMap

from slabdb.core.values import SparseVector
from slabdb.filters import parse_filter
from slabdb.slab import FORMAT_VERSION, SlabBuilder, SlabReader, SlabStats

N, DIM = 40, 6


def _sparse(i: int) -> SparseVector | None:
    if i % 4 == 0:
        return None
    if i % 4 == 1:
        return SparseVector(np.array([], dtype=np.uint32), np.array([], dtype=np.float32))
    return SparseVector(np.array([i % 7, 10 + i], dtype=np.uint32), np.array([0.5, -i], np.float32))


def _metadata(i: int) -> dict[str, Any] | None:
    if i % 5 == 0:
        return None
    if i % 5 == 1:
        return {}
    return {"i": i, "f": i / 4, "even": i % 2 == 0, "tags": [f"t{i % 3}", "all"], "s": f"s{i}"}


def _build(**overrides: Any) -> tuple[bytes, SlabStats, dict[str, Any]]:
    rng = np.random.default_rng(7)
    args: dict[str, Any] = {
        "ids": [f"id-{i}" for i in range(N)],
        "lsns": np.arange(100, 100 + N, dtype=np.uint64)[::-1].copy(),
        "deleted": np.arange(N) % 6 == 3,
        "vectors": rng.standard_normal((N, DIM)).astype(np.float32),
        "sparse": [_sparse(i) for i in range(N)],
        "metadata": [_metadata(i) for i in range(N)],
        "metric": "dotproduct",
        "vector_type": "dense",
        "level": 1,
    }
    args.update(overrides)
    data, stats = SlabBuilder.build(**args)
    return data, stats, args


def test_dense_hybrid_round_trip() -> None:
    data, stats, args = _build()
    reader = SlabReader.from_bytes(data)
    deleted = args["deleted"]
    assert reader.n == N and reader.dim == DIM
    assert (reader.metric, reader.vector_type, reader.level) == ("dotproduct", "dense", 1)
    assert reader.ids == args["ids"]
    assert reader.id_to_row["id-7"] == 7 and reader.row_of("nope") is None
    np.testing.assert_array_equal(reader.lsns, args["lsns"])
    assert reader.lsns.dtype == np.uint64
    np.testing.assert_array_equal(reader.deleted, deleted)
    assert reader.live == BitMap(np.flatnonzero(~deleted).tolist())
    assert isinstance(reader.live, FrozenBitMap)

    vectors = reader.vectors
    assert vectors is not None and vectors.dtype == np.float32 and vectors.shape == (N, DIM)
    expected = args["vectors"].copy()
    expected[deleted] = 0.0
    assert vectors.tobytes() == expected.tobytes()  # bit-exact
    assert not vectors.flags.writeable
    norms = reader.norms
    assert norms is not None
    np.testing.assert_allclose(norms, np.linalg.norm(expected, axis=1), rtol=1e-6)

    for i in range(N):
        if deleted[i]:
            assert reader.metadata(i) is None and reader.sparse(i) is None
            continue
        assert reader.metadata(i) == args["metadata"][i]
        assert reader.sparse(i) == args["sparse"][i]
    # types survive: ints stay ints, floats stay floats
    md = reader.metadata(2)
    assert md is not None and type(md["i"]) is int and type(md["f"]) is float
    assert reader.metadata(1) == {} and reader.metadata(0) is None
    empty = reader.sparse(1)
    assert empty is not None and len(empty.indices) == 0

    assert stats == reader.stats
    assert stats.count == N and stats.live_count == int((~deleted).sum())
    assert (stats.min_lsn, stats.max_lsn) == (100, 100 + N - 1)
    assert stats.size_bytes == len(data)
    assert stats.format_version == FORMAT_VERSION
    assert stats.field_stats["i"].min == 2 and stats.field_stats["i"].max == 38  # 39 is a tombstone
    assert SlabStats.from_dict(stats.to_dict()) == stats


def test_returned_metadata_is_a_private_copy() -> None:
    data, _, _ = _build()
    reader = SlabReader.from_bytes(data)
    md = reader.metadata(2)
    assert md is not None
    md["tags"].append("x")
    md["new"] = 1
    assert reader.metadata(2) == _metadata(2)


def test_filter_bitmap_only_returns_live_rows() -> None:
    data, _, args = _build()
    reader = SlabReader.from_bytes(data)
    deleted = args["deleted"]
    got = reader.filter_bitmap(parse_filter({"tags": "all"}))
    expected = {i for i in range(N) if _metadata(i) and not deleted[i]}
    assert set(got) == expected
    assert reader.filter_bitmap(None) == reader.live
    with pytest.raises(AttributeError):  # remembered for the next query: frozen
        got.add(3)  # type: ignore[attr-defined]
    assert reader.filter_bitmap(parse_filter({"tags": "all"})) is got


def test_sparse_only_round_trip() -> None:
    rows = [_sparse(i) for i in range(N)]
    data, stats, _ = _build(vectors=None, vector_type="sparse", sparse=rows)
    reader = SlabReader.from_bytes(data)
    assert reader.vectors is None and reader.norms is None and reader.dim is None
    assert stats.dim is None and reader.has_sparse
    for i in range(N):
        assert reader.sparse(i) == (None if i % 6 == 3 else rows[i])


def test_unsorted_sparse_rows_are_stored_sorted() -> None:
    sv = SparseVector(np.array([9, 2, 5], np.uint32), np.array([1.0, 2.0, 3.0], np.float32))
    data, _ = SlabBuilder.build(
        ids=["a"],
        lsns=[1],
        deleted=[False],
        vectors=None,
        sparse=[sv],
        metadata=[None],
        metric="dotproduct",
        vector_type="sparse",
        level=0,
    )
    got = SlabReader.from_bytes(data).sparse(0)
    assert got == SparseVector(np.array([2, 5, 9], np.uint32), np.array([2.0, 3.0, 1.0]))


def test_dense_without_sparse_has_no_sparse_sections() -> None:
    data, _, _ = _build(sparse=None)
    reader = SlabReader.from_bytes(data)
    assert not reader.has_sparse
    assert reader.sparse(0) is None
    assert not any(name.startswith("sparse") for name in reader.section_names)


def test_empty_slab() -> None:
    data, stats, _ = _build(
        ids=[],
        lsns=np.empty(0, np.uint64),
        deleted=np.empty(0, bool),
        vectors=np.empty((0, DIM), np.float32),
        sparse=[],
        metadata=[],
    )
    reader = SlabReader.from_bytes(data)
    assert reader.n == 0 and reader.ids == [] and len(reader.live) == 0
    assert (stats.count, stats.live_count, stats.min_lsn, stats.max_lsn) == (0, 0, 0, 0)
    rows, scores = reader.search(vector=np.ones(DIM, np.float32), sparse=None, metric="cosine", k=5)
    assert len(rows) == 0 and len(scores) == 0


def test_extra_sections() -> None:
    blob = np.arange(12, dtype=np.float32).reshape(3, 4)
    data, _, _ = _build(extra_sections={"ann_ivf": b"hello", "ann_codes": blob})
    reader = SlabReader.from_bytes(data)
    raw = reader.section_bytes("ann_ivf")
    assert raw is not None and bytes(raw) == b"hello"
    arr = reader.section_array("ann_codes")
    assert arr is not None
    np.testing.assert_array_equal(arr, blob)
    assert reader.section_bytes("absent") is None
    with pytest.raises(ValueError, match="collides"):
        _build(extra_sections={"vectors": b""})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ids": ["a"] * N}, "ids repeat"),
        ({"lsns": np.arange(N - 1)}, "lsns has"),
        ({"deleted": np.zeros(N + 1, bool)}, "deleted has"),
        ({"metadata": [None]}, "metadata has"),
        ({"sparse": [None]}, "sparse has"),
        ({"metric": "manhattan"}, "unknown metric"),
        ({"vector_type": "hybrid"}, "unknown vector_type"),
        ({"level": -1}, "level"),
        ({"vectors": None}, "needs vectors"),
        ({"vectors": np.zeros((N, 0), np.float32)}, "shape"),
        ({"vectors": np.zeros(N, np.float32)}, "shape"),
        ({"vector_type": "sparse"}, "takes no dense vectors"),
    ],
)
def test_builder_rejects_bad_input(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _build(**overrides)


def test_layout_written_to_a_file_is_the_encoded_slab(tmp_path: Any) -> None:
    """``SlabLayout.write`` streams the same bytes ``build`` returns, and its stats
    carry the written size."""
    data, stats, args = _build()
    path = tmp_path / "slab"
    with path.open("wb") as out:
        written = SlabBuilder.layout(**args).write(out)
    assert path.read_bytes() == data
    assert written == stats
    assert written.size_bytes == len(data)
