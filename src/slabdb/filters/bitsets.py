"""Roaring bitmaps to and from numpy boolean masks and packed bitsets, at C speed.

pyroaring builds a bitmap from an array by adding one value at a time (~10 ns a row:
~0.5 ms for the 50k rows of a broad filter on a 100k slab), and has no bitset export.
Both directions here go through the portable Roaring serialization instead
(https://github.com/RoaringBitmap/RoaringFormatSpec), which pyroaring reads and writes
natively: a 64Ki-row chunk of a mask becomes one container, written by numpy
(``packbits`` for a bitset container, ``flatnonzero`` for an array container), and a
serialized bitmap's containers are decoded by numpy into a packed bitset (the form
faiss's ``IDSelectorBitmap`` takes).
"""

from __future__ import annotations

import array
import struct
from typing import Any

import numpy as np
import numpy.typing as npt
from pyroaring import AbstractBitMap, BitMap

CHUNK = 1 << 16
"""Rows per Roaring container (the high 16 bits of a row number are its key)."""
ARRAY_MAX = 4096
"""A container of at most this many rows is an array, of more a bitset (the format's rule)."""
SPARSE_SHARE = 16
"""A mask with fewer than 1/16 of its rows set goes through its row array (pyroaring
adds ~10 ns a row; the container path costs ~60 us per 100k rows whatever they hold)."""
_NO_RUNS = 12346


def bitmap_from_mask(mask: npt.NDArray[np.bool_]) -> BitMap:
    """The rows where ``mask`` (1-d) is True, as a bitmap."""
    flat = np.ascontiguousarray(mask, dtype=np.bool_).reshape(-1)
    total = int(np.count_nonzero(flat))
    if total * SPARSE_SHARE < len(flat):  # few rows: pyroaring's own adds are cheaper
        return _from_few_rows(np.flatnonzero(flat))
    keys, cards, bodies = [], [], []
    for key, start in enumerate(range(0, len(flat), CHUNK)):
        part = flat[start : start + CHUNK]
        card = int(np.count_nonzero(part))
        if not card:
            continue
        if card > ARRAY_MAX:
            body = np.zeros(CHUNK // 8, dtype=np.uint8)
            bits = np.packbits(part, bitorder="little")
            body[: len(bits)] = bits
            bodies.append(body.tobytes())
        else:
            bodies.append(np.flatnonzero(part).astype("<u2").tobytes())
        keys.append(key)
        cards.append(card)
    return _deserialized(np.asarray(keys), np.asarray(cards), bodies)


def bitmap_from_rows(rows: npt.ArrayLike) -> BitMap:
    """A bitmap of the given row numbers (any non-negative integers, any order)."""
    arr = np.asarray(rows).reshape(-1)
    if arr.size <= ARRAY_MAX:
        return _from_few_rows(arr)
    mask = np.zeros(int(arr.max()) + 1, dtype=np.bool_)
    mask[arr] = True
    return bitmap_from_mask(mask)


def _from_few_rows(rows: npt.NDArray[np.integer[Any]]) -> BitMap:
    if rows.size == 0:
        return BitMap()
    return BitMap(array.array("I", np.ascontiguousarray(rows, dtype="<u4").tobytes()))


def _deserialized(
    keys: npt.NDArray[np.intp], cards: npt.NDArray[np.intp], bodies: list[bytes]
) -> BitMap:
    n = len(keys)
    header = struct.pack("<II", _NO_RUNS, n)
    descriptive = np.empty(2 * n, dtype="<u2")
    descriptive[0::2] = keys
    descriptive[1::2] = cards - 1
    start = len(header) + 4 * n + 4 * n  # the descriptive header, then the offsets
    sizes = np.fromiter((len(b) for b in bodies), dtype=np.int64, count=n)
    offsets = (start + np.concatenate([[0], np.cumsum(sizes)[:-1]])).astype("<u4")
    return BitMap.deserialize(header + descriptive.tobytes() + offsets.tobytes() + b"".join(bodies))


def packed_bits(bitmap: AbstractBitMap, n_rows: int) -> npt.NDArray[np.uint8]:
    """``bitmap`` as a little-endian packed bitset over ``n_rows`` rows, padded to whole
    bytes (rows at or beyond ``n_rows`` are dropped).

    Array and bitset containers are decoded from the serialization; a bitmap with run
    containers (``BitMap(range(...))``, ``run_optimize``) goes through its row array."""
    raw = memoryview(bitmap.serialize())
    if struct.unpack_from("<I", raw, 0)[0] != _NO_RUNS:
        mask = np.zeros(n_rows + (-n_rows % 8), dtype=np.bool_)
        rows = np.frombuffer(bitmap.to_array(), dtype=np.uint32)
        mask[rows[rows < n_rows]] = True
        return np.packbits(mask, bitorder="little")
    out = np.zeros(-(-max(n_rows, 1) // CHUNK) * (CHUNK // 8), dtype=np.uint8)
    n = struct.unpack_from("<I", raw, 4)[0]
    desc = np.frombuffer(raw, "<u2", 2 * n, 8).astype(np.int64)
    offsets = np.frombuffer(raw, "<u4", n, 8 + 4 * n)
    for key, card, pos in zip(
        desc[0::2].tolist(), (desc[1::2] + 1).tolist(), offsets.tolist(), strict=True
    ):
        chunk = out[key * (CHUNK // 8) : (key + 1) * (CHUNK // 8)]
        if not chunk.size:  # rows beyond n_rows
            continue
        if card > ARRAY_MAX:
            chunk |= np.frombuffer(raw, np.uint8, CHUNK // 8, pos)
        else:
            bits = np.zeros(CHUNK, dtype=np.bool_)
            bits[np.frombuffer(raw, "<u2", card, pos)] = True
            chunk |= np.packbits(bits, bitorder="little")
    return out[: -(-n_rows // 8)]
