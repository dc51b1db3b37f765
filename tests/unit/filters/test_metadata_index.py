from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from pyroaring import BitMap

from slabdb.core.errors import CorruptionError
from slabdb.filters import FieldStats, MetadataIndex, bitmap_from_rows

ROWS: list[dict[str, Any] | None] = [
    {"genre": "drama", "year": 2020, "tags": ["a", "b"], "ok": True},
    None,
    {"genre": ["drama", "sci-fi"], "year": 1999.5, "ok": False},
    {"genre": "comedy", "year": "unknown", "tags": []},
    {},
]


def test_bitmaps_columns_and_presence() -> None:
    index = MetadataIndex.build(ROWS)
    assert index.n_rows == 5
    assert set(index.fields) == {"genre", "year", "tags", "ok"}
    assert index.presence("genre") == BitMap([0, 2, 3])
    assert index.presence("tags") == BitMap([0, 3])
    assert index.presence("nope") == BitMap()
    assert index.string_rows("genre", "drama") == BitMap([0, 2])
    assert index.string_rows("genre", "sci-fi") == BitMap([2])
    assert index.string_rows("year", "unknown") == BitMap([3])
    assert index.bool_rows("ok", True) == BitMap([0])
    assert index.bool_rows("ok", False) == BitMap([2])
    assert index.bool_rows("genre", True) == BitMap()
    column = index.numeric("year")
    assert column is not None and column.dtype == np.float64
    assert column[0] == 2020.0 and column[2] == 1999.5
    assert all(math.isnan(column[i]) for i in (1, 3, 4))
    assert index.numeric("genre") is None
    assert sorted(index.distinct_strings("genre")) == ["comedy", "drama", "sci-fi"]
    assert index.all_rows() == BitMap(range(5))


def test_field_stats() -> None:
    stats = MetadataIndex.build(ROWS).field_stats
    assert stats["year"] == FieldStats(
        count=3, numeric_count=2, string_count=1, bool_count=0, min=1999.5, max=2020.0, distinct=3
    )
    assert stats["genre"].count == 3 and stats["genre"].string_count == 3
    assert stats["genre"].distinct == 3
    assert stats["tags"].string_count == 1  # the empty list holds no string
    assert stats["ok"].bool_count == 2 and stats["ok"].distinct == 2
    for s in stats.values():
        assert FieldStats.from_dict(s.to_dict()) == s


def test_serialization_round_trip_is_lazy_and_equal() -> None:
    index = MetadataIndex.build(ROWS)
    data = index.to_bytes()
    again = MetadataIndex.from_bytes(data)
    assert again.n_rows == index.n_rows
    assert again.fields == index.fields
    assert again.field_stats == index.field_stats
    for field in index.fields:
        assert again.presence(field) == index.presence(field)
        for value in index.distinct_strings(field):
            assert again.string_rows(field, value) == index.string_rows(field, value)
        for flag in (True, False):
            assert again.bool_rows(field, flag) == index.bool_rows(field, flag)
        a, b = again.numeric(field), index.numeric(field)
        assert (a is None) == (b is None)
        if a is not None and b is not None:
            np.testing.assert_array_equal(a, b)
    # a reloaded index serializes to the same bytes
    assert again.to_bytes() == data


def test_empty_index() -> None:
    cases: list[list[dict[str, Any] | None]] = [[], [None, {}]]
    for rows in cases:
        index = MetadataIndex.from_bytes(MetadataIndex.build(rows).to_bytes())
        assert index.n_rows == len(rows)
        assert index.fields == ()


def test_garbage_raises_corruption() -> None:
    data = MetadataIndex.build(ROWS).to_bytes()
    with pytest.raises(CorruptionError):
        MetadataIndex.from_bytes(b"nope")
    with pytest.raises(CorruptionError):
        MetadataIndex.from_bytes(b"XXXX" + data[4:])
    with pytest.raises(CorruptionError):
        MetadataIndex.from_bytes(data[:20])


def test_bitmap_from_rows() -> None:
    assert bitmap_from_rows(np.array([5, 1, 3], dtype=np.int64)) == BitMap([1, 3, 5])
    assert bitmap_from_rows([]) == BitMap()
