"""Filter expressions: the immutable tree a parsed metadata filter becomes.

A tree is made of three kinds of node:

* :class:`Cmp` compares one metadata field with a value (``$eq``, ``$gt``, ``$in``, ...);
* :class:`And` / :class:`Or` combine children;
* :class:`MatchAll` matches every record (an empty filter object inside ``$and``/``$or``).

Nodes are frozen dataclasses, so trees compare by value, hash, and can be shared
between threads.  Numbers are stored as ``float`` (the parser converts them), booleans
stay ``bool``: ``True`` and ``1.0`` are different values in the filter language.
:meth:`to_filter` turns a tree back into the Pinecone filter dictionary it came from
(up to number formatting), which is what gets logged or written to a WAL entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Scalar = str | float | bool
"""A comparable value after parsing: numbers are always ``float``."""

CmpOp = Literal["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists"]

EQUALITY_OPS: frozenset[str] = frozenset({"$eq", "$ne"})
RANGE_OPS: frozenset[str] = frozenset({"$gt", "$gte", "$lt", "$lte"})
SET_OPS: frozenset[str] = frozenset({"$in", "$nin"})
FIELD_OPS: frozenset[str] = EQUALITY_OPS | RANGE_OPS | SET_OPS | {"$exists"}
LOGICAL_OPS: frozenset[str] = frozenset({"$and", "$or"})


@dataclass(frozen=True, slots=True)
class MatchAll:
    """Matches every record."""

    def to_filter(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True, slots=True)
class Cmp:
    """``field op value``.

    ``value`` is a :data:`Scalar` for ``$eq``/``$ne``, a ``float`` for the range
    operators, a tuple of scalars (unique, in first-seen order) for ``$in``/``$nin``
    and a ``bool`` for ``$exists``.
    """

    field: str
    op: CmpOp
    value: Scalar | tuple[Scalar, ...]

    def to_filter(self) -> dict[str, Any]:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {self.field: {self.op: value}}


@dataclass(frozen=True, slots=True)
class And:
    """Every child matches."""

    children: tuple[Expr, ...]

    def to_filter(self) -> dict[str, Any]:
        return {"$and": [c.to_filter() for c in self.children]}


@dataclass(frozen=True, slots=True)
class Or:
    """At least one child matches."""

    children: tuple[Expr, ...]

    def to_filter(self) -> dict[str, Any]:
        return {"$or": [c.to_filter() for c in self.children]}


Expr = Cmp | And | Or | MatchAll


def referenced_fields(expr: Expr | None) -> frozenset[str]:
    """The metadata fields an expression reads."""
    if expr is None or isinstance(expr, MatchAll):
        return frozenset()
    if isinstance(expr, Cmp):
        return frozenset({expr.field})
    out: set[str] = set()
    for child in expr.children:
        out |= referenced_fields(child)
    return frozenset(out)


def make_and(children: list[Expr]) -> Expr:
    """A simplified conjunction: drops ``MatchAll``, flattens nested ``And``s."""
    flat: list[Expr] = []
    for child in children:
        if isinstance(child, MatchAll):
            continue
        if isinstance(child, And):
            flat.extend(child.children)
        else:
            flat.append(child)
    if not flat:
        return MatchAll()
    if len(flat) == 1:
        return flat[0]
    return And(tuple(flat))


def make_or(children: list[Expr]) -> Expr:
    """A simplified disjunction: ``MatchAll`` wins, nested ``Or``s are flattened."""
    flat: list[Expr] = []
    for child in children:
        if isinstance(child, MatchAll):
            return MatchAll()
        if isinstance(child, Or):
            flat.extend(child.children)
        else:
            flat.append(child)
    if not flat:
        raise ValueError("a disjunction needs at least one child")
    if len(flat) == 1:
        return flat[0]
    return Or(tuple(flat))
