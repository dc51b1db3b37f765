"""WAL entry encoding: a checksummed JSON header plus a raw float32 blob.

::

    magic "SLBWAL01" (8) | crc32(body) u32 | reserved u32 | body length u64 | body
    body = header length u32 | header JSON (utf-8) | blob (little-endian float32)

The LSN is not in the bytes: it is the object's key, claimed by create-if-absent,
so an encoded entry can be retried under the next LSN without re-encoding.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

import numpy as np

from slabdb.core.errors import CorruptionError
from slabdb.core.ops import (
    DeleteAllOp,
    DeleteByFilterOp,
    DeleteOp,
    Op,
    SparseVector,
    UpdateByFilterOp,
    UpdateOp,
    UpsertOp,
)

MAGIC = b"SLBWAL01"
_HEAD = struct.Struct("<8sIIQ")
_U32 = struct.Struct("<I")


class _Blob:
    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, arr: np.ndarray) -> list[int]:
        data = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        ref = [self.size, len(data)]
        self.parts.append(data)
        self.size += len(data)
        return ref


def _sparse_out(sv: SparseVector | None) -> list[list[Any]] | None:
    if sv is None:
        return None
    idx, vals = sv.to_lists()
    return [idx, vals]


def _sparse_in(raw: list[list[Any]] | None) -> SparseVector | None:
    if raw is None:
        return None
    return SparseVector(np.asarray(raw[0], dtype=np.uint32), np.asarray(raw[1], dtype=np.float32))


def _op_out(op: Op, blob: _Blob) -> dict[str, Any]:
    if isinstance(op, UpsertOp):
        vec = None
        dim = None
        if op.vectors is not None:
            dim = int(op.vectors.shape[1])
            vec = blob.add(op.vectors)
        sparse = None if op.sparse is None else [_sparse_out(s) for s in op.sparse]
        return {
            "t": "upsert",
            "ids": op.ids,
            "dim": dim,
            "vec": vec,
            "md": op.metadata,
            "sp": sparse,
        }
    if isinstance(op, UpdateOp):
        vec = None if op.values is None else blob.add(op.values)
        return {
            "t": "update",
            "id": op.id,
            "vec": vec,
            "md": op.set_metadata,
            "sp": _sparse_out(op.sparse),
        }
    if isinstance(op, UpdateByFilterOp):
        return {"t": "update_filter", "filter": op.filter, "md": op.set_metadata}
    if isinstance(op, DeleteOp):
        return {"t": "delete", "ids": op.ids}
    if isinstance(op, DeleteByFilterOp):
        return {"t": "delete_filter", "filter": op.filter}
    if isinstance(op, DeleteAllOp):
        return {"t": "delete_all"}
    raise TypeError(f"not a WAL operation: {op!r}")


def encode_ops(ops: list[Op]) -> bytes:
    """Serialize a group of operations to the bytes of one WAL object."""
    blob = _Blob()
    header = json.dumps(
        {"v": 1, "ops": [_op_out(op, blob) for op in ops]}, separators=(",", ":"), allow_nan=False
    ).encode()
    body = b"".join([_U32.pack(len(header)), header, *blob.parts])
    return _HEAD.pack(MAGIC, zlib.crc32(body), 0, len(body)) + body


def _floats(blob: memoryview, ref: list[int]) -> np.ndarray:
    start, length = ref
    return np.frombuffer(blob[start : start + length], dtype="<f4").astype(np.float32)


def _op_in(raw: dict[str, Any], blob: memoryview) -> Op:
    kind = raw["t"]
    if kind == "upsert":
        vectors = None
        if raw["vec"] is not None:
            vectors = _floats(blob, raw["vec"]).reshape(len(raw["ids"]), raw["dim"])
        sparse = None if raw["sp"] is None else [_sparse_in(s) for s in raw["sp"]]
        return UpsertOp(ids=raw["ids"], vectors=vectors, metadata=raw["md"], sparse=sparse)
    if kind == "update":
        values = None if raw["vec"] is None else _floats(blob, raw["vec"])
        return UpdateOp(
            id=raw["id"], values=values, set_metadata=raw["md"], sparse=_sparse_in(raw["sp"])
        )
    if kind == "update_filter":
        return UpdateByFilterOp(filter=raw["filter"], set_metadata=raw["md"])
    if kind == "delete":
        return DeleteOp(ids=raw["ids"])
    if kind == "delete_filter":
        return DeleteByFilterOp(filter=raw["filter"])
    if kind == "delete_all":
        return DeleteAllOp()
    raise CorruptionError(f"unknown WAL operation {kind!r}")


def decode_ops(data: bytes, where: str = "WAL entry") -> list[Op]:
    """Parse one WAL object; CorruptionError if it is truncated or fails its checksum."""
    if len(data) < _HEAD.size:
        raise CorruptionError(f"{where}: truncated header ({len(data)} bytes)")
    magic, crc, _reserved, length = _HEAD.unpack_from(data)
    if magic != MAGIC:
        raise CorruptionError(f"{where}: bad magic {magic!r}")
    body = memoryview(data)[_HEAD.size :]
    if len(body) != length:
        raise CorruptionError(f"{where}: body is {len(body)} bytes, header says {length}")
    if zlib.crc32(body) != crc:
        raise CorruptionError(f"{where}: checksum mismatch")
    try:
        (hlen,) = _U32.unpack_from(body)
        header = json.loads(bytes(body[4 : 4 + hlen]))
        blob = body[4 + hlen :]
        return [_op_in(op, blob) for op in header["ops"]]
    except CorruptionError:
        raise
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise CorruptionError(f"{where}: undecodable ({exc})") from exc
