import numpy as np
import pytest

from slabdb.core.errors import CorruptionError
from slabdb.core.ops import (
    DeleteAllOp,
    DeleteByFilterOp,
    DeleteOp,
    SparseVector,
    UpdateByFilterOp,
    UpdateOp,
    UpsertOp,
)
from slabdb.wal import decode_ops, encode_ops


def _ops():
    rng = np.random.default_rng(1)
    return [
        UpsertOp(
            ids=["a", "b"],
            vectors=rng.standard_normal((2, 5)).astype(np.float32),
            metadata=[{"g": "x", "n": 1.5, "l": ["p", "q"], "b": True}, None],
            sparse=[SparseVector(np.array([1, 7]), np.array([0.5, -2.0])), None],
        ),
        UpdateOp(id="a", values=rng.standard_normal(5).astype(np.float32), set_metadata={"g": "y"}),
        UpdateOp(id="b", sparse=SparseVector(np.array([3]), np.array([1.25]))),
        UpdateByFilterOp(filter={"g": {"$eq": "x"}}, set_metadata={"k": 2}),
        DeleteOp(ids=["c", "d"]),
        DeleteByFilterOp(filter={"n": {"$gt": 1}}),
        DeleteAllOp(),
    ]


def _same(a, b):
    assert type(a) is type(b)
    for name in a.__dataclass_fields__:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, np.ndarray):
            assert np.array_equal(x, y) and y.dtype == np.float32
        else:
            assert x == y


def test_round_trip_every_operation_bit_exact():
    ops = _ops()
    back = decode_ops(encode_ops(ops))
    assert len(back) == len(ops)
    for a, b in zip(ops, back, strict=True):
        _same(a, b)


@pytest.mark.parametrize("where", [0, 9, 20, 30, -1])
def test_flipped_byte_is_detected(where):
    data = bytearray(encode_ops(_ops()))
    data[where] ^= 0xFF
    with pytest.raises(CorruptionError):
        decode_ops(bytes(data))


def test_truncated_entry_is_detected():
    data = encode_ops(_ops())
    for cut in (0, 5, 24, len(data) - 1):
        with pytest.raises(CorruptionError):
            decode_ops(data[:cut])
