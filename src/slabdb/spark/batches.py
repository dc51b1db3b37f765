"""Upsert batches under the request limits: at most 1,000 records and 2 MB per request.

A record's size is its compact JSON encoding (what a REST upsert sends). That is an upper
bound on its gRPC size as well: protobuf packs a float in 4 bytes, and Python writes every
float with at least 3 characters plus a separator (``0.0,``); metadata costs about the
same either way. The request's envelope (``{"vectors":[...],"namespace":"..."}``) is
counted once per batch.  A single record over the limit cannot be sent at all and is
refused here, before any request, with :class:`~slabdb.core.errors.PayloadTooLargeError`.

Pure Python: runs on the executors, importable without pyspark.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from slabdb.core import limits
from slabdb.core.errors import PayloadTooLargeError

Record = dict[str, Any]
"""``{"id", "values", "sparse_values"?, "metadata"?}``, as ``Index.upsert`` takes it."""

ENVELOPE_BYTES = 64
"""``{"vectors":[`` ... ``],"namespace":""}`` without the namespace name."""


def record_bytes(record: Record) -> int:
    """The record's compact JSON size in bytes, plus its separator in the list."""
    text = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
    return len(text.encode("utf-8")) + 1


def split_batches(
    records: Iterable[Record],
    *,
    namespace: str = "",
    max_bytes: int = limits.MAX_REQUEST_BYTES,
    max_records: int = limits.MAX_UPSERT_RECORDS,
) -> Iterator[list[Record]]:
    """Consecutive, non-empty batches of ``records`` in their order, each one request.

    A batch ends before the record that would take it past ``max_records`` or past
    ``max_bytes`` (records plus envelope); reads ``records`` lazily.
    """
    if max_records < 1:
        raise ValueError("max_records must be at least 1")
    budget = max_bytes - ENVELOPE_BYTES - len(namespace.encode("utf-8"))
    batch: list[Record] = []
    used = 0
    for record in records:
        size = record_bytes(record)
        if size > budget:
            raise PayloadTooLargeError(
                f"record {record.get('id')!r} alone is {size} bytes encoded, over the "
                f"{max_bytes}-byte request limit"
            )
        if batch and (used + size > budget or len(batch) >= max_records):
            yield batch
            batch, used = [], 0
        batch.append(record)
        used += size
    if batch:
        yield batch
