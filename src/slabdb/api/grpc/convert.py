"""Protobuf messages ↔ the plain values the embedded API takes and returns."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct

from slabdb.api.grpc.gen import db_data_pb2 as pb
from slabdb.client.responses import SparseValues, Usage, Vector


def struct_in(msg: Any, field: str) -> dict[str, Any] | None:
    """A Struct field as a dict, or None when the request did not set it."""
    if not msg.HasField(field):
        return None
    out: dict[str, Any] = json_format.MessageToDict(getattr(msg, field))
    return out


def metadata_in(msg: Any, field: str) -> dict[str, Any] | None:
    """Metadata from a Struct; whole floats become ints (Struct carries only doubles)."""
    raw = struct_in(msg, field)
    if raw is None:
        return None
    return {k: _int_if_whole(v) for k, v in raw.items()}


def _int_if_whole(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    return v


def struct_out(target: Struct, value: dict[str, Any] | None) -> None:
    if value:
        target.update(value)


def sparse_in(msg: Any, field: str) -> dict[str, Any] | None:
    if not msg.HasField(field):
        return None
    sv = getattr(msg, field)
    return {"indices": list(sv.indices), "values": list(sv.values)}


def sparse_out(target: pb.SparseValues, sv: SparseValues | None) -> None:
    if sv is not None:
        target.indices.extend(sv.indices)
        target.values.extend(sv.values)


def usage_out(target: pb.Usage, usage: Usage | None) -> None:
    target.read_units = 0 if usage is None else usage.read_units


def vectors_out(target: Any, vectors: dict[str, Vector]) -> None:
    """Fill a proto ``map<string, Vector>`` from fetched vectors."""
    for rid, v in vectors.items():
        vec = target[rid]
        vec.id = v.id
        vec.values.extend(v.values)
        sparse_out(vec.sparse_values, v.sparse_values)
        struct_out(vec.metadata, v.metadata)
