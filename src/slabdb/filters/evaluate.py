"""Evaluate parsed filters: one record at a time, over a slab's bitmap index, or
against a slab's field statistics.

The meaning of every operator is documented in :mod:`slabdb.filters.parse`.
:func:`matches` (used by the memtable) and :func:`to_bitmap` (used by slabs) agree
exactly; :func:`may_match` is a conservative shortcut for planners: when it says
False, no row of the slab can match.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from pyroaring import AbstractBitMap, BitMap

from slabdb.filters.ast import And, Cmp, Expr, MatchAll, Or, Scalar
from slabdb.filters.bitsets import bitmap_from_mask
from slabdb.filters.metadata_index import (
    FieldStats,
    MetadataIndex,
    numeric_value,
    string_values,
)

_MISSING: Any = object()


# --- one record -------------------------------------------------------------------------
def matches(expr: Expr | None, metadata: Mapping[str, Any] | None) -> bool:
    """Does one record's metadata (None: no metadata) satisfy ``expr`` (None: match all)?"""
    if expr is None or isinstance(expr, MatchAll):
        return True
    if isinstance(expr, And):
        return all(matches(child, metadata) for child in expr.children)
    if isinstance(expr, Or):
        return any(matches(child, metadata) for child in expr.children)
    value = metadata.get(expr.field, _MISSING) if metadata else _MISSING
    op = expr.op
    if op == "$exists":
        return (value is not _MISSING) is expr.value
    if op == "$eq":
        return _equals(value, expr.value)  # type: ignore[arg-type]
    if op == "$ne":
        return not _equals(value, expr.value)  # type: ignore[arg-type]
    if op == "$in":
        return any(_equals(value, v) for v in expr.value)  # type: ignore[union-attr]
    if op == "$nin":
        return not any(_equals(value, v) for v in expr.value)  # type: ignore[union-attr]
    number = numeric_value(value)
    if number is None:
        return False
    bound = expr.value
    if op == "$gt":
        return number > bound  # type: ignore[operator]
    if op == "$gte":
        return number >= bound  # type: ignore[operator]
    if op == "$lt":
        return number < bound  # type: ignore[operator]
    if op == "$lte":
        return number <= bound  # type: ignore[operator]
    raise ValueError(f"unknown operator {op!r}")


def _equals(value: Any, target: Scalar) -> bool:
    if value is _MISSING:
        return False
    if isinstance(target, bool):
        return isinstance(value, bool) and value is target
    if isinstance(target, str):
        return target in string_values(value)
    number = numeric_value(value)
    return number is not None and number == target


# --- a slab's bitmap index --------------------------------------------------------------
def to_bitmap(expr: Expr | None, index: MetadataIndex) -> BitMap:
    """The rows of ``index`` (all of them, deleted or not) that satisfy ``expr``.

    Always a new, mutable bitmap the caller owns.
    """
    if expr is None:
        return index.all_rows()
    result = _bitmap(expr, index)
    return result if isinstance(result, BitMap) else BitMap(result)


def _bitmap(expr: Expr, index: MetadataIndex) -> AbstractBitMap:
    if isinstance(expr, MatchAll):
        return index.all_rows()
    if isinstance(expr, And):
        acc: AbstractBitMap | None = None
        for child in expr.children:
            part = _bitmap(child, index)
            acc = part if acc is None else acc & part
            if not acc:
                break
        return BitMap() if acc is None else acc
    if isinstance(expr, Or):
        return BitMap().union(*(_bitmap(child, index) for child in expr.children))
    return _cmp_bitmap(expr, index)


def _cmp_bitmap(expr: Cmp, index: MetadataIndex) -> AbstractBitMap:
    op, field = expr.op, expr.field
    if op == "$exists":
        present = index.presence(field)
        return present if expr.value else index.all_rows() - present
    if op in ("$eq", "$ne"):
        hit = _eq_bitmap(index, field, expr.value)  # type: ignore[arg-type]
        return hit if op == "$eq" else index.all_rows() - hit
    if op in ("$in", "$nin"):
        hit = _in_bitmap(index, field, expr.value)  # type: ignore[arg-type]
        return hit if op == "$in" else index.all_rows() - hit
    column = index.numeric(field)
    if column is None:
        return BitMap()
    bound = float(expr.value)  # type: ignore[arg-type]
    with np.errstate(invalid="ignore"):
        if op == "$gt":
            mask = column > bound
        elif op == "$gte":
            mask = column >= bound
        elif op == "$lt":
            mask = column < bound
        elif op == "$lte":
            mask = column <= bound
        else:
            raise ValueError(f"unknown operator {op!r}")
    return _rows_of(mask)


def _rows_of(mask: npt.NDArray[np.bool_]) -> BitMap:
    return bitmap_from_mask(mask)


def _eq_bitmap(index: MetadataIndex, field: str, value: Scalar) -> AbstractBitMap:
    if isinstance(value, bool):
        return index.bool_rows(field, value)
    if isinstance(value, str):
        return index.string_rows(field, value)
    column = index.numeric(field)
    if column is None:
        return BitMap()
    return _rows_of(column == float(value))


def _in_bitmap(index: MetadataIndex, field: str, values: tuple[Scalar, ...]) -> AbstractBitMap:
    parts: list[AbstractBitMap] = []
    numbers: list[float] = []
    for value in values:
        if isinstance(value, bool):
            parts.append(index.bool_rows(field, value))
        elif isinstance(value, str):
            parts.append(index.string_rows(field, value))
        else:
            numbers.append(float(value))
    if numbers:
        column = index.numeric(field)
        if column is not None:
            parts.append(_rows_of(np.isin(column, np.asarray(numbers, dtype=np.float64))))
    return BitMap().union(*parts)


# --- a slab's statistics ----------------------------------------------------------------
def may_match(expr: Expr | None, field_stats: Mapping[str, FieldStats], n_rows: int) -> bool:
    """False only if no row of a slab with these stats can satisfy ``expr``.

    ``field_stats`` describes the slab's ``n_rows`` rows (fields absent from it are in
    no row).  True means "maybe": the slab must be searched.
    """
    if n_rows <= 0:
        return False
    if expr is None or isinstance(expr, MatchAll):
        return True
    if isinstance(expr, And):
        return all(may_match(child, field_stats, n_rows) for child in expr.children)
    if isinstance(expr, Or):
        return any(may_match(child, field_stats, n_rows) for child in expr.children)
    stats = field_stats.get(expr.field) or FieldStats(count=0)
    op = expr.op
    if op == "$exists":
        return stats.count > 0 if expr.value else stats.count < n_rows
    if op in ("$ne", "$nin"):
        return True
    if op == "$eq":
        return _value_may_occur(stats, expr.value)  # type: ignore[arg-type]
    if op == "$in":
        return any(_value_may_occur(stats, v) for v in expr.value)  # type: ignore[union-attr]
    if stats.numeric_count == 0 or stats.min is None or stats.max is None:
        return False
    bound = float(expr.value)  # type: ignore[arg-type]
    if op == "$gt":
        return stats.max > bound
    if op == "$gte":
        return stats.max >= bound
    if op == "$lt":
        return stats.min < bound
    return stats.min <= bound  # $lte


def _value_may_occur(stats: FieldStats, value: Scalar) -> bool:
    if isinstance(value, bool):
        return stats.bool_count > 0
    if isinstance(value, str):
        return stats.string_count > 0
    if stats.numeric_count == 0 or stats.min is None or stats.max is None:
        return False
    return stats.min <= float(value) <= stats.max
