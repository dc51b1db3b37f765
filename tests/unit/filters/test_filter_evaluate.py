"""Filter semantics: unit cases, and a property test that the row-at-a-time evaluator,
the bitmap evaluator and an independent brute force agree."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyroaring import BitMap

from slabdb.filters import MetadataIndex, matches, may_match, parse_filter, to_bitmap
from slabdb.filters.ast import MatchAll

ROWS: list[dict[str, Any] | None] = [
    {"genre": "drama", "year": 2020, "rating": 4.5, "tags": ["a", "b"], "flag": True},
    {"genre": "comedy", "year": 2019, "tags": [], "flag": False},
    None,
    {},
    {"genre": ["drama", "comedy"], "year": 2021.0, "flag": 1},
    {"genre": "action", "year": "2020", "rating": 1, "flag": "true"},
]


def _selected(filter: dict[str, Any]) -> list[int]:
    expr = parse_filter(filter)
    by_row = [i for i, row in enumerate(ROWS) if matches(expr, row)]
    by_bitmap = list(to_bitmap(expr, MetadataIndex.build(ROWS)))
    assert by_row == by_bitmap
    return by_row


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({}, [0, 1, 2, 3, 4, 5]),
        ({"genre": "drama"}, [0, 4]),
        ({"genre": {"$ne": "drama"}}, [1, 2, 3, 5]),
        ({"genre": {"$in": ["comedy", "action"]}}, [1, 4, 5]),
        ({"genre": {"$nin": ["comedy", "action"]}}, [0, 2, 3]),
        ({"year": 2020}, [0]),
        ({"year": 2021}, [4]),
        ({"year": "2020"}, [5]),
        ({"year": {"$gte": 2020}}, [0, 4]),
        ({"year": {"$lt": 2020}}, [1]),
        ({"year": {"$gt": 2019, "$lt": 2021}}, [0]),
        ({"rating": {"$lte": 4.5}}, [0, 5]),
        ({"flag": True}, [0]),
        ({"flag": 1}, [4]),
        ({"flag": {"$ne": True}}, [1, 2, 3, 4, 5]),
        ({"flag": {"$in": [True, False]}}, [0, 1]),
        ({"tags": "a"}, [0]),
        ({"tags": {"$exists": True}}, [0, 1]),
        ({"tags": {"$exists": False}}, [2, 3, 4, 5]),
        ({"tags": {"$gt": 0}}, []),
        ({"missing": {"$ne": 1}}, [0, 1, 2, 3, 4, 5]),
        ({"missing": 1}, []),
        ({"$or": [{"genre": "action"}, {"flag": False}]}, [1, 5]),
        ({"$and": [{"genre": "drama"}, {"flag": True}]}, [0]),
        ({"genre": "drama", "year": {"$gt": 2020}}, [4]),
    ],
)
def test_semantics(filter: dict[str, Any], expected: list[int]) -> None:
    assert _selected(filter) == expected


def test_match_all_node_and_none() -> None:
    index = MetadataIndex.build(ROWS)
    assert to_bitmap(MatchAll(), index) == BitMap(range(len(ROWS)))
    assert to_bitmap(None, index) == BitMap(range(len(ROWS)))
    assert matches(MatchAll(), None)


def test_to_bitmap_returns_a_private_mutable_bitmap() -> None:
    index = MetadataIndex.build(ROWS)
    expr = parse_filter({"genre": "drama"})
    first = to_bitmap(expr, index)
    first.add(5)
    assert to_bitmap(expr, index) == BitMap([0, 4])


def test_may_match_prunes_only_impossible_slabs() -> None:
    index = MetadataIndex.build(ROWS)
    stats, n = index.field_stats, index.n_rows
    assert not may_match(parse_filter({"year": {"$gt": 3000}}), stats, n)
    assert not may_match(parse_filter({"missing": 1}), stats, n)
    assert not may_match(parse_filter({"tags": {"$gt": 0}}), stats, n)
    assert not may_match(parse_filter({"rating": True}), stats, n)
    assert may_match(parse_filter({"missing": {"$ne": 1}}), stats, n)
    assert may_match(parse_filter({"year": 2020}), stats, n)
    assert may_match(None, stats, n)
    assert not may_match(None, stats, 0)


# --- property test ------------------------------------------------------------------------

FIELDS = ["a", "b", "c"]
STRINGS = ["x", "y", "", "1"]
numbers = st.sampled_from([0, 1, -1, 2, 1.0, 0.5, -2.5, 3.0, 1e300])
scalars = st.one_of(st.sampled_from(STRINGS), numbers, st.booleans())
metadata_values = st.one_of(scalars, st.lists(st.sampled_from(STRINGS), max_size=3))
rows_strategy = st.lists(
    st.one_of(st.none(), st.dictionaries(st.sampled_from([*FIELDS, "d"]), metadata_values)),
    max_size=25,
)
fields = st.sampled_from(FIELDS)
operators = st.one_of(
    st.tuples(st.sampled_from(["$eq", "$ne"]), scalars),
    st.tuples(st.sampled_from(["$gt", "$gte", "$lt", "$lte"]), numbers),
    st.tuples(st.sampled_from(["$in", "$nin"]), st.lists(scalars, min_size=1, max_size=4)),
    st.tuples(st.just("$exists"), st.booleans()),
)
leaves = st.one_of(
    st.builds(lambda f, v: {f: v}, fields, scalars),
    st.builds(lambda f, ops: {f: dict(ops)}, fields, st.lists(operators, min_size=1, max_size=2)),
)
filters = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.builds(lambda cs: {"$and": cs}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda cs: {"$or": cs}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda x, y: {**x, **y}, children, children),
    ),
    max_leaves=8,
)


def _same(stored: Any, wanted: Any) -> bool:
    if isinstance(stored, bool) or isinstance(wanted, bool):
        return isinstance(stored, bool) and isinstance(wanted, bool) and stored == wanted
    if isinstance(stored, str) or isinstance(wanted, str):
        return isinstance(stored, str) and isinstance(wanted, str) and stored == wanted
    return float(stored) == float(wanted)


def _brute_eq(md: dict[str, Any], field: str, wanted: Any) -> bool:
    if field not in md:
        return False
    stored = md[field]
    if isinstance(stored, list):
        return any(_same(element, wanted) for element in stored)
    return _same(stored, wanted)


def _brute_op(md: dict[str, Any], field: str, op: str, operand: Any) -> bool:
    if op == "$eq":
        return _brute_eq(md, field, operand)
    if op == "$ne":
        return not _brute_eq(md, field, operand)
    if op == "$in":
        return any(_brute_eq(md, field, v) for v in operand)
    if op == "$nin":
        return not any(_brute_eq(md, field, v) for v in operand)
    if op == "$exists":
        return (field in md) == operand
    stored = md.get(field)
    if isinstance(stored, bool) or not isinstance(stored, int | float):
        return False
    return {
        "$gt": stored > operand,
        "$gte": stored >= operand,
        "$lt": stored < operand,
        "$lte": stored <= operand,
    }[op]


def brute_force(filter: dict[str, Any], md: dict[str, Any] | None) -> bool:
    """An independent reading of the filter language, straight from the raw dict."""
    md = md or {}
    for key, spec in filter.items():
        if key == "$and":
            ok = all(brute_force(f, md) for f in spec)
        elif key == "$or":
            ok = any(brute_force(f, md) for f in spec)
        else:
            ops = spec if isinstance(spec, dict) else {"$eq": spec}
            ok = all(_brute_op(md, key, op, operand) for op, operand in ops.items())
        if not ok:
            return False
    return True


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=rows_strategy, filter=filters)
def test_bitmap_row_and_brute_force_agree(
    rows: list[dict[str, Any] | None], filter: dict[str, Any]
) -> None:
    expr = parse_filter(filter)
    index = MetadataIndex.build(rows)
    expected = {i for i, row in enumerate(rows) if brute_force(filter, row)}
    by_row = {i for i, row in enumerate(rows) if matches(expr, row)}
    by_bitmap = set(to_bitmap(expr, index))
    reloaded = set(to_bitmap(expr, MetadataIndex.from_bytes(index.to_bytes())))
    assert by_row == expected
    assert by_bitmap == expected
    assert reloaded == expected
    if not may_match(expr, index.field_stats, index.n_rows):
        assert not expected
