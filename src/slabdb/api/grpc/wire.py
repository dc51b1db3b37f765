"""Protobuf wire format, read by hand where protobuf's own decoder would fail a request.

A filter nested 19 ``$and`` levels deep is about 100 protobuf messages deep (each level
is Struct -> map entry -> Value -> ListValue -> Value), past upb's fixed decoding depth,
and grpcio then answers INTERNAL "Exception deserializing request!". So a request's
top-level ``filter`` field is cut out of its bytes before protobuf decodes the rest
(:func:`split_field`), and decoded here (:func:`decode_struct`) with SlabDB's own depth
limit: the one :func:`slabdb.filters.parse_filter` applies on every transport, with the
same message. NaN and infinities are kept as floats, so validation refuses them with
the same 400 as REST.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

from slabdb.core.errors import InvalidArgumentError, InvalidFilterError
from slabdb.filters.parse import DEPTH_MESSAGE, MAX_FILTER_DEPTH

VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5
MAX_STRUCT_NESTING = 2 * MAX_FILTER_DEPTH + 2
"""Objects and lists a valid filter can nest: two per ``$and``/``$or`` level, then a
field's operator object and an ``$in`` list."""


class MalformedMessageError(InvalidArgumentError):
    """The bytes are not a protobuf message of the expected shape."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while pos < len(buf) and shift < 70:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
    raise MalformedMessageError("the request is not a valid protobuf message (bad varint)")


def _fields(buf: bytes) -> Iterator[tuple[int, int, int, int, Any]]:
    """(field number, wire type, start, end, value) of each field of one message level;
    ``value`` is an int (varint), or the raw bytes (fixed and length-delimited)."""
    pos = 0
    while pos < len(buf):
        start = pos
        tag, pos = _varint(buf, pos)
        number, wire_type = tag >> 3, tag & 7
        value: Any
        if wire_type == VARINT:
            value, pos = _varint(buf, pos)
        elif wire_type in (FIXED64, FIXED32):
            size = 8 if wire_type == FIXED64 else 4
            value, pos = buf[pos : pos + size], pos + size
        elif wire_type == LENGTH_DELIMITED:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
        else:
            raise MalformedMessageError(f"unsupported protobuf wire type {wire_type}")
        if pos > len(buf) or number == 0:
            raise MalformedMessageError("the request is not a valid protobuf message (truncated)")
        yield number, wire_type, start, pos, value


def split_field(data: bytes, number: int) -> tuple[bytes, bytes | None]:
    """``data`` without the length-delimited field ``number``, and that field's bytes
    (occurrences concatenated, which protobuf merges; None when absent)."""
    rest: list[bytes] = []
    found: list[bytes] = []
    for field, wire_type, start, end, value in _fields(data):
        if field == number and wire_type == LENGTH_DELIMITED:
            found.append(value)
        else:
            rest.append(data[start:end])
    return b"".join(rest), (b"".join(found) if found else None)


def _too_deep() -> InvalidFilterError:
    return InvalidFilterError(f"invalid filter: {DEPTH_MESSAGE}")


def decode_struct(buf: bytes, level: int = 0) -> dict[str, Any]:
    """A ``google.protobuf.Struct`` as a dict (JSON values; NaN kept as a float)."""
    if level > MAX_STRUCT_NESTING:
        raise _too_deep()
    out: dict[str, Any] = {}
    for number, wire_type, _, _, entry in _fields(buf):
        if number != 1 or wire_type != LENGTH_DELIMITED:
            continue
        key, value = "", None
        for e_number, e_type, _, _, e_value in _fields(entry):
            if e_number == 1 and e_type == LENGTH_DELIMITED:
                key = _text(e_value)
            elif e_number == 2 and e_type == LENGTH_DELIMITED:
                value = _decode_value(e_value, level)
        out[key] = value
    return out


def _decode_list(buf: bytes, level: int) -> list[Any]:
    if level > MAX_STRUCT_NESTING:
        raise _too_deep()
    return [
        _decode_value(value, level)
        for number, wire_type, _, _, value in _fields(buf)
        if number == 1 and wire_type == LENGTH_DELIMITED
    ]


def _decode_value(buf: bytes, level: int) -> Any:
    """A ``google.protobuf.Value`` (its oneof: the last kind set wins, as in protobuf)."""
    result: Any = None
    for number, wire_type, _, _, value in _fields(buf):
        if number == 1 and wire_type == VARINT:
            result = None
        elif number == 2 and wire_type == FIXED64:
            result = struct.unpack("<d", value)[0]
        elif number == 3 and wire_type == LENGTH_DELIMITED:
            result = _text(value)
        elif number == 4 and wire_type == VARINT:
            result = bool(value)
        elif number == 5 and wire_type == LENGTH_DELIMITED:
            result = decode_struct(value, level + 1)
        elif number == 6 and wire_type == LENGTH_DELIMITED:
            result = _decode_list(value, level + 1)
    return result


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedMessageError("a string in the request is not valid UTF-8") from None


def packed_floats(data: bytes, outer: int, inner: int) -> list[bytes] | None:
    """For each occurrence of the message field ``outer`` of ``data``, the raw
    little-endian float32 bytes of its ``repeated float`` field ``inner`` (packed or
    not, occurrences concatenated as protobuf merges them); None when the bytes are not
    that shape (the caller then reads the decoded message instead).

    This is how an upsert's vectors become one numpy matrix without a Python float
    per value (a loop per field, not per value: about 1 µs a record).
    """
    out: list[bytes] = []
    try:
        for number, wire_type, start, end in _spans(data, 0, len(data)):
            if number != outer:
                continue
            if wire_type != LENGTH_DELIMITED:
                return None
            quick = _last_field_payload(data, start, end, inner)
            if quick is not None:
                out.append(quick)
                continue
            parts = [
                data[s:e] if kind == LENGTH_DELIMITED else data[e - 4 : e]
                for field, kind, s, e in _spans(data, start, end)
                if field == inner and kind in (LENGTH_DELIMITED, FIXED32)
            ]
            if any(len(p) % 4 for p in parts):
                return None
            out.append(parts[0] if len(parts) == 1 else b"".join(parts))
    except MalformedMessageError:
        return None
    return out


def _last_field_payload(buf: bytes, start: int, end: int, inner: int) -> bytes | None:
    """The usual layout, read without a walk: a short field 1 (an id), then the packed
    field ``inner`` running to the end of the record. None for anything else."""
    if end - start < 3 or buf[start] != 0x0A or buf[start + 1] >= 0x80:
        return None
    pos = start + 2 + buf[start + 1]
    if pos >= end or buf[pos] != (inner << 3 | LENGTH_DELIMITED):
        return None
    size, pos = _varint(buf, pos + 1)
    if pos + size != end or size % 4:
        return None
    return buf[pos:end]


def _spans(buf: bytes, pos: int, stop: int) -> list[tuple[int, int, int, int]]:
    """(number, wire type, start, end) of each field in ``buf[pos:stop]``, copying
    nothing: ``start:end`` is a length-delimited field's payload; for the other wire
    types ``end`` is where the value ends."""
    out = []
    while pos < stop:
        start = pos
        tag = buf[pos]
        if tag < 0x80:  # one-byte varints: nearly every tag and short length
            pos += 1
        else:
            tag, pos = _varint(buf, pos)
        number, wire_type = tag >> 3, tag & 7
        if wire_type == LENGTH_DELIMITED:
            size = buf[pos] if pos < stop else 0x80
            if size < 0x80:
                pos += 1
            else:
                size, pos = _varint(buf, pos)
            start, pos = pos, pos + size
        elif wire_type == VARINT:
            _, pos = _varint(buf, pos)
        elif wire_type in (FIXED64, FIXED32):
            pos += 8 if wire_type == FIXED64 else 4
        else:
            raise MalformedMessageError(f"unsupported protobuf wire type {wire_type}")
        if pos > stop or number == 0:
            raise MalformedMessageError("the request is not a valid protobuf message (truncated)")
        out.append((number, wire_type, start, pos))
    return out
