"""Protobuf wire format, read by hand where protobuf's own decoder would fail a request,
and for upserts, where it would build a Python object per record and value.

A filter nested 19 ``$and`` levels deep is about 100 protobuf messages deep (each level
is Struct -> map entry -> Value -> ListValue -> Value), past upb's fixed decoding depth,
and grpcio then answers INTERNAL "Exception deserializing request!". So a request's
top-level ``filter`` field is cut out of its bytes before protobuf decodes the rest
(:func:`split_field`), and decoded here (:func:`decode_struct`) with SlabDB's own depth
limit: the one :func:`slabdb.filters.parse_filter` applies on every transport, with the
same message. NaN and infinities are kept as floats, so validation refuses them with
the same 400 as REST.

An upsert's records are read as columns (:func:`upsert_columns`): ids, and views of the
packed floats that become one matrix with a single copy.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
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


@dataclass
class UpsertColumns:
    """An ``UpsertRequest``'s records read from its bytes, a column per field, and its
    namespace."""

    ids: list[str]
    values: list[bytes | memoryview]
    """Each record's dense values: little-endian float32 bytes (empty when unset; a
    view into the request's bytes when they lie in one piece)."""
    metadata_at: list[int]
    """The records that set ``metadata`` (read from the decoded message)."""
    sparse_at: list[int]
    """The records that set ``sparse_values`` (read from the decoded message)."""
    namespace: str = ""

    @property
    def complete(self) -> bool:
        """Whether these columns hold the whole request (no record sets metadata or
        sparse values, which only the decoded message holds)."""
        return not self.metadata_at and not self.sparse_at


def upsert_columns(data: bytes) -> UpsertColumns | None:
    """The records of an ``UpsertRequest`` (field 1: ``Vector`` messages) as columns,
    read as protobuf reads them: packed or unpacked floats, occurrences of a repeated
    field concatenated, the last id (and namespace) winning, strings checked as UTF-8,
    fields of an unexpected wire type skipped as unknown. None when the bytes are not a
    valid message, or not one read here (groups): protobuf then decodes them, and
    refuses them when they are not valid.

    This is how an upsert's vectors become one numpy matrix without a Python object
    per value, nor a protobuf accessor call per record: the usual layout (an id, then
    the packed values to the record's end) is read in a few steps (:func:`_usual`),
    anything else field by field (:func:`_record`)."""
    cols = UpsertColumns([], [], [], [])
    view = memoryview(data)
    pos, stop = 0, len(data)
    try:
        while pos < stop:
            if data[pos] != 0x0A:  # not a record (field 1, length-delimited)
                number, wire_type, start, pos = _spans(data, pos, stop, one=True)[0]
                if number == 2 and wire_type == LENGTH_DELIMITED:
                    cols.namespace = data[start:pos].decode("utf-8")
                continue
            size, pos = _length(data, pos + 1)
            end = pos + size
            if end > stop:
                raise MalformedMessageError("a record of the request is truncated")
            if not _usual(data, view, pos, end, cols):
                _record(data, pos, end, cols)
            pos = end
    except (MalformedMessageError, UnicodeDecodeError, IndexError):
        return None
    return cols


def _length(buf: bytes, pos: int) -> tuple[int, int]:
    """A varint at ``pos`` and the position after it (one- and two-byte ones inline)."""
    first = buf[pos]
    if first < 0x80:
        return first, pos + 1
    second = buf[pos + 1]
    if second < 0x80:
        return (first & 0x7F) | second << 7, pos + 2
    return _varint(buf, pos)


def _usual(buf: bytes, view: memoryview, start: int, end: int, cols: UpsertColumns) -> bool:
    """Read a record laid out as a short id (field 1), then the packed field 2 running
    to the record's end, into ``cols`` (the values as a view of ``buf``, not copied);
    False (nothing read) for any other layout."""
    if end - start < 3 or buf[start] != 0x0A or buf[start + 1] >= 0x80:
        return False
    id_end = start + 2 + buf[start + 1]
    if id_end >= end or buf[id_end] != 0x12:
        return False
    size, pos = _length(buf, id_end + 1)
    if pos + size != end or size % 4:
        return False
    cols.ids.append(buf[start + 2 : id_end].decode("utf-8"))
    cols.values.append(view[pos:end])
    return True


def _record(buf: bytes, start: int, end: int, cols: UpsertColumns) -> None:
    """One ``Vector`` message read field by field into ``cols``."""
    rid, parts, has_metadata, has_sparse = b"", [], False, False
    for number, wire_type, s, e in _spans(buf, start, end):
        if number == 1 and wire_type == LENGTH_DELIMITED:
            rid = buf[s:e]
        elif number == 2 and wire_type == LENGTH_DELIMITED:
            parts.append(buf[s:e])
        elif number == 2 and wire_type == FIXED32:
            parts.append(buf[e - 4 : e])
        elif number == 3 and wire_type == LENGTH_DELIMITED:
            has_metadata = True
        elif number == 4 and wire_type == LENGTH_DELIMITED:
            has_sparse = True
    values = b"".join(parts)
    if len(values) % 4:
        raise MalformedMessageError("packed float values of a record are truncated")
    if has_metadata:
        cols.metadata_at.append(len(cols.ids))
    if has_sparse:
        cols.sparse_at.append(len(cols.ids))
    cols.ids.append(rid.decode("utf-8"))
    cols.values.append(values)


def _spans(buf: bytes, pos: int, stop: int, one: bool = False) -> list[tuple[int, int, int, int]]:
    """(number, wire type, start, end) of each field in ``buf[pos:stop]`` (only the
    first with ``one``), copying nothing: ``start:end`` is a length-delimited field's
    payload; for the other wire types ``end`` is where the value ends."""
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
        if one:
            break
    return out
