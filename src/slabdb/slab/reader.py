"""Read a slab: zero-copy views over its sections, its rows, filters; search entry.

:meth:`SlabReader.from_bytes` checks the object's framing and every section's
checksum (:class:`~slabdb.core.errors.CorruptionError` otherwise), then decodes lazily:
arrays are views into the object's bytes, and ids, metadata columns, the metadata
index and the sparse structures are decoded the first time they are used.  A reader
is immutable and may be shared by threads.  :meth:`SlabReader.from_store` opens a
stored slab without reading it whole (:mod:`slabdb.slab.backing`: memory-mapped from a
local directory, or footer first and then sections and vector pages by ranged GETs
through the slab cache); :meth:`vector_rows` reads just the rows a re-rank needs.
:meth:`SlabReader.search` is exact top-k search, or the ANN index's proposals
re-scored exactly (:mod:`slabdb.slab.search`).
"""

from __future__ import annotations

import json
import threading
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pyroaring import AbstractBitMap, FrozenBitMap

from slabdb.core.errors import CorruptionError
from slabdb.core.values import RecordVersion, SparseVector
from slabdb.filters.ast import Expr
from slabdb.filters.bitsets import bitmap_from_mask
from slabdb.filters.cache import FilterBitmaps
from slabdb.filters.evaluate import to_bitmap
from slabdb.filters.metadata_index import FieldStats, MetadataIndex
from slabdb.slab.ann import ANN_INDEX_SECTION, ANN_PARAMS_SECTION
from slabdb.slab.ann_search import AnnIndex
from slabdb.slab.backing import SlabBacking, WholeBacking
from slabdb.slab.backing_mapped import MappedBacking
from slabdb.slab.backing_ranged import RangedBacking
from slabdb.slab.format import SlabStats, decode_slab
from slabdb.slab.search import search_slab, search_slab_batch
from slabdb.slab.sparse import Postings, SparseRows
from slabdb.storage.base import ObjectStore
from slabdb.storage.cache import ByteCache

I64 = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]


class SlabReader:
    """One slab, opened from its bytes."""

    def __init__(self, backing: SlabBacking) -> None:
        self._backing = backing
        self._footer = backing.footer
        self._stats = backing.footer.stats
        self._ann: AnnIndex | None = None
        self._ann_lock = threading.Lock()
        self._filters = FilterBitmaps()

    @classmethod
    def from_bytes(
        cls, data: bytes | memoryview, *, verify: bool = True, where: str | None = None
    ) -> SlabReader:
        """Open a slab; ``verify=False`` skips the per-section CRC pass (trusted caches).

        ``where`` (the object's key) prefixes the message of a CorruptionError.
        """
        try:
            footer, view = decode_slab(data, verify=verify)
            backing = WholeBacking(footer, view, where)
            backing.check_shapes()
        except CorruptionError as exc:
            if where is None:
                raise
            raise CorruptionError(f"{where}: {exc.message}") from exc
        return cls(backing)

    @classmethod
    def from_path(cls, path: Path, *, where: str | None = None) -> SlabReader:
        """Open a slab file memory-mapped (every section's CRC is checked first)."""
        return cls._checked(MappedBacking(path, where))

    @classmethod
    def from_store(
        cls,
        store: ObjectStore,
        key: str,
        size: int,
        cache: ByteCache,
        data: bytes | memoryview | None = None,
    ) -> SlabReader:
        """Open the slab at ``key`` without reading it whole: memory-mapped on a local
        directory, else its footer now and sections by ranged GETs through ``cache``
        later (each checked before it is used and cached).  ``data``: the slab's bytes
        just written (seeds the cache; nothing is fetched back)."""
        path = store.local_path(key)
        if path is not None:
            return cls._checked(MappedBacking(path, key, verify=data is None))
        return cls._checked(RangedBacking.open(store, key, size, cache, data))

    @classmethod
    def _checked(cls, backing: SlabBacking) -> SlabReader:
        try:
            backing.check_shapes()
        except CorruptionError as exc:
            if backing.where is None:
                raise
            raise CorruptionError(f"{backing.where}: {exc.message}") from exc
        return cls(backing)

    # --- facts ------------------------------------------------------------------------
    @property
    def stats(self) -> SlabStats:
        return self._stats

    @property
    def n(self) -> int:
        return self._stats.count

    @property
    def dim(self) -> int | None:
        return self._stats.dim

    @property
    def metric(self) -> str:
        return self._stats.metric

    @property
    def vector_type(self) -> str:
        return self._stats.vector_type

    @property
    def level(self) -> int:
        return self._stats.level

    @property
    def min_lsn(self) -> int:
        return self._stats.min_lsn

    @property
    def max_lsn(self) -> int:
        return self._stats.max_lsn

    @property
    def live_count(self) -> int:
        return self._stats.live_count

    @property
    def field_stats(self) -> dict[str, FieldStats]:
        return dict(self._stats.field_stats)

    @property
    def section_names(self) -> tuple[str, ...]:
        return tuple(self._footer.sections)

    def section_bytes(self, name: str) -> memoryview | None:
        """Raw bytes of any section, e.g. one added with ``extra_sections``."""
        return self._backing.section(name)

    def section_array(self, name: str) -> npt.NDArray[Any] | None:
        """A numpy view of an array section (None if absent)."""
        return self._array(name)

    @property
    def has_ann(self) -> bool:
        """True if the slab carries an ANN index (:mod:`slabdb.slab.ann`)."""
        return ANN_INDEX_SECTION in self._footer.sections

    def ann_index(self) -> AnnIndex | None:
        """The slab's ANN index, deserialized on first use (None if it has none)."""
        if self._ann is None and self.has_ann:
            with self._ann_lock:
                if self._ann is None:
                    self._ann = AnnIndex.load(
                        self.section_bytes(ANN_PARAMS_SECTION),
                        self._array(ANN_INDEX_SECTION),
                        self.dim or 0,
                    )
                    self._backing.release(ANN_INDEX_SECTION)  # faiss holds its own copy
        return self._ann

    # --- columns ----------------------------------------------------------------------
    @cached_property
    def ids(self) -> list[str]:
        ids = self._json("ids")
        if not isinstance(ids, list) or len(ids) != self.n:
            raise CorruptionError("slab ids do not match the row count")
        return ids

    @cached_property
    def id_to_row(self) -> dict[str, int]:
        return {id_: row for row, id_ in enumerate(self.ids)}

    def row_of(self, id_: str) -> int | None:
        """The row holding ``id_`` (live or tombstone), or None."""
        return self.id_to_row.get(id_)

    @cached_property
    def lsns(self) -> npt.NDArray[np.uint64]:
        return self._required_array("lsns")

    @cached_property
    def deleted(self) -> npt.NDArray[np.bool_]:
        return self._required_array("deleted")

    @property
    def vectors(self) -> F32 | None:
        """(n, dim) float32, read-only; None for a sparse slab.

        On a remote slab this reads the whole section through the cache: use
        :meth:`vector_rows` for a few rows."""
        if self._resident_vectors is not None:
            return self._resident_vectors
        return self._array("vectors")

    @cached_property
    def _resident_vectors(self) -> F32 | None:
        return self._array("vectors") if self._backing.resident else None

    def release_vectors(self) -> None:
        """Hint: the vectors were read in bulk (a compaction); let their pages go from
        this process's memory (a memory-mapped slab maps them back on the next touch)."""
        self._backing.release("vectors")

    def vector_rows(self, rows: I64) -> F32:
        """``vectors[rows]`` without reading the whole section of a remote slab."""
        return self._backing.vector_rows(rows)

    def scanned_vectors(self) -> None:
        """Hint: every row of :attr:`vectors` was just read (a whole-slab scan)."""
        self._backing.touched(self.n)

    @cached_property
    def norms(self) -> F32 | None:
        return self._array("norms")

    @cached_property
    def live(self) -> FrozenBitMap:
        """Rows that are not tombstones (frozen: combine it, do not mutate it)."""
        return FrozenBitMap(bitmap_from_mask(~self.deleted))

    @property
    def has_sparse(self) -> bool:
        return "sparse_indptr" in self._footer.sections

    @cached_property
    def metadata_index(self) -> MetadataIndex:
        raw = self.section_bytes("metadata_index")
        if raw is None:
            raise CorruptionError("slab has no metadata index")
        index = MetadataIndex.from_bytes(raw)
        if index.n_rows != self.n:
            raise CorruptionError("slab metadata index does not match the row count")
        return index

    def metadata(self, row: int) -> dict[str, Any] | None:
        """Row ``row``'s metadata as written (None if it had none, or is a tombstone)."""
        if not self._metadata_present[row]:
            return None
        out: dict[str, Any] = {}
        for name, column in self._metadata_columns.items():
            value = column[row]
            if value is not None:
                out[name] = list(value) if isinstance(value, list) else value
        return out

    def sparse(self, row: int) -> SparseVector | None:
        """Row ``row``'s sparse vector (None if it has none)."""
        if self.sparse_rows is None:
            if not 0 <= row < self.n:
                raise IndexError(row)
            return None
        return self.sparse_rows.row(row)

    @cached_property
    def sparse_rows(self) -> SparseRows | None:
        """The sparse vectors by row (None for a slab without any)."""
        if not self.has_sparse:
            return None
        return SparseRows(
            indptr=self._required_array("sparse_indptr"),
            indices=self._required_array("sparse_indices"),
            values=self._required_array("sparse_values"),
            present=self._required_array("sparse_present"),
        )

    @cached_property
    def postings(self) -> Postings | None:
        """The sparse vectors by term, for scoring every row (None without any)."""
        if not self.has_sparse:
            return None
        return Postings(
            terms=self._required_array("postings_terms"),
            indptr=self._required_array("postings_indptr"),
            rows=self._required_array("postings_rows"),
            values=self._required_array("postings_values"),
        )

    # --- filters and search -----------------------------------------------------------
    def version(self, row: int) -> RecordVersion:
        """The record version stored at ``row`` (tombstones carry no data)."""
        deleted = bool(self.deleted[row])
        return RecordVersion(
            id=self.ids[row],
            lsn=int(self.lsns[row]),
            deleted=deleted,
            vector=None if deleted or self.vector_type != "dense" else self._one_vector(row),
            metadata=None if deleted else self.metadata(row),
            sparse=None if deleted else self.sparse(row),
        )

    def _one_vector(self, row: int) -> F32:
        return self.vector_rows(np.asarray([row], dtype=np.int64))[0]

    def filter_bitmap(self, expr: Expr | None) -> FrozenBitMap:
        """Live rows whose metadata satisfies ``expr`` (None: every live row), remembered
        for the slab's recent filters (``filters/cache.py``)."""
        if expr is None:
            return self.live
        return self._filters.get(expr, lambda: to_bitmap(expr, self.metadata_index) & self.live)

    def search(
        self,
        *,
        vector: npt.ArrayLike | None,
        sparse: SparseVector | None,
        metric: str,
        k: int,
        allow: AbstractBitMap | None = None,
        exclude_rows: npt.ArrayLike | AbstractBitMap | None = None,
    ) -> tuple[I64, F32]:
        """Exact top-``k`` live rows (within ``allow``, minus ``exclude_rows``), best first.

        ``exclude_rows`` (row numbers, as an array or a bitmap) typically holds rows
        whose ids have newer versions elsewhere.  Returns (rows int64, scores float32);
        ties go to the lower row.  On a slab with an ANN index a dense query may be
        answered from the graph (scores are still exact; the set is approximate).
        """
        return search_slab(
            self,
            vector=vector,
            sparse=sparse,
            metric=metric,
            k=k,
            allow=allow,
            exclude_rows=exclude_rows,
        )

    def search_batch(
        self,
        *,
        queries: npt.ArrayLike,
        metric: str,
        k: int,
        allow: AbstractBitMap | None = None,
        exclude_rows: npt.ArrayLike | AbstractBitMap | None = None,
    ) -> list[tuple[I64, F32]]:
        """:meth:`search` of each dense query row of ``queries`` (nq, dim), in one pass
        (:func:`~slabdb.slab.search.search_slab_batch`)."""
        return search_slab_batch(
            self, queries=queries, metric=metric, k=k, allow=allow, exclude_rows=exclude_rows
        )

    # --- decoding helpers -------------------------------------------------------------
    def _array(self, name: str) -> npt.NDArray[Any] | None:
        return self._backing.array(name)

    def _required_array(self, name: str) -> npt.NDArray[Any]:
        arr = self._array(name)
        if arr is None:
            raise CorruptionError(f"slab has no {name!r} section")
        return arr

    def _json(self, name: str) -> Any:
        raw = self.section_bytes(name)
        if raw is None:
            raise CorruptionError(f"slab has no {name!r} section")
        try:
            return json.loads(bytes(raw).decode("utf-8"))
        except ValueError as exc:
            raise CorruptionError(f"slab section {name!r} does not decode: {exc}") from exc

    @cached_property
    def _metadata_present(self) -> npt.NDArray[np.bool_]:
        return self._required_array("metadata_present")

    @cached_property
    def _metadata_columns(self) -> dict[str, list[Any]]:
        doc = self._json("metadata")
        columns = doc.get("columns") if isinstance(doc, dict) else None
        if not isinstance(columns, dict) or any(
            not isinstance(c, list) or len(c) != self.n for c in columns.values()
        ):
            raise CorruptionError("slab metadata columns do not match the row count")
        return columns
