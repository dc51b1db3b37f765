"""The slab object's byte layout: sections, footer, trailer.

A slab is one immutable object::

    [section][pad][section][pad] ... [footer JSON][trailer]

* Every section starts on a :data:`SECTION_ALIGNMENT`-byte boundary so numpy arrays
  read straight out of the object are aligned.  A section is either a little-endian
  numpy array (its dtype and shape are in the footer) or opaque bytes (dtype
  ``"bytes"``: JSON documents, the metadata index).
* The footer is UTF-8 JSON: format version, row count, dimension, metric, vector type,
  LSM level, LSN range, live count, per-field metadata stats, and for each section its
  offset, length, CRC-32, dtype and shape.
* The trailer is fixed-size: footer length (u64), footer CRC-32 (u32), :data:`MAGIC`.

Reading checks the trailer, the footer's CRC, that every section lies inside the
object and every section's CRC-32; any mismatch raises
:class:`~slabdb.core.errors.CorruptionError`.  The format is versioned by
:data:`FORMAT_VERSION`; readers refuse versions they do not know.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from slabdb.core.errors import CorruptionError
from slabdb.filters.metadata_index import FieldStats

FORMAT_VERSION = 1
MAGIC = b"SLABDB\x01\n"
TRAILER = struct.Struct("<QI8s")  # footer length, footer crc32, magic
SECTION_ALIGNMENT = 64
BYTES_DTYPE = "bytes"
_ARRAY_DTYPES = frozenset({"<f4", "<f8", "<u4", "<u8", "<i8", "|u1", "|b1"})


@dataclass(frozen=True)
class SectionInfo:
    """Where one section lives in the object and how to read it."""

    name: str
    offset: int
    length: int
    crc32: int
    dtype: str = BYTES_DTYPE
    shape: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "offset": self.offset,
            "length": self.length,
            "crc32": self.crc32,
            "dtype": self.dtype,
            "shape": list(self.shape),
        }

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> SectionInfo:
        return cls(
            name=name,
            offset=int(data["offset"]),
            length=int(data["length"]),
            crc32=int(data["crc32"]),
            dtype=str(data.get("dtype", BYTES_DTYPE)),
            shape=tuple(int(s) for s in data.get("shape", ())),
        )


@dataclass(frozen=True)
class SlabStats:
    """A slab's summary: what the namespace manifest records about it."""

    count: int
    live_count: int
    min_lsn: int
    max_lsn: int
    size_bytes: int
    field_stats: Mapping[str, FieldStats] = field(default_factory=dict)
    dim: int | None = None
    metric: str = "cosine"
    vector_type: str = "dense"
    level: int = 0
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "live_count": self.live_count,
            "min_lsn": self.min_lsn,
            "max_lsn": self.max_lsn,
            "size_bytes": self.size_bytes,
            "field_stats": {k: v.to_dict() for k, v in self.field_stats.items()},
            "dim": self.dim,
            "metric": self.metric,
            "vector_type": self.vector_type,
            "level": self.level,
            "format_version": self.format_version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SlabStats:
        return cls(
            count=int(data["count"]),
            live_count=int(data["live_count"]),
            min_lsn=int(data["min_lsn"]),
            max_lsn=int(data["max_lsn"]),
            size_bytes=int(data.get("size_bytes", 0)),
            field_stats={
                str(k): FieldStats.from_dict(v) for k, v in data.get("field_stats", {}).items()
            },
            dim=None if data.get("dim") is None else int(data["dim"]),
            metric=str(data.get("metric", "cosine")),
            vector_type=str(data.get("vector_type", "dense")),
            level=int(data.get("level", 0)),
            format_version=int(data.get("format_version", FORMAT_VERSION)),
        )


@dataclass(frozen=True)
class Footer:
    """The decoded footer: slab-wide facts plus the section table."""

    stats: SlabStats
    sections: Mapping[str, SectionInfo]

    def to_json(self) -> bytes:
        doc = self.stats.to_dict()
        doc.pop("size_bytes")
        doc["sections"] = {name: info.to_dict() for name, info in self.sections.items()}
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()

    @classmethod
    def from_json(cls, raw: bytes, size_bytes: int) -> Footer:
        doc = json.loads(raw.decode("utf-8"))
        if not isinstance(doc, dict):
            raise ValueError("the footer is not a JSON object")
        version = doc.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(f"unsupported slab format version {version!r}")
        sections = {str(k): SectionInfo.from_dict(str(k), v) for k, v in doc["sections"].items()}
        return cls(SlabStats.from_dict({**doc, "size_bytes": size_bytes}), sections)


Section = bytes | npt.NDArray[Any]
"""What a builder hands to :func:`encode_slab`: raw bytes or a numpy array."""


def encode_slab(sections: Sequence[tuple[str, Section]], stats: SlabStats) -> bytes:
    """Lay out ``sections``, a footer built from ``stats``, and the trailer.

    Arrays are written in little-endian C order.  ``stats.size_bytes`` is ignored
    (the object's own length is its size).
    """
    return b"".join(_slab_chunks(sections, stats))


def write_slab(sections: Sequence[tuple[str, Section]], stats: SlabStats, out: BinaryIO) -> int:
    """:func:`encode_slab` written to ``out`` section by section (no copy of the whole
    object is made); returns the object's size."""
    size = 0
    for chunk in _slab_chunks(sections, stats):
        out.write(chunk)
        size += len(chunk)
    return size


def _slab_chunks(
    sections: Sequence[tuple[str, Section]], stats: SlabStats
) -> Iterator[bytes | memoryview]:
    """The slab's bytes in order: each section (arrays as views of their memory, not
    copies) after its padding, then the footer and the trailer."""
    infos: dict[str, SectionInfo] = {}
    offset = 0
    for name, payload in sections:
        if name in infos:
            raise ValueError(f"duplicate slab section {name!r}")
        dtype_str, shape, data = _section_payload(name, payload)
        pad = -offset % SECTION_ALIGNMENT
        if pad:
            yield b"\0" * pad
            offset += pad
        length = len(data)
        infos[name] = SectionInfo(name, offset, length, zlib.crc32(data), dtype_str, shape)
        yield data
        offset += length
    footer = Footer(stats, infos).to_json()
    yield footer
    yield TRAILER.pack(len(footer), zlib.crc32(footer), MAGIC)


def _section_payload(name: str, payload: Section) -> tuple[str, tuple[int, ...], Any]:
    """A section's dtype string, shape and bytes (an array's own memory, little-endian
    C order: copied only if it is not already)."""
    if not isinstance(payload, np.ndarray):
        return BYTES_DTYPE, (), payload
    dtype = payload.dtype.newbyteorder("<") if payload.dtype.byteorder != "|" else None
    arr = np.ascontiguousarray(payload, dtype=dtype)
    if arr.dtype.str not in _ARRAY_DTYPES:
        raise ValueError(f"section {name!r}: dtype {arr.dtype.str} is not supported")
    data: Any = memoryview(arr).cast("B") if arr.size else b""  # type: ignore[arg-type]
    return arr.dtype.str, tuple(arr.shape), data


def decode_slab(data: bytes | memoryview, *, verify: bool = True) -> tuple[Footer, memoryview]:
    """Check ``data``'s framing (and with ``verify`` every section's CRC-32).

    Returns the footer and a byte view of the whole object for :func:`section_bytes`
    and :func:`section_array`.
    """
    view = memoryview(data).cast("B")
    footer = decode_footer(view, len(view))
    if verify:
        for info in footer.sections.values():
            verify_section(info, view[info.offset : info.offset + info.length])
    return footer, view


TAIL_READ_BYTES = 64 * 1024
"""Bytes read from the end of a slab to find its footer (one ranged GET for most slabs)."""


def footer_span(tail: bytes | memoryview, size: int) -> tuple[int, int]:
    """Where the footer lies, [start, end), from the object's last bytes ``tail``."""
    if size < TRAILER.size or len(tail) < TRAILER.size:
        raise CorruptionError(f"slab is {size} bytes, too short to hold its trailer")
    footer_len, _crc, magic = TRAILER.unpack_from(tail, len(tail) - TRAILER.size)
    if magic != MAGIC:
        raise CorruptionError("not a slab (bad magic): the object is truncated or is not a slab")
    footer_start = size - TRAILER.size - footer_len
    if footer_start < 0:
        raise CorruptionError(f"slab footer length {footer_len} exceeds the object ({size} bytes)")
    return footer_start, size - TRAILER.size


def decode_footer(tail: bytes | memoryview, size: int) -> Footer:
    """The footer of a ``size``-byte slab whose last ``len(tail)`` bytes are ``tail``
    (``tail`` must reach back to the footer's start: see :func:`footer_span`).

    Checks the trailer, the footer CRC and that every section lies inside the object
    and matches its dtype and shape; section CRCs are :func:`verify_section`'s job.
    """
    tail = memoryview(tail).cast("B")
    footer_start, footer_end = footer_span(tail, size)
    base = size - len(tail)
    if footer_start < base:
        raise ValueError("the tail does not reach the footer")
    _len, footer_crc, _magic = TRAILER.unpack_from(tail, len(tail) - TRAILER.size)
    raw = bytes(tail[footer_start - base : footer_end - base])
    if zlib.crc32(raw) != footer_crc:
        raise CorruptionError("slab footer failed its checksum")
    try:
        footer = Footer.from_json(raw, size)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CorruptionError(f"slab footer does not decode: {exc}") from exc
    for info in footer.sections.values():
        if info.offset < 0 or info.length < 0 or info.offset + info.length > footer_start:
            raise CorruptionError(f"slab section {info.name!r} lies outside the object")
        if info.dtype != BYTES_DTYPE:
            if info.dtype not in _ARRAY_DTYPES:
                raise CorruptionError(f"slab section {info.name!r} has unknown dtype {info.dtype}")
            expected = int(np.prod(info.shape, dtype=np.int64)) * np.dtype(info.dtype).itemsize
            if expected != info.length:
                raise CorruptionError(f"slab section {info.name!r} does not match its shape")
    return footer


def verify_section(info: SectionInfo, data: bytes | memoryview) -> None:
    """CorruptionError unless ``data`` (the section's bytes) has the footer's CRC-32."""
    if len(data) != info.length or zlib.crc32(data) != info.crc32:
        raise CorruptionError(f"slab section {info.name!r} failed its checksum")


def array_of(info: SectionInfo, data: bytes | memoryview, offset: int = 0) -> npt.NDArray[Any]:
    """Section ``info`` as a numpy array over ``data`` (its bytes start at ``offset``)."""
    if info.dtype == BYTES_DTYPE:
        raise CorruptionError(f"slab section {info.name!r} is not an array")
    dtype = np.dtype(info.dtype)
    count = info.length // dtype.itemsize
    return np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(info.shape)


def section_bytes(footer: Footer, view: memoryview, name: str) -> memoryview | None:
    """The raw bytes of section ``name`` (None if the slab has no such section)."""
    info = footer.sections.get(name)
    if info is None:
        return None
    return view[info.offset : info.offset + info.length]


def section_array(footer: Footer, view: memoryview, name: str) -> npt.NDArray[Any] | None:
    """Section ``name`` as a numpy array sharing the object's memory (None if absent)."""
    info = footer.sections.get(name)
    if info is None:
        return None
    return array_of(info, view, info.offset)
