from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from slabdb.core.errors import InvalidArgumentError, InvalidFilterError
from slabdb.filters import MAX_FILTER_DEPTH, MAX_IN_VALUES, parse_filter
from slabdb.filters.ast import And, Cmp, MatchAll, Or, referenced_fields


def test_none_and_empty_match_everything() -> None:
    assert parse_filter(None) is None
    assert parse_filter({}) is None
    assert parse_filter({"$and": [{}]}) is None
    assert parse_filter({"$or": [{}, {"a": 1}]}) is None


def test_bare_value_is_eq_and_numbers_become_floats() -> None:
    assert parse_filter({"genre": "drama"}) == Cmp("genre", "$eq", "drama")
    assert parse_filter({"year": 2020}) == Cmp("year", "$eq", 2020.0)
    assert parse_filter({"flag": True}) == Cmp("flag", "$eq", True)
    parsed = parse_filter({"year": 2020})
    assert isinstance(parsed, Cmp) and type(parsed.value) is float


@pytest.mark.parametrize(
    ("op", "operand", "value"),
    [
        ("$eq", "a", "a"),
        ("$eq", 1, 1.0),
        ("$eq", False, False),
        ("$ne", "a", "a"),
        ("$ne", 2.5, 2.5),
        ("$ne", True, True),
        ("$gt", 1, 1.0),
        ("$gte", -1.5, -1.5),
        ("$lt", 10, 10.0),
        ("$lte", 0, 0.0),
        ("$in", ["a", 1, True], ("a", 1.0, True)),
        ("$nin", ["a"], ("a",)),
        ("$exists", True, True),
        ("$exists", False, False),
    ],
)
def test_every_operator(op: str, operand: Any, value: Any) -> None:
    assert parse_filter({"f": {op: operand}}) == Cmp("f", op, value)  # type: ignore[arg-type]


def test_in_keeps_true_and_one_apart_and_drops_duplicates() -> None:
    parsed = parse_filter({"f": {"$in": [1, True, 1.0, "1", True, 1]}})
    assert parsed == Cmp("f", "$in", (1.0, True, "1"))


def test_numpy_scalars_are_accepted() -> None:
    assert parse_filter({"f": np.int64(3)}) == Cmp("f", "$eq", 3.0)
    assert parse_filter({"f": {"$gt": np.float32(0.5)}}) == Cmp("f", "$gt", 0.5)
    assert parse_filter({"f": np.bool_(True)}) == Cmp("f", "$eq", True)


def test_implicit_and_of_fields_and_of_operators() -> None:
    assert parse_filter({"a": 1, "b": "x"}) == And((Cmp("a", "$eq", 1.0), Cmp("b", "$eq", "x")))
    assert parse_filter({"a": {"$gte": 1, "$lt": 5}}) == And(
        (Cmp("a", "$gte", 1.0), Cmp("a", "$lt", 5.0))
    )


def test_nested_and_or() -> None:
    parsed = parse_filter(
        {"$or": [{"a": 1}, {"$and": [{"b": {"$exists": True}}, {"c": {"$nin": ["x"]}}]}], "d": 2}
    )
    assert parsed == And(
        (
            Or(
                (
                    Cmp("a", "$eq", 1.0),
                    And((Cmp("b", "$exists", True), Cmp("c", "$nin", ("x",)))),
                )
            ),
            Cmp("d", "$eq", 2.0),
        )
    )
    assert referenced_fields(parsed) == {"a", "b", "c", "d"}


def test_single_child_logicals_collapse_and_ands_flatten() -> None:
    assert parse_filter({"$and": [{"a": 1}]}) == Cmp("a", "$eq", 1.0)
    assert parse_filter({"$or": [{"a": 1}]}) == Cmp("a", "$eq", 1.0)
    assert parse_filter({"$and": [{"a": 1}, {"$and": [{"b": 2}, {"c": 3}]}]}) == And(
        (Cmp("a", "$eq", 1.0), Cmp("b", "$eq", 2.0), Cmp("c", "$eq", 3.0))
    )


def test_to_filter_round_trips() -> None:
    source = {"$or": [{"a": {"$in": ["x", 2.0]}}, {"$and": [{"b": {"$lt": 3.0}}, {"c": True}]}]}
    parsed = parse_filter(source)
    assert parsed is not None
    assert parse_filter(parsed.to_filter()) == parsed
    assert MatchAll().to_filter() == {}


def test_depth_limit() -> None:
    deep: dict[str, Any] = {"a": 1}
    for _ in range(MAX_FILTER_DEPTH):
        deep = {"$and": [deep, {"b": 2}]}
    assert parse_filter(deep) is not None
    with pytest.raises(InvalidFilterError, match="deeper"):
        parse_filter({"$or": [deep, {"c": 3}]})


def test_in_limit() -> None:
    assert parse_filter({"f": {"$in": list(range(MAX_IN_VALUES))}}) is not None
    with pytest.raises(InvalidFilterError, match="at most 10000 values"):
        parse_filter({"f": {"$nin": list(range(MAX_IN_VALUES + 1))}})


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("genre", "must be an object"),
        ([{"a": 1}], "must be an object"),
        ({"genre": {"$foo": 1}}, "unknown operator '\\$foo' for field 'genre'"),
        ({"genre": {"sub": 1}}, "unknown operator 'sub' for field 'genre'"),
        ({"genre": {"$and": [{"a": 1}]}}, "put it at the top level"),
        ({"$foo": 1}, "unknown operator '\\$foo' at the top level"),
        ({"$eq": 1}, "unknown operator '\\$eq' at the top level"),
        ({"": 1}, "must not be empty"),
        ({1: 1}, "keys must be strings"),
        ({"genre": None}, "null"),
        ({"genre": {"$eq": None}}, "null"),
        ({"genre": {"$ne": [1]}}, "\\$ne needs a string, number or boolean"),
        ({"genre": {"$eq": {"a": 1}}}, "got an object"),
        ({"genre": ["a", "b"]}, 'use \\{"\\$in"'),
        ({"genre": {}}, "empty operator object"),
        ({"x": {"$gt": "x"}}, "\\$gt needs a number for field 'x', got 'x'"),
        ({"x": {"$gte": True}}, "\\$gte needs a number"),
        ({"x": {"$lt": None}}, "\\$lt needs a number"),
        ({"x": {"$lte": [1]}}, "\\$lte needs a number"),
        ({"x": {"$gt": float("nan")}}, "\\$gt needs a finite number"),
        ({"x": {"$gt": float("inf")}}, "\\$gt needs a finite number"),
        ({"x": {"$eq": float("nan")}}, "finite number"),
        ({"x": {"$eq": 10**400}}, "finite number"),
        ({"x": {"$in": "a"}}, "\\$in needs a list"),
        ({"x": {"$in": []}}, "at least one value"),
        ({"x": {"$nin": [None]}}, "null"),
        ({"x": {"$in": [["a"]]}}, "got a list"),
        ({"x": {"$exists": 1}}, "\\$exists needs true or false"),
        ({"x": {"$exists": "yes"}}, "\\$exists needs true or false"),
        ({"$and": []}, "at least one filter"),
        ({"$or": {"a": 1}}, "\\$or needs a list"),
        ({"$and": [1]}, "items must be filter objects"),
        ({"$and": [{"a": {"$bad": 1}}]}, "in \\$and\\[0\\]"),
        ({"$or": [{"a": 1}, {"$and": [{"b": {"$in": []}}]}]}, "in \\$or\\[1\\].\\$and\\[0\\]"),
    ],
)
def test_invalid_filters(bad: Any, message: str) -> None:
    with pytest.raises(InvalidFilterError, match=message) as info:
        parse_filter(bad)
    assert isinstance(info.value, InvalidArgumentError)
    assert info.value.http_status == 400
