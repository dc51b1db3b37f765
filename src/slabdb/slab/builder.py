"""Build a slab: one immutable object holding a batch of record versions.

Sections written (see :mod:`slabdb.slab.format` for the framing):

==================  =========  ==========================================================
name                dtype      content
==================  =========  ==========================================================
ids                 bytes      JSON list of the rows' ids
lsns                <u8 (n,)   LSN of each row's version
deleted             |b1 (n,)   True for tombstones (id and LSN only)
vectors             <f4 (n,d)  dense values, full fidelity (tombstone rows are zero)
norms               <f4 (n,)   L2 norm of each vector (``scoring.vector_norms``)
vector_page_crc     <u4 (p,)   CRC-32 of each page of ``vectors`` (``backing.rows_per_page``
                               rows), so a ranged read checks just the pages it fetched
metadata_present    |b1 (n,)   the row has a metadata dict (possibly empty)
metadata            bytes      JSON ``{"columns": {field: [value or null per row]}}``
metadata_index      bytes      :class:`~slabdb.filters.metadata_index.MetadataIndex`
sparse_*            arrays     CSR rows: indptr, indices, values, present
postings_*          arrays     inverted index: terms, indptr, rows, values
==================  =========  ==========================================================

``vectors``/``norms`` exist for ``vector_type="dense"``; the sparse sections exist when
any row has a sparse vector (always for ``vector_type="sparse"``).  Order: the sections
a query needs first and together (``backing.HOT_SECTIONS``), then ``metadata``, then
``vectors`` (extra sections after them).  With an ``ann``
config, a dense slab of at least ``ann.min_rows`` live rows also gets the
``ann_params``/``ann_index`` sections (:mod:`slabdb.slab.ann`).  Callers may add
their own sections (an ANN index, a quantized copy) with ``extra_sections``; readers
find them with :meth:`SlabReader.section_bytes`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from slabdb.core.config import AnnConfig
from slabdb.core.values import METRICS, VECTOR_TYPES, SparseVector
from slabdb.filters.metadata_index import MetadataIndex
from slabdb.query.scoring import vector_norms
from slabdb.slab.ann import ANN_SECTIONS, build_ann_sections
from slabdb.slab.backing import VECTOR_PAGE_CRC_SECTION, page_crcs
from slabdb.slab.format import Section, SlabStats, encode_slab, write_slab
from slabdb.slab.sparse import Postings, SparseRows

MAX_SLAB_ROWS = 2**32 - 1
"""Rows are numbered by 32-bit roaring bitmaps."""

RESERVED_SECTIONS = frozenset(
    {
        "ids",
        "lsns",
        "deleted",
        "vectors",
        "norms",
        VECTOR_PAGE_CRC_SECTION,
        "metadata_present",
        "metadata",
        "metadata_index",
        "sparse_indptr",
        "sparse_indices",
        "sparse_values",
        "sparse_present",
        "postings_terms",
        "postings_indptr",
        "postings_rows",
        "postings_values",
        *ANN_SECTIONS,
    }
)


def _json_bytes(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


@dataclasses.dataclass(frozen=True)
class SlabLayout:
    """A slab's sections in object order and its statistics, ready to encode."""

    sections: list[tuple[str, Section]]
    stats: SlabStats
    """Its ``size_bytes`` is still 0 (the encoded object's size)."""

    def encode(self) -> tuple[bytes, SlabStats]:
        """The slab's bytes and its statistics."""
        data = encode_slab(self.sections, self.stats)
        return data, dataclasses.replace(self.stats, size_bytes=len(data))

    def write(self, out: BinaryIO) -> SlabStats:
        """Write the slab to ``out`` section by section (never joined in memory)."""
        size = write_slab(self.sections, self.stats, out)
        return dataclasses.replace(self.stats, size_bytes=size)


class SlabBuilder:
    """Turns columns of record versions into slab bytes (stateless)."""

    @classmethod
    def build(cls, **columns: Any) -> tuple[bytes, SlabStats]:
        """Encode one slab: :meth:`layout`'s keywords; returns its bytes and its
        :class:`SlabStats`."""
        return cls.layout(**columns).encode()

    @classmethod
    def layout(
        cls,
        *,
        ids: Sequence[str],
        lsns: npt.ArrayLike,
        deleted: npt.ArrayLike,
        vectors: npt.NDArray[np.float32] | None,
        sparse: Sequence[SparseVector | None] | None,
        metadata: Sequence[Mapping[str, Any] | None],
        metric: str,
        vector_type: str,
        level: int,
        extra_sections: Mapping[str, bytes | npt.NDArray[Any]] | None = None,
        ann: AnnConfig | None = None,
        consume_vectors: bool = False,
        codebook: Any = None,
    ) -> SlabLayout:
        """One slab's sections, to encode (:meth:`SlabLayout.encode`) or to write to a
        file (:meth:`SlabLayout.write`).

        One version per id (duplicate ids raise ``ValueError``).  Rows with
        ``deleted=True`` are tombstones: their vector is stored as zeros and their
        metadata and sparse vector are dropped.  Metadata must already be validated.
        ``ann`` (None: never) decides whether a dense slab gets an ANN index.
        ``consume_vectors``: ``vectors`` is the caller's scratch float32 array, used (and
        its tombstone rows zeroed) in place instead of copied; the layout's ``vectors``
        section is then that array.  ``codebook``: flat codes reuse these trained
        quantizers (:func:`~slabdb.slab.ann.build_ann_sections`).
        """
        n = len(ids)
        lsn_arr = np.asarray(lsns, dtype=np.uint64).reshape(-1)
        del_arr = np.asarray(deleted, dtype=np.bool_).reshape(-1)
        _check_inputs(
            n, ids, lsn_arr, del_arr, vectors, sparse, metadata, metric, vector_type, level
        )
        dead_rows = del_arr.tolist()
        hot: list[tuple[str, Section]] = [
            ("ids", _json_bytes(list(ids))),
            ("lsns", lsn_arr),
            ("deleted", del_arr),
        ]
        dense_hot, tail, dim = _dense_sections(
            vectors, del_arr, metric, ann, consume_vectors, codebook
        )
        hot += dense_hot
        md_rows = [None if dead else md for md, dead in zip(metadata, dead_rows, strict=True)]
        index = MetadataIndex.build(md_rows)
        present, columns = _metadata_sections(md_rows, index)
        hot += [present, ("metadata_index", index.to_bytes())]
        hot += _sparse_sections_if_any(sparse, dead_rows, vector_type)
        # Hot sections first and together (a ranged reader fetches them in one GET),
        # then the metadata columns, the vectors last (read by page).
        sections = [*hot, columns, *tail, *_extra_sections(extra_sections)]
        stats = _slab_stats(lsn_arr, del_arr, index, dim, metric, vector_type, level)
        return SlabLayout(sections, stats)


def _dense_sections(
    vectors: npt.NDArray[np.float32] | None,
    deleted: npt.NDArray[np.bool_],
    metric: str,
    ann: AnnConfig | None,
    consume: bool,
    codebook: Any = None,
) -> tuple[list[tuple[str, Section]], list[tuple[str, Section]], int | None]:
    """A dense slab's hot sections (norms, page CRCs, maybe an ANN index), its tail (the
    vectors themselves) and its dimension; nothing for a sparse slab (no ``vectors``)."""
    if vectors is None:
        return [], [], None
    dense = _dense_matrix(vectors, deleted, consume)
    hot: list[tuple[str, Section]] = [
        ("norms", vector_norms(dense)),
        (VECTOR_PAGE_CRC_SECTION, page_crcs(dense)),
    ]
    hot += list(build_ann_sections(dense, deleted, metric, ann, codebook).items())
    return hot, [("vectors", dense)], int(np.shape(vectors)[1])


def _slab_stats(
    lsns: npt.NDArray[np.uint64],
    deleted: npt.NDArray[np.bool_],
    index: MetadataIndex,
    dim: int | None,
    metric: str,
    vector_type: str,
    level: int,
) -> SlabStats:
    """The slab's statistics, its size still 0 (known once encoded)."""
    n = len(lsns)
    return SlabStats(
        count=n,
        live_count=int((~deleted).sum()),
        min_lsn=int(lsns.min()) if n else 0,
        max_lsn=int(lsns.max()) if n else 0,
        size_bytes=0,
        field_stats=index.field_stats,
        dim=dim,
        metric=metric,
        vector_type=vector_type,
        level=level,
    )


def _sparse_sections_if_any(
    sparse: Sequence[SparseVector | None] | None, dead_rows: list[bool], vector_type: str
) -> list[tuple[str, Section]]:
    """The sparse sections, if the slab is sparse or any live row has a sparse vector
    (tombstone rows drop theirs)."""
    sparse_rows: list[SparseVector | None] = (
        [None if dead else sv for sv, dead in zip(sparse, dead_rows, strict=True)]
        if sparse is not None
        else [None] * len(dead_rows)
    )
    if vector_type == "sparse" or any(sv is not None for sv in sparse_rows):
        return _sparse_sections(sparse_rows)
    return []


def _extra_sections(
    extra_sections: Mapping[str, bytes | npt.NDArray[Any]] | None,
) -> list[tuple[str, Section]]:
    """The caller's own sections, none of which may take a built-in section's name."""
    out: list[tuple[str, Section]] = []
    for name, payload in (extra_sections or {}).items():
        if name in RESERVED_SECTIONS:
            raise ValueError(f"extra section {name!r} collides with a built-in section")
        out.append((name, payload))
    return out


def _dense_matrix(
    vectors: npt.NDArray[np.float32], deleted: npt.NDArray[np.bool_], consume: bool
) -> npt.NDArray[np.float32]:
    """The vectors as stored: float32, C order, tombstones zeroed (in place if ``consume``
    and the array is already float32 C order and writeable)."""
    dense = np.array(vectors, dtype=np.float32, order="C", copy=None if consume else True)
    if not dense.flags.writeable:
        dense = dense.copy()
    dense[deleted] = 0.0
    return dense


def _metadata_sections(
    md_rows: list[Mapping[str, Any] | None], index: MetadataIndex
) -> tuple[tuple[str, Section], tuple[str, Section]]:
    """Which rows have metadata, and the metadata columns."""
    return (
        ("metadata_present", np.array([md is not None for md in md_rows], dtype=np.bool_)),
        ("metadata", _json_bytes({"columns": _columns(md_rows, index.fields)})),
    )


def _sparse_sections(sparse_rows: list[SparseVector | None]) -> list[tuple[str, Section]]:
    """Sparse rows in CSR form plus per-term postings for sparse search."""
    csr = SparseRows.build(sparse_rows)
    postings = Postings.build(csr)
    return [
        ("sparse_indptr", csr.indptr),
        ("sparse_indices", csr.indices),
        ("sparse_values", csr.values),
        ("sparse_present", csr.present),
        ("postings_terms", postings.terms),
        ("postings_indptr", postings.indptr),
        ("postings_rows", postings.rows),
        ("postings_values", postings.values),
    ]


def _columns(
    rows: Sequence[Mapping[str, Any] | None], fields: Sequence[str]
) -> dict[str, list[Any]]:
    """Metadata as one list per field (None where a row lacks the field)."""
    columns: dict[str, list[Any]] = {name: [None] * len(rows) for name in fields}
    for row, md in enumerate(rows):
        if md:
            for name, value in md.items():
                columns[name][row] = value
    return columns


def _check_inputs(
    n: int,
    ids: Sequence[str],
    lsns: npt.NDArray[np.uint64],
    deleted: npt.NDArray[np.bool_],
    vectors: npt.NDArray[np.float32] | None,
    sparse: Sequence[SparseVector | None] | None,
    metadata: Sequence[Mapping[str, Any] | None],
    metric: str,
    vector_type: str,
    level: int,
) -> None:
    if n > MAX_SLAB_ROWS:
        raise ValueError(f"a slab holds at most {MAX_SLAB_ROWS} rows, got {n}")
    for name, length in (
        ("lsns", len(lsns)),
        ("deleted", len(deleted)),
        ("metadata", len(metadata)),
    ):
        if length != n:
            raise ValueError(f"{name} has {length} entries for {n} ids")
    if sparse is not None and len(sparse) != n:
        raise ValueError(f"sparse has {len(sparse)} entries for {n} ids")
    if len(set(ids)) != n:
        raise ValueError("a slab holds one version per id; ids repeat")
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    if vector_type not in VECTOR_TYPES:
        raise ValueError(f"unknown vector_type {vector_type!r}")
    if level < 0:
        raise ValueError(f"level must be >= 0, got {level}")
    if vector_type == "dense":
        if vectors is None:
            raise ValueError("a dense slab needs vectors")
        shape = np.shape(vectors)
        if len(shape) != 2 or shape[0] != n or shape[1] < 1:
            raise ValueError(f"vectors must have shape ({n}, dim >= 1), got {shape}")
    elif vectors is not None:
        raise ValueError("a sparse slab takes no dense vectors")
