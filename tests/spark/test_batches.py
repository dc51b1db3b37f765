"""The upsert batch splitter: never over the byte or record limit, never empty, order kept."""

from __future__ import annotations

import itertools
import json

import pytest

from slabdb.core import limits
from slabdb.core.errors import PayloadTooLargeError
from slabdb.spark.batches import ENVELOPE_BYTES, record_bytes, split_batches


def _records(n: int, width: int) -> list[dict]:
    return [
        {"id": f"r{i}", "values": [0.123456789 * (i + j) for j in range(width)],
         "metadata": {"i": i, "pad": "x" * (i % 50)}}
        for i in range(n)
    ]  # fmt: skip


def _request_bytes(batch: list[dict], namespace: str) -> int:
    body = {"vectors": batch, "namespace": namespace}
    return len(json.dumps(body, separators=(",", ":")).encode())


@pytest.mark.parametrize(("n", "width", "max_bytes"), [(3000, 8, 2 * 1024 * 1024),
                                                       (2500, 384, 2 * 1024 * 1024),
                                                       (500, 16, 9000)])  # fmt: skip
def test_batches_stay_under_the_limits_and_keep_order(n: int, width: int, max_bytes: int) -> None:
    records = _records(n, width)
    batches = list(split_batches(iter(records), namespace="ns-1", max_bytes=max_bytes))
    assert all(batches), "an empty batch"
    assert [r for b in batches for r in b] == records, "records lost, added or reordered"
    for batch in batches:
        assert len(batch) <= limits.MAX_UPSERT_RECORDS
        assert _request_bytes(batch, "ns-1") <= max_bytes
    # full batches: each one ends only because the next record would not fit
    for batch, following in itertools.pairwise(batches):
        grown = _request_bytes([*batch, following[0]], "ns-1")
        assert len(batch) == limits.MAX_UPSERT_RECORDS or grown > max_bytes - ENVELOPE_BYTES


def test_wide_records_are_split_by_bytes_not_count() -> None:
    batches = list(split_batches(_records(2500, 384)))
    assert len(batches) > 3  # 2,500 records would be 3 batches by count alone
    assert max(len(b) for b in batches) < limits.MAX_UPSERT_RECORDS


def test_record_count_limit() -> None:
    sizes = [len(b) for b in split_batches(_records(2500, 2), max_records=1000)]
    assert sizes == [1000, 1000, 500]


def test_no_records_no_batches() -> None:
    assert list(split_batches(iter([]))) == []


def test_a_record_over_the_limit_alone_is_refused() -> None:
    big = {"id": "big", "values": [0.1] * 10, "metadata": {"pad": "x" * 5000}}
    assert record_bytes(big) > 4000
    with pytest.raises(PayloadTooLargeError, match="big"):
        list(split_batches([{"id": "ok", "values": [0.0]}, big], max_bytes=4000))


def test_the_request_envelope_counts() -> None:
    records = [{"id": f"r{i:03d}", "values": [0.5] * 30} for i in range(100)]  # > envelope
    size = record_bytes(records[0])
    assert {record_bytes(r) for r in records} == {size}
    # ten records fill max_bytes exactly: with the envelope and namespace only nine fit
    batches = list(split_batches(records, namespace="ns", max_bytes=10 * size))
    assert {len(b) for b in batches[:-1]} == {9}
    assert all(_request_bytes(b, "ns") <= 10 * size for b in batches)
