"""One flat-code index holding the codes of several: faiss ``IndexIVFPQFastScan`` with
one list, built by appending.

Flat codes (:func:`~slabdb.slab.ann_ivf.new_flat_index`) of slabs that share a
codebook are comparable, so one index can hold them all and be searched in one call
(:mod:`slabdb.engine.code_groups`).  faiss's own ``merge_from`` corrupts the heap on
these block-packed lists (faiss 1.15.1: appending to a list that already holds codes),
so :func:`appended` builds each merged list itself: the existing index's whole blocks
are copied as they are, the codes after them (its last, partial block and every
appended index's codes) are unpacked with the index's ``CodePacker`` and packed again,
and the list is written with one ``add_entries`` into an empty index (the path that
copies whole blocks).  An index merged this way answers exactly as one index that had
every vector added (``tests/unit/slab/test_ann_merge.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]


def appended(base: Any | None, parts: Sequence[tuple[Any, int]]) -> Any:
    """A new flat-code index: ``base``'s codes (None: none), then each ``(index,
    offset)`` of ``parts``'s codes with ``offset`` added to its ids.  Every index shares
    the quantizers of ``base`` (or of the first part); none of them is changed."""
    template = base if base is not None else parts[0][0]
    out = faiss.clone_index(template)
    out.reset()
    packer = faiss.extract_index_ivf(template).get_CodePacker()
    kept_ids, kept_blocks, tail_ids, tail = _split_whole_blocks(base, packer)
    ids, flats = [tail_ids], [tail]
    for index, offset in parts:
        part_ids, part_flat = _unpacked(index, packer)
        ids.append(part_ids + offset)
        flats.append(part_flat)
    all_ids = np.ascontiguousarray(np.concatenate([kept_ids, *ids]), dtype=np.int64)
    blocks = np.concatenate([kept_blocks, _packed(np.concatenate(flats), packer)])
    _write_list(out, all_ids, blocks)
    return out


def _list_arrays(index: Any, packer: Any) -> tuple[I64, U8, int]:
    """(ids, packed blocks, rows) of the index's one list (views of faiss's memory)."""
    invlists = _invlists(index)
    n = invlists.list_size(0)
    if n == 0:
        return np.empty(0, np.int64), np.empty(0, np.uint8), 0
    n_blocks = -(-n // packer.nvec)
    ids = faiss.rev_swig_ptr(invlists.get_ids(0), n)
    blocks = faiss.rev_swig_ptr(invlists.get_codes(0), n_blocks * packer.block_size)
    return np.asarray(ids, dtype=np.int64), blocks, n


def _split_whole_blocks(base: Any | None, packer: Any) -> tuple[I64, U8, I64, U8]:
    """(ids, packed bytes) of ``base``'s whole blocks, copied, and (ids, unpacked codes)
    of the rows after them (its partial last block)."""
    empty_flat = np.empty((0, packer.code_size), dtype=np.uint8)
    if base is None:
        return np.empty(0, np.int64), np.empty(0, np.uint8), np.empty(0, np.int64), empty_flat
    ids, blocks, n = _list_arrays(base, packer)
    whole = n // packer.nvec
    kept_ids, tail_ids = ids[: whole * packer.nvec].copy(), ids[whole * packer.nvec :].copy()
    kept_blocks = blocks[: whole * packer.block_size].copy()
    tail = empty_flat
    if len(tail_ids):
        tail = _unpack_blocks(blocks[whole * packer.block_size :], packer)[: len(tail_ids)]
    return kept_ids, kept_blocks, tail_ids, tail


def _unpacked(index: Any, packer: Any) -> tuple[I64, U8]:
    """(ids, unpacked codes, one row each) of the index's one list."""
    ids, blocks, n = _list_arrays(index, packer)
    return ids.copy(), _unpack_blocks(blocks, packer)[:n]


def _unpack_blocks(blocks: U8, packer: Any) -> U8:
    n_blocks = len(blocks) // packer.block_size
    flat = np.empty((n_blocks * packer.nvec, packer.code_size), dtype=np.uint8)
    for b in range(n_blocks):
        block = blocks[b * packer.block_size : (b + 1) * packer.block_size]
        packer.unpack_all(faiss.swig_ptr(block), faiss.swig_ptr(flat[b * packer.nvec :]))
    return flat


def _packed(flat: U8, packer: Any) -> U8:
    """Unpacked codes (one row each) as packed blocks, the last one zero-padded."""
    n_blocks = -(-len(flat) // packer.nvec)
    padded = np.zeros((n_blocks * packer.nvec, packer.code_size), dtype=np.uint8)
    padded[: len(flat)] = flat
    out = np.zeros(n_blocks * packer.block_size, dtype=np.uint8)
    for b in range(n_blocks):
        rows = np.ascontiguousarray(padded[b * packer.nvec : (b + 1) * packer.nvec])
        packer.pack_all(faiss.swig_ptr(rows), faiss.swig_ptr(out[b * packer.block_size :]))
    return out


def _write_list(index: Any, ids: I64, blocks: U8) -> None:
    """Fill the empty index's one list with ``ids`` and their packed codes."""
    ivf = faiss.extract_index_ivf(index)
    invlists = _invlists(index)
    assert invlists.list_size(0) == 0
    if len(ids):
        invlists.add_entries(0, len(ids), faiss.swig_ptr(ids), faiss.swig_ptr(blocks))
    ivf.ntotal = len(ids)
    index.ntotal = len(ids)


def _invlists(index: Any) -> Any:
    invlists = faiss.extract_index_ivf(index).invlists
    assert invlists is not None
    return invlists
