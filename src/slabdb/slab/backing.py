"""Where a slab's bytes come from: the backing interface, the vector page layout, and
the in-memory backing.

A :class:`~slabdb.slab.reader.SlabReader` reads sections through a backing, so a slab
is never held whole in memory unless it was handed over as bytes:

* :class:`WholeBacking` - the object's bytes (a slab just built, tests).  Every CRC was
  checked when it was opened.
* :class:`~slabdb.slab.backing_mapped.MappedBacking` - a slab file of a local-directory
  store, memory-mapped read-only (:mod:`slabdb.slab.backing_mapped`).
* :class:`~slabdb.slab.backing_ranged.RangedBacking` - a slab of a remote store, read by
  ranged GETs through the slab cache (:mod:`slabdb.slab.backing_ranged`).

Dense vectors are checksummed in pages of whole rows (:func:`rows_per_page`, the
``vector_page_crc`` section), so a ranged read checks only the pages it fetched.
Damage is a :class:`~slabdb.core.errors.CorruptionError` naming the object, when the
slab is opened (whole, mapped) or when the damaged range is first read (ranged).
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import numpy.typing as npt

from slabdb.core.errors import CorruptionError
from slabdb.slab.format import BYTES_DTYPE, Footer, SectionInfo, array_of

I64 = npt.NDArray[np.int64]

VECTORS_SECTION = "vectors"
VECTOR_PAGE_CRC_SECTION = "vector_page_crc"
VECTOR_PAGE_BYTES = 64 * 1024
"""Target size of a vector page (whole rows; the CRC and cache unit of ranged reads)."""
HOT_SECTIONS = (
    "ids",
    "lsns",
    "deleted",
    "norms",
    VECTOR_PAGE_CRC_SECTION,
    "ann_params",
    "ann_index",
    "metadata_present",
    "metadata_index",
)
"""Sections a query needs, written contiguously and fetched together by a ranged read."""


def rows_per_page(dim: int) -> int:
    """Rows of float32 vectors in one page (at least one)."""
    return max(1, VECTOR_PAGE_BYTES // (4 * max(dim, 1)))


def page_crcs(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.uint32]:
    """CRC-32 of each page of ``vectors`` (C-ordered float32 rows)."""
    dim = int(vectors.shape[1])
    flat = np.ascontiguousarray(vectors, dtype="<f4").reshape(-1).view(np.uint8)
    step = rows_per_page(dim) * dim * 4
    raw = flat.data  # a memoryview of the bytes
    crcs = [zlib.crc32(raw[i : i + step]) for i in range(0, len(flat), step)]
    return np.asarray(crcs, dtype=np.uint32)


def named_corruption(where: str | None, exc: CorruptionError) -> CorruptionError:
    """``exc`` with its message prefixed by the object's name ``where`` (if known)."""
    return exc if where is None else CorruptionError(f"{where}: {exc.message}")


class SlabBacking(ABC):
    """Verified access to a slab's sections."""

    footer: Footer
    where: str | None
    _vectors: npt.NDArray[np.float32] | None = None
    """The ``vectors`` section's array, made on the first :meth:`vector_rows`."""

    def info(self, name: str) -> SectionInfo | None:
        return self.footer.sections.get(name)

    @abstractmethod
    def section(self, name: str) -> memoryview | None:
        """The (checked) bytes of section ``name``, or None if the slab has none."""

    def array(self, name: str) -> npt.NDArray[Any] | None:
        """Section ``name`` as a read-only numpy array, or None."""
        info = self.info(name)
        if info is None:
            return None
        data = self.section(name)
        assert data is not None
        arr = array_of(info, data)
        if arr.flags.writeable:
            arr.flags.writeable = False
        return arr

    def check_shapes(self) -> None:
        """Cheap structural checks so later decoding cannot index out of bounds."""
        stats, sections = self.footer.stats, self.footer.sections
        n, dim, has_sparse = stats.count, stats.dim, "sparse_indptr" in sections
        expected: dict[str, tuple[int, ...]] = {
            "lsns": (n,),
            "deleted": (n,),
            "metadata_present": (n,),
        }
        if stats.vector_type == "dense":
            expected[VECTORS_SECTION] = (n, dim or 0)
            expected["norms"] = (n,)
            if VECTOR_PAGE_CRC_SECTION in sections:
                expected[VECTOR_PAGE_CRC_SECTION] = (-(-n // rows_per_page(dim or 1)),)
        if has_sparse:
            expected["sparse_indptr"] = (n + 1,)
            expected["sparse_present"] = (n,)
        for name, shape in expected.items():
            info = sections.get(name)
            if info is None or info.dtype == BYTES_DTYPE or info.shape != shape:
                raise CorruptionError(f"slab section {name!r} is missing or has the wrong shape")
        if has_sparse:
            indptr = self._required_array("sparse_indptr")
            n_entries = len(self._required_array("sparse_indices"))
            if n and (indptr[0] != 0 or indptr[-1] != n_entries or np.any(np.diff(indptr) < 0)):
                raise CorruptionError("slab sparse rows are inconsistent")

    def _required_array(self, name: str) -> npt.NDArray[Any]:
        arr = self.array(name)
        if arr is None:
            raise CorruptionError(f"slab has no {name!r} section")
        return arr

    def vector_rows(self, rows: I64) -> npt.NDArray[np.float32]:
        """``vectors[rows]`` (a copy)."""
        vectors = self._vectors
        if vectors is None:  # a view of the bytes this backing holds for its lifetime
            vectors = self._vectors = self.array(VECTORS_SECTION)
        assert vectors is not None
        return np.asarray(vectors[rows])

    @property
    def resident(self) -> bool:
        """True if whole sections are cheap to read again (memory or mmap)."""
        return True

    def release(self, name: str) -> None:  # noqa: B027 - optional hint
        """Hint: section ``name`` was decoded into something else; its bytes may go."""

    def touched(self, rows: int) -> None:  # noqa: B027 - optional hint
        """Hint: ``rows`` rows of ``vectors`` were just read from the resident section."""


class WholeBacking(SlabBacking):
    """A slab held as bytes (CRCs checked by the caller, ``decode_slab``)."""

    def __init__(self, footer: Footer, view: memoryview, where: str | None = None) -> None:
        self.footer, self._view, self.where = footer, view, where

    def section(self, name: str) -> memoryview | None:
        info = self.info(name)
        return None if info is None else self._view[info.offset : info.offset + info.length]
