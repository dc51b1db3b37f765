from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import pytest

from slabdb.core.errors import CorruptionError
from slabdb.core.values import SparseVector
from slabdb.slab import SlabBuilder, SlabReader
from slabdb.slab.format import TRAILER


def _slab() -> bytes:
    n, dim = 30, 4
    rng = np.random.default_rng(3)
    data, _ = SlabBuilder.build(
        ids=[f"r{i}" for i in range(n)],
        lsns=np.arange(n, dtype=np.uint64),
        deleted=np.arange(n) % 5 == 0,
        vectors=rng.standard_normal((n, dim)).astype(np.float32),
        sparse=[
            SparseVector(np.array([i, i + 1], np.uint32), np.array([1.0, 2.0], np.float32))
            for i in range(n)
        ],
        metadata=[{"g": f"g{i % 3}", "x": i} for i in range(n)],
        metric="cosine",
        vector_type="dense",
        level=0,
    )
    return data


def _footer(data: bytes) -> dict[str, Any]:
    footer_len, _, _ = TRAILER.unpack_from(data, len(data) - TRAILER.size)
    start = len(data) - TRAILER.size - footer_len
    footer: dict[str, Any] = json.loads(data[start : len(data) - TRAILER.size])
    return footer


def _flip(data: bytes, position: int) -> bytes:
    corrupted = bytearray(data)
    corrupted[position] ^= 0x5A
    return bytes(corrupted)


def test_intact_slab_opens() -> None:
    assert SlabReader.from_bytes(_slab()).n == 30


def test_every_section_is_checked() -> None:
    data = _slab()
    sections = _footer(data)["sections"]
    assert len(sections) >= 16
    for name, info in sections.items():
        assert info["length"] > 0, name
        for position in (
            info["offset"],
            info["offset"] + info["length"] // 2,
            info["offset"] + info["length"] - 1,
        ):
            with pytest.raises(CorruptionError, match=name):
                SlabReader.from_bytes(_flip(data, position))


def test_footer_and_trailer_are_checked() -> None:
    data = _slab()
    footer_len, _, _ = TRAILER.unpack_from(data, len(data) - TRAILER.size)
    footer_start = len(data) - TRAILER.size - footer_len
    for position in (footer_start, footer_start + footer_len // 2, len(data) - TRAILER.size - 1):
        with pytest.raises(CorruptionError, match="footer"):
            SlabReader.from_bytes(_flip(data, position))
    for position in range(len(data) - TRAILER.size, len(data)):
        with pytest.raises(CorruptionError):
            SlabReader.from_bytes(_flip(data, position))


def test_huge_footer_length_is_rejected() -> None:
    data = _slab()
    head = data[: len(data) - TRAILER.size]
    _, crc, magic = TRAILER.unpack_from(data, len(data) - TRAILER.size)
    bad = head + struct.pack("<QI8s", len(data) * 10, crc, magic)
    with pytest.raises(CorruptionError, match="exceeds"):
        SlabReader.from_bytes(bad)


@pytest.mark.parametrize("keep", [0, 1, 10, 100, 1000, -1, -10, -(TRAILER.size + 5)])
def test_truncation_is_detected(keep: int) -> None:
    data = _slab()
    with pytest.raises(CorruptionError):
        SlabReader.from_bytes(data[:keep])


def test_truncated_at_every_section_boundary() -> None:
    data = _slab()
    for info in _footer(data)["sections"].values():
        with pytest.raises(CorruptionError):
            SlabReader.from_bytes(data[: info["offset"] + info["length"]])


def test_garbage_and_empty_objects() -> None:
    with pytest.raises(CorruptionError):
        SlabReader.from_bytes(b"")
    with pytest.raises(CorruptionError):
        SlabReader.from_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(CorruptionError, match="magic"):
        SlabReader.from_bytes(b"\0" * 100)


def test_verify_false_skips_section_checksums() -> None:
    data = _slab()
    info = _footer(data)["sections"]["vectors"]
    reader = SlabReader.from_bytes(_flip(data, info["offset"]), verify=False)
    assert reader.n == 30
