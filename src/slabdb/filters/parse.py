"""Pinecone's metadata filter language: grammar, meaning, and the parser.

Grammar
-------
A filter is a JSON object.  Each key is either a logical operator or a field name;
several keys in one object are an implicit AND::

    filter   := { key: ..., key: ... }                   (all keys must hold)
    "$and"   : [filter, ...]                             non-empty list
    "$or"    : [filter, ...]                             non-empty list
    field    : value                                     same as {"$eq": value}
    field    : { op: operand, op: operand }              all operators must hold

    $eq, $ne                    string, number or boolean
    $gt, $gte, $lt, $lte        number (booleans are not numbers)
    $in, $nin                   non-empty list of strings, numbers or booleans
                                (at most 10,000 values)
    $exists                     boolean

Field names are non-empty and do not start with ``$``.  ``null`` is never a valid
operand, and ``$and``/``$or`` may nest at most :data:`MAX_FILTER_DEPTH` deep.  ``None``
or ``{}`` as the whole filter means "match everything" (:func:`parse_filter` returns
``None``); an empty object inside ``$and``/``$or`` matches everything too.

Meaning
-------
* Metadata values are strings, numbers (``int`` or ``float``, compared as float64),
  booleans, or lists of strings.  A boolean is never equal to a number: ``True`` does
  not match ``{"$eq": 1}`` and ``1`` does not match ``{"$eq": true}``.
* A list value matches ``$eq v`` and ``$in [...]`` if ANY element matches.
* ``$ne v`` is exactly NOT ``$eq v`` and ``$nin`` is NOT ``$in``: records that lack the
  field DO match ``$ne``/``$nin``, and a list that contains ``v`` does not match
  ``$ne v``.
* ``$gt $gte $lt $lte`` only match numeric values (never strings, booleans or lists).
* ``{"$exists": true}`` matches records that have the field (whatever its value);
  ``{"$exists": false}`` matches records that do not.

:func:`slabdb.filters.evaluate.matches` (one record at a time) and
:func:`slabdb.filters.evaluate.to_bitmap` (a slab's bitmap index) implement this
meaning and agree exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, cast

from slabdb.core import limits
from slabdb.core.errors import InvalidFilterError
from slabdb.filters.ast import (
    FIELD_OPS,
    LOGICAL_OPS,
    RANGE_OPS,
    SET_OPS,
    Cmp,
    CmpOp,
    Expr,
    MatchAll,
    Scalar,
    make_and,
    make_or,
)

MAX_IN_VALUES = limits.MAX_FILTER_IN_VALUES
"""Most values one ``$in``/``$nin`` list may hold (Pinecone's published limit)."""
MAX_FILTER_DEPTH = limits.MAX_FILTER_DEPTH
"""Deepest allowed nesting of ``$and``/``$or``."""
DEPTH_MESSAGE = f"$and/$or nest deeper than the limit of {MAX_FILTER_DEPTH} levels"
"""What a too-deep filter is told, by :func:`parse_filter` and by transports that must
stop decoding a filter before it reaches it (gRPC)."""


def parse_filter(filter: Mapping[str, Any] | None) -> Expr | None:
    """Parse a Pinecone filter; ``None`` means "match everything".

    Raises :class:`~slabdb.core.errors.InvalidFilterError` naming the problem and where
    it is (for example ``unknown operator '$foo' for field 'genre'``).
    """
    if filter is None:
        return None
    if not isinstance(filter, Mapping):
        raise InvalidFilterError(f"a filter must be an object, got {_describe(filter)}")
    expr = _parse_object(filter, path="", depth=0)
    return None if isinstance(expr, MatchAll) else expr


def _fail(message: str, path: str) -> InvalidFilterError:
    if len(path) > 80:
        path = "..." + path[-77:]
    where = f" (in {path})" if path else ""
    return InvalidFilterError(f"invalid filter: {message}{where}")


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:40] + "...")
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, int | float):
        text = repr(value)
        return text if len(text) <= 40 else text[:40] + "..."
    return f"a {type(value).__name__}"


def _parse_object(obj: Mapping[str, Any], path: str, depth: int) -> Expr:
    if depth > MAX_FILTER_DEPTH:
        raise _fail(DEPTH_MESSAGE, path)
    children: list[Expr] = []
    for key, value in obj.items():
        if not isinstance(key, str):
            raise _fail(f"keys must be strings, got {_describe(key)}", path)
        if key in LOGICAL_OPS:
            children.append(_parse_logical(key, value, path, depth))
        elif key.startswith("$"):
            hint = " (operators other than $and/$or go inside a field)" if key in FIELD_OPS else ""
            raise _fail(f"unknown operator '{key}' at the top level{hint}", path)
        elif key == "":
            raise _fail("field names must not be empty", path)
        else:
            children.append(_parse_field(key, value, path))
    return make_and(children)


def _parse_logical(op: str, value: Any, path: str, depth: int) -> Expr:
    if not isinstance(value, list | tuple):
        raise _fail(f"{op} needs a list of filters, got {_describe(value)}", path)
    if not value:
        raise _fail(f"{op} needs at least one filter, got an empty list", path)
    children: list[Expr] = []
    for i, item in enumerate(value):
        item_path = f"{path}.{op}[{i}]" if path else f"{op}[{i}]"
        if not isinstance(item, Mapping):
            raise _fail(f"{op} items must be filter objects, got {_describe(item)}", item_path)
        children.append(_parse_object(item, item_path, depth + 1))
    return make_and(children) if op == "$and" else make_or(children)


def _parse_field(field: str, spec: Any, path: str) -> Expr:
    if isinstance(spec, Mapping):
        if not spec:
            raise _fail(f"field '{field}' has an empty operator object", path)
        parts: list[Expr] = []
        for op, operand in spec.items():
            if not isinstance(op, str) or op not in FIELD_OPS:
                raise _unknown_operator(field, op, path)
            parts.append(_parse_operator(field, cast(CmpOp, op), operand, path))
        return make_and(parts)
    if isinstance(spec, list | tuple):
        raise _fail(
            f"field '{field}' is compared with a list; use {{\"$in\": [...]}} to match any of "
            "several values",
            path,
        )
    return Cmp(field, "$eq", _scalar(spec, "$eq", field, path))


def _unknown_operator(field: str, op: Any, path: str) -> InvalidFilterError:
    if isinstance(op, str) and op in LOGICAL_OPS:
        return _fail(f"{op} cannot be used inside field '{field}'; put it at the top level", path)
    if isinstance(op, str) and not op.startswith("$"):
        return _fail(
            f"unknown operator '{op}' for field '{field}' (operators start with '$'; "
            "nested metadata objects are not supported)",
            path,
        )
    return _fail(f"unknown operator {_op_name(op)} for field '{field}'", path)


def _op_name(op: Any) -> str:
    return f"'{op}'" if isinstance(op, str) else _describe(op)


def _parse_operator(field: str, op: CmpOp, operand: Any, path: str) -> Cmp:
    if op == "$exists":
        if not isinstance(operand, bool):
            raise _fail(
                f"$exists needs true or false for field '{field}', got {_describe(operand)}", path
            )
        return Cmp(field, op, operand)
    if op in RANGE_OPS:
        number = _number(operand)
        if number is None:
            numeric = isinstance(operand, int | float) and not isinstance(operand, bool)
            finite = "a finite number" if numeric else "a number"
            raise _fail(f"{op} needs {finite} for field '{field}', got {_describe(operand)}", path)
        return Cmp(field, op, number)
    if op in SET_OPS:
        return Cmp(field, op, _scalar_list(operand, op, field, path))
    return Cmp(field, op, _scalar(operand, op, field, path))


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or None if it is not a number (booleans are not)."""
    if isinstance(value, bool):
        return None
    if not isinstance(value, int | float):
        if type(value).__module__ != "numpy" or getattr(value, "dtype", None) is None:
            return None
        if value.dtype.kind not in "iuf":
            return None
        value = value.item()
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _scalar(value: Any, op: str, field: str, path: str) -> Scalar:
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return value
    if (
        type(value).__module__ == "numpy"
        and getattr(value, "dtype", None) is not None
        and value.dtype.kind == "b"
    ):
        return bool(value)
    number = _number(value)
    if number is not None:
        return number
    if value is None:
        raise _fail(f"{op} for field '{field}' got null; null is not supported", path)
    if isinstance(value, int | float):
        raise _fail(f"{op} for field '{field}' needs a finite number, got {_describe(value)}", path)
    raise _fail(
        f"{op} needs a string, number or boolean for field '{field}', got {_describe(value)}",
        path,
    )


def _scalar_list(value: Any, op: str, field: str, path: str) -> tuple[Scalar, ...]:
    if not isinstance(value, list | tuple):
        raise _fail(f"{op} needs a list for field '{field}', got {_describe(value)}", path)
    if not value:
        raise _fail(f"{op} needs at least one value for field '{field}'", path)
    if len(value) > MAX_IN_VALUES:
        raise _fail(
            f"{op} accepts at most {MAX_IN_VALUES} values, got {len(value)} for field '{field}'",
            path,
        )
    seen: dict[tuple[type, Scalar], Scalar] = {}
    for item in value:
        scalar = _scalar(item, op, field, path)
        # key by type too: True == 1.0 in Python, but not in the filter language
        seen.setdefault((type(scalar), scalar), scalar)
    return tuple(seen.values())
