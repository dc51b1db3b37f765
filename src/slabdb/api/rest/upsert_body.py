"""``POST /vectors/upsert`` bodies read fast, with FastAPI's and pydantic's answers kept.

Two shortcuts, each taken only where it cannot change an answer:

* :class:`OrjsonRoute` decodes the JSON body with orjson instead of the standard
  library (about 2× faster on long float lists). When orjson refuses a body (NaN
  literals, non-UTF-8 encodings, deep nesting, bad JSON), the standard library decodes
  it as before, so it gives the same value or the same error. orjson would read an
  integer past 64 bits as a float (which metadata validation must see, and refuse, as
  an int), so a body with a run of 19 digits or more that is not a fraction goes to the
  standard library too.
* :func:`simple_batch` turns the usual body (records of only ``id``, ``values`` and
  ``metadata``, every value a JSON number, one length) into a
  :class:`~slabdb.client.batch.RecordBatch` with one numpy call, without a pydantic
  model per record. Anything else returns None and the body is validated by
  :class:`~.models.UpsertRequest`'s fields as always (same 400, same message); the
  values are then checked a batch at a time by :func:`slabdb.client.requests.upsert_op`
  either way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

import numpy as np
import orjson
from fastapi import Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from slabdb.client.batch import RecordBatch

BODY_FIELDS = frozenset({"vectors", "namespace"})
RECORD_FIELDS = frozenset({"id", "values", "metadata"})


LONG_RUN = 19
"""Integers orjson reads as int have at most 19 digits (-2^63 to 2^64-1), and some of
19 digits (below -2^63) it already reads as a float."""
_DIGITS_ONLY = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
"""A translation table: each digit becomes ``0``, anything else a space."""


def _may_hold_long_integer(body: bytes) -> bool:
    """Whether ``body`` may hold an integer that orjson would read as a float: a run of
    ``LONG_RUN`` digits or more that is neither a fraction (after a ``.``) nor a
    mantissa (before ``.``, ``e`` or ``E``). One pass in C finds the runs."""
    digits = body.translate(_DIGITS_ONLY)
    run = b"0" * LONG_RUN
    start = digits.find(run)
    while start >= 0:
        end = digits.find(b" ", start)
        end = len(digits) if end < 0 else end
        if body[start - 1 : start] != b"." and body[end : end + 1] not in (b".", b"e", b"E"):
            return True
        start = digits.find(run, end)
    return False


def decode_json(body: bytes) -> Any:
    """``json.loads(body)``'s value or error (what FastAPI decodes), by orjson when it
    reads the same value."""
    if not _may_hold_long_integer(body):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    return json.loads(body)


class _OrjsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = decode_json(await self.body())
        return self._json


class OrjsonRoute(APIRoute):
    """A route whose JSON body is decoded by orjson (see the module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            return await handler(_OrjsonRequest(request.scope, request.receive))

        return route


def simple_batch(body: Any) -> RecordBatch | None:
    """The records of a decoded upsert body of the usual shape, or None (validate it
    field by field). Each check is one pydantic would make with the same outcome:
    known fields only, a string id, a metadata object, values that are JSON numbers
    (numpy refuses strings and nulls; a boolean, which numpy would take as 1 or 0,
    sends the body to pydantic)."""
    if type(body) is not dict or not body.keys() <= BODY_FIELDS:
        return None
    vectors, namespace = body.get("vectors"), body.get("namespace")
    if type(vectors) is not list or not (namespace is None or type(namespace) is str):
        return None
    ids, rows, metadata = [], [], []
    for record in vectors:
        if type(record) is not dict or not record.keys() <= RECORD_FIELDS:
            return None
        rid, values, md = record.get("id"), record.get("values"), record.get("metadata")
        if type(rid) is not str or type(values) is not list:
            return None
        if not (md is None or type(md) is dict):
            return None
        ids.append(rid)
        rows.append(values)
        metadata.append(md)
    stacked = _float_rows(rows)
    if stacked is None:
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        matrix = stacked.astype(np.float32)
    return RecordBatch(ids, rows, metadata, None, matrix)


def _float_rows(rows: list[list[Any]]) -> np.ndarray | None:
    """``rows`` as one float64 matrix when every value is a JSON number (not a bool) and
    the rows share one non-zero length; None otherwise."""
    try:
        stacked = np.asarray(rows)
    except (TypeError, ValueError, OverflowError):
        return None
    if stacked.dtype != np.float64 or stacked.ndim != 2 or stacked.shape[1] == 0:
        return None
    maybe_bool = np.flatnonzero(((stacked == 0.0) | (stacked == 1.0)).any(axis=1))
    if any(type(x) is bool for i in maybe_bool for x in rows[i]):
        return None
    return stacked
