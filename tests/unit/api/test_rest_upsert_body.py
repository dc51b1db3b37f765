"""REST upsert bodies read fast (:mod:`slabdb.api.rest.upsert_body`): the same records
and the same errors as the standard library's JSON and pydantic's field validation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from slabdb.api.rest.models import UpsertRequest, VectorIn
from slabdb.api.rest.upsert_body import decode_json, simple_batch
from slabdb.client.batch import RecordBatch


def _field_by_field(body: bytes) -> RecordBatch:
    """The batch as pydantic's fields build it (:meth:`UpsertRequest.to_input` without
    the shortcut)."""
    records = TypeAdapter(list[VectorIn]).validate_python(json.loads(body)["vectors"])
    return RecordBatch.from_rows(
        [v.id for v in records],
        [v.values or [] for v in records],
        [v.metadata for v in records],
    )


@pytest.mark.parametrize(
    "body",
    [
        b'{"vectors":[{"id":"a","values":[0.5,-1.25,3,4]},{"id":"b","values":[1e-3,2,3,4]}]}',
        b'{"vectors":[{"id":"a","values":[1.5,2,3,4],"metadata":{"g":"x","n":2,"ok":true}}],'
        b'"namespace":"ns"}',
        b'{"vectors":[{"id":"a","values":[1.0,0.0,0.0,0.0],"metadata":null}],"namespace":null}',
    ],
)
def test_the_usual_body_becomes_the_batch_pydantic_would_build(body: bytes) -> None:
    decoded = decode_json(body)
    batch = simple_batch(decoded)
    assert batch is not None
    expected = _field_by_field(body)
    assert batch.ids == expected.ids and batch.metadata == expected.metadata
    assert batch.matrix is not None and expected.matrix is not None
    np.testing.assert_array_equal(batch.matrix, expected.matrix)
    model = UpsertRequest.model_validate(decoded)
    assert model.to_input().vectors is model._batch
    assert model.to_input().namespace == decoded.get("namespace")


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b'{"vectors":[{"id":"a","values":[1.5,true,0,0]}]}', ("vectors", 0, "values", 1)),
        (b'{"vectors":[{"id":"a","values":[1.5,"2",0,0]}]}', ("vectors", 0, "values", 1)),
        (b'{"vectors":[{"id":"a","values":[1.5,null,0,0]}]}', ("vectors", 0, "values", 1)),
        (b'{"vectors":[{"id":"a","values":[1.5,[2],0,0]}]}', ("vectors", 0, "values", 1)),
        (b'{"vectors":[{"id":7,"values":[1.5,2,0,0]}]}', ("vectors", 0, "id")),
        (b'{"vectors":[{"id":"a","values":[1.5],"extra":1}]}', ("vectors", 0, "extra")),
        (b'{"vectors":[{"id":"a","values":[1.5]}],"namespace":3}', ("namespace",)),
        (b'{"vectors":[{"id":"a","values":[1.5],"metadata":[1]}]}', ("vectors", 0, "metadata")),
        (b'{"vectors":{"id":"a"}}', ("vectors",)),
    ],
)
def test_a_body_pydantic_refuses_is_left_to_pydantic(body: bytes, where: tuple[object]) -> None:
    decoded = decode_json(body)
    assert simple_batch(decoded) is None
    with pytest.raises(ValidationError) as info:
        UpsertRequest.model_validate(decoded)
    assert info.value.errors()[0]["loc"] == where


@pytest.mark.parametrize(
    "body",
    [
        b'{"vectors":[{"id":"a","values":[1,2,3,4]}]}',  # all ints: pydantic makes floats
        b'{"vectors":[{"id":"a","values":[1.5,2]},{"id":"b","values":[1.5]}]}',  # ragged
        b'{"vectors":[{"id":"a","values":[]}]}',
        b'{"vectors":[]}',
        b'{"vectors":[{"id":"a","sparseValues":{"indices":[1],"values":[0.5]}}]}',
    ],
)
def test_bodies_off_the_usual_shape_take_the_field_by_field_path(body: bytes) -> None:
    assert simple_batch(decode_json(body)) is None
    UpsertRequest.model_validate(decode_json(body)).to_input()  # pydantic takes them


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": 1180591620717411303424}',  # past 64 bits: orjson would make it a float
        b'{"a": -9223372036854775809}',  # below -2^63, 19 digits
        b'{"a": 18446744073709551615, "b": 0.000123456789012345678901}',
        b"[NaN, Infinity, -Infinity]",  # orjson refuses these literals
        b"[1e400]",
        b'"\\ud800"',
        b"\xef\xbb\xbf[1]",
    ],
)
def test_json_decodes_to_what_the_standard_library_reads(body: bytes) -> None:
    got, expected = decode_json(body), json.loads(body)
    assert repr(got) == repr(expected)
    assert [type(x) for x in (got.values() if isinstance(got, dict) else got)] == [
        type(x) for x in (expected.values() if isinstance(expected, dict) else expected)
    ]


@pytest.mark.parametrize("body", [b"[1,]", b"{", b"", b'{"a":1} x'])
def test_bad_json_raises_the_standard_library_error(body: bytes) -> None:
    with pytest.raises(json.JSONDecodeError) as ours:
        decode_json(body)
    with pytest.raises(json.JSONDecodeError) as theirs:
        json.loads(body)
    assert (ours.value.msg, ours.value.pos) == (theirs.value.msg, theirs.value.pos)
