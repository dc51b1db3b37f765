"""Upserts decoded as columns (:class:`RecordBatch`): the same records and the same
errors, naming the same record, as the per-record path."""

from __future__ import annotations

import math
import struct
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from google.protobuf.struct_pb2 import Struct

from slabdb.api.grpc import parse, wire
from slabdb.api.grpc.gen import db_data_pb2 as pb
from slabdb.api.grpc.handlers import deserializer
from slabdb.client import requests
from slabdb.client.batch import RecordBatch
from slabdb.client.catalog import IndexConfig
from slabdb.core.errors import InvalidArgumentError, SlabDBError

DIM = 4
COSINE = IndexConfig(name="i", dimension=DIM, metric="cosine", vector_type="dense", incarnation="x")


def _request(rows: list[list[float]], metadata: dict[int, dict[str, Any]] | None = None) -> bytes:
    vectors = []
    for i, row in enumerate(rows):
        v = pb.Vector(id=f"r{i}", values=row)
        if metadata and i in metadata:
            md = Struct()
            md.update(metadata[i])
            v.metadata.CopyFrom(md)
        vectors.append(v)
    return pb.UpsertRequest(vectors=vectors, namespace="ns").SerializeToString()


def _decoded(data: bytes) -> RecordBatch:
    batch = parse.upsert(deserializer(pb.UpsertRequest)(data)).vectors
    assert isinstance(batch, RecordBatch)
    return batch


def _error(cfg: IndexConfig, records: Any) -> str:
    with pytest.raises(SlabDBError) as info:
        requests.upsert_op(cfg, records)
    return str(info.value)


def test_grpc_upsert_decodes_values_straight_into_one_matrix() -> None:
    rows = [[float(i), 1.0, -2.5, 0.125] for i in range(5)]
    batch = _decoded(_request(rows, metadata={2: {"genre": "drama", "year": 2001}}))
    assert batch.ids == [f"r{i}" for i in range(5)]
    assert batch.matrix is not None and batch.matrix.dtype == np.float32
    np.testing.assert_array_equal(batch.matrix, np.asarray(rows, dtype=np.float32))
    assert batch.metadata[2] == {"genre": "drama", "year": 2001}
    assert batch[2]["metadata"] == {"genre": "drama", "year": 2001}
    op = requests.upsert_op(COSINE, batch)
    assert op.ids == batch.ids and op.metadata[2] == {"genre": "drama", "year": 2001}
    np.testing.assert_array_equal(op.vectors, batch.matrix)


def _field(number: int, wire_type: int, payload: bytes) -> bytes:
    tag = bytes([number << 3 | wire_type])
    if wire_type == wire.LENGTH_DELIMITED:
        return tag + bytes([len(payload)]) + payload
    return tag + payload


def test_unpacked_and_split_values_read_as_protobuf_reads_them() -> None:
    floats = [1.0, 2.0, 3.0, 4.0]
    unpacked = _field(1, 2, b"a") + b"".join(_field(2, 5, struct.pack("<f", f)) for f in floats)
    split = (
        _field(2, 2, struct.pack("<2f", *floats[:2]))
        + _field(1, 2, b"b")
        + _field(2, 2, struct.pack("<2f", *floats[2:]))
    )
    data = _field(1, 2, unpacked) + _field(1, 2, split) + _field(2, 2, b"ns")
    message = pb.UpsertRequest.FromString(data)
    batch = _decoded(data)
    assert batch.ids == [v.id for v in message.vectors] == ["a", "b"]
    assert batch.matrix is not None
    np.testing.assert_array_equal(batch.matrix, [list(v.values) for v in message.vectors])


def test_ragged_rows_leave_the_matrix_out_and_name_the_record() -> None:
    batch = _decoded(_request([[1.0] * DIM, [1.0] * DIM, [1.0] * (DIM + 1)]))
    assert batch.matrix is None
    assert "vectors[2].values: vector dimension 5 does not match" in _error(COSINE, batch)


@pytest.mark.parametrize(
    ("bad_row", "expected"),
    [
        ([1.0, math.nan, 0.0, 0.0], "vectors[3].values contains NaN"),
        ([1.0, math.inf, 0.0, 0.0], "vectors[3].values contains NaN"),
        ([0.0, 0.0, 0.0, 0.0], "vectors[3].values: a cosine index cannot take an all-zero"),
        ([3e38, 3e38, 3e38, 3e38], "vectors[3].values: the vector's length (L2 norm)"),
    ],
)
def test_a_bad_row_in_a_batch_is_named_as_record_by_record(
    bad_row: list[float], expected: str
) -> None:
    rows = [[1.0, 0.0, 0.0, 0.0]] * 3 + [bad_row] + [[0.0, 1.0, 0.0, 0.0]]
    batch = _decoded(_request(rows))
    message = _error(COSINE, batch)
    assert expected in message
    assert message == _error(COSINE, [batch[i] for i in range(len(batch))])


def test_the_first_bad_record_is_named_whatever_is_wrong_with_it() -> None:
    """Record 1's metadata is bad and record 3's values: record 1 is named, as before."""
    rows = [[1.0, 0.0, 0.0, 0.0]] * 3 + [[math.nan] * DIM]
    batch = _decoded(_request(rows, metadata={1: {"$bad": 1}}))
    assert "vectors[1].metadata" in _error(COSINE, batch)


@pytest.mark.parametrize("rid", ["", "x" * 600, "é", "a\x00b"])
def test_a_bad_id_in_a_batch_is_refused_with_its_index(rid: str) -> None:
    batch = RecordBatch.from_rows(["ok", rid], [[1.0] * DIM, [1.0] * DIM])
    assert "vectors[1].id" in _error(COSINE, batch)


def test_numeric_strings_never_become_numbers_in_a_batch() -> None:
    batch = RecordBatch.from_rows(["a"], [["1.0", "2.0", "3.0", "4.0"]])
    assert batch.matrix is None
    with pytest.raises(InvalidArgumentError, match="must be a list of numbers"):
        requests.upsert_op(COSINE, batch)


def test_a_sparse_index_takes_a_batch_through_the_record_path() -> None:
    sparse_cfg = IndexConfig(
        name="s", dimension=None, metric="dotproduct", vector_type="sparse", incarnation="x"
    )
    batch = RecordBatch(["a"], [[]], sparse=[{"indices": [3, 1], "values": [0.5, 2.0]}])
    op = requests.upsert_op(sparse_cfg, batch)
    assert op.vectors is None and op.sparse is not None
    assert op.sparse[0] is not None and op.sparse[0].indices.tolist() == [1, 3]


def test_slicing_a_batch_keeps_its_columns() -> None:
    batch = RecordBatch.from_rows([f"r{i}" for i in range(4)], [[float(i)] * DIM for i in range(4)])
    part = batch[1:3]
    assert isinstance(part, RecordBatch) and part.ids == ["r1", "r2"]
    assert part.matrix is not None and part.matrix[:, 0].tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    ("vector", "expected"),
    [
        (np.array([1.0, np.nan, 0.0, 0.0], np.float32), "contains NaN"),
        (np.zeros(DIM, np.float32), "cannot take an all-zero vector"),
        (np.full(DIM, 3e38, np.float32), "the vector's length (L2 norm)"),
        (np.ones(DIM + 1, np.float32), "vector dimension 5 does not match"),
        (np.array([1e39, 0.0, 0.0, 0.0]), "outside float32's range"),
    ],
)
def test_array_query_vectors_take_the_fast_check_and_keep_every_message(
    vector: np.ndarray, expected: str
) -> None:
    from slabdb.client import validation

    with pytest.raises(InvalidArgumentError, match=None) as info:
        validation.dense(vector, DIM, "cosine", "vector")
    assert expected in str(info.value)
    ok = validation.dense(np.array([1.0, 2.0, 0.0, 0.0]), DIM, "cosine", "vector")
    assert ok.dtype == np.float32 and ok.tolist() == [1.0, 2.0, 0.0, 0.0]


def test_records_read_from_the_bytes_match_what_protobuf_decodes() -> None:
    """Long and non-ASCII ids, an unknown field, metadata and sparse values on some
    records: each column is what the decoded message holds."""
    md = Struct()
    md.update({"genre": "drama"})
    vectors = [
        pb.Vector(id="x" * 300, values=[1.0, 2.0, 3.0, 4.0]),
        pb.Vector(id="é-ü", values=[4.0, 3.0, 2.0, 1.0], metadata=md),
        pb.Vector(
            id="s",
            values=[1.0, 1.0, 1.0, 1.0],
            sparse_values=pb.SparseValues(indices=[7, 2], values=[0.5, 0.25]),
        ),
    ]
    data = pb.UpsertRequest(vectors=vectors, namespace="ns").SerializeToString()
    unknown = _field(9, 0, b"\x05")  # a varint field 9, unknown to Vector
    record = _field(1, 2, b"u") + unknown + _field(2, 2, struct.pack("<4f", 1, 0, 0, 0))
    data += _field(1, 2, record)
    message = pb.UpsertRequest.FromString(data)
    cols = wire.upsert_columns(data)
    assert cols is not None
    assert cols.ids == [v.id for v in message.vectors]
    assert cols.metadata_at == [1] and cols.sparse_at == [2]
    batch = _decoded(data)
    assert batch.matrix is not None
    np.testing.assert_array_equal(batch.matrix, [list(v.values) for v in message.vectors])
    assert batch.metadata == [None, {"genre": "drama"}, None, None]
    assert batch.sparse[2] == {"indices": [7, 2], "values": [0.5, 0.25]}
    assert batch.sparse[0] is None and batch.sparse[3] is None


@pytest.mark.parametrize(
    "data",
    [
        _field(1, 2, b"\x0a\x05ab"),  # an id running past its record
        b"\x0a\x80",  # a record length cut short
        _field(1, 2, _field(2, 2, b"\x00\x00\x80")),  # three bytes of packed floats
    ],
)
def test_bytes_that_are_not_an_upsert_request_read_as_none(data: bytes) -> None:
    assert wire.upsert_columns(data) is None


def test_records_without_kept_bytes_are_read_from_the_message() -> None:
    data = _request([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]], metadata={1: {"k": "v"}})
    parsed = deserializer(pb.UpsertRequest)(data)
    assert parsed.message is not None and parsed.columns is not None
    batch = parse.upsert(replace(parsed, columns=None)).vectors
    assert isinstance(batch, RecordBatch)
    assert batch.ids == ["r0", "r1"] and batch.metadata == [None, {"k": "v"}]
    assert batch.matrix is not None and batch.matrix.tolist() == [[1, 0, 0, 0], [0, 1, 0, 0]]


def _rec(rid: bytes, *extra: bytes) -> bytes:
    return _field(
        1, 2, _field(1, 2, rid) + _field(2, 2, struct.pack("<4f", 1, 2, 3, 4)) + b"".join(extra)
    )


@pytest.mark.parametrize(
    "data",
    [
        _rec(b"a") + _field(2, 2, b"ns") + _field(2, 2, b"last"),  # the last namespace wins
        _rec(b"a") + _field(2, 0, b"\x07"),  # a namespace of the wrong wire type: unknown
        _rec(b"a") + bytes([15 << 3 | 0]) + b"\x01",  # an unknown top-level field
        _rec(b"a", bytes([9 << 3 | 5]) + b"\x00\x00\x00\x00"),  # an unknown fixed32 field
        _rec(b"a") + _field(1, 0, b"\x01"),  # a "record" of the wrong wire type: unknown
        _rec(b"a", bytes([9 << 3 | 3, 9 << 3 | 4])),  # an (empty) group: left to protobuf
    ],
)
def test_what_protobuf_accepts_reads_the_same_without_it(data: bytes) -> None:
    message = pb.UpsertRequest.FromString(data)
    parsed = parse.upsert(deserializer(pb.UpsertRequest)(data))
    batch = parsed.vectors
    assert isinstance(batch, RecordBatch)
    assert parsed.namespace == message.namespace
    assert batch.ids == [v.id for v in message.vectors]
    assert batch.matrix is not None
    np.testing.assert_array_equal(batch.matrix, [list(v.values) for v in message.vectors])


@pytest.mark.parametrize(
    "data",
    [
        _rec(b"\xff\xfe"),  # an id that is not UTF-8
        _rec(b"a") + _field(2, 2, b"\xc3"),  # a namespace that is not UTF-8
        _rec(b"a")[:-3],  # truncated
        _rec(b"a") + b"\x0a",  # a record with no length
    ],
)
def test_what_protobuf_refuses_is_refused_without_it(data: bytes) -> None:
    with pytest.raises(Exception):  # noqa: B017 (protobuf's DecodeError)
        pb.UpsertRequest.FromString(data)
    parsed = deserializer(pb.UpsertRequest)(data)
    assert parsed.error is not None and "not a valid UpsertRequest" in parsed.error.message
