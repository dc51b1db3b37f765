"""Where a slab's bytes come from: memory, a memory-mapped file, or ranged GETs + cache.

A :class:`~slabdb.slab.reader.SlabReader` reads sections through a backing, so a slab
is never held whole in memory unless it was handed over as bytes:

* :class:`WholeBacking` - the object's bytes (a slab just built, tests).  Every CRC was
  checked when it was opened.
* :class:`MappedBacking` - a slab file of a local-directory store, memory-mapped
  read-only.  Opening checks every section's CRC in chunks and drops each chunk from
  the process's resident set after checking it (``MADV_DONTNEED``), so the pages come
  back only when a query touches them, and the kernel may reclaim them any time.  The
  vectors' pages are unmapped again after about :data:`MAPPED_VECTOR_BYTES` of reads
  (:meth:`MappedBacking.touched`), and the rows of a vectors section larger than that
  are read with ``pread`` (a fault would map a whole large folio), so re-ranking random
  rows keeps a bounded RSS.
* :class:`RangedBacking` - a slab of a remote store.  Opening costs one ranged GET of
  the last :data:`~slabdb.slab.format.TAIL_READ_BYTES` (footer + trailer; a second GET
  only for a larger footer).  The first use of any *hot* section (what a query needs:
  ids, LSNs, tombstones, norms, the ANN index, the metadata index) fetches all of them
  in one GET (the builder writes them contiguously).  Other sections are one GET each.
  Dense vectors are read in pages of whole rows (:func:`rows_per_page`), each checked
  against its own CRC (the ``vector_page_crc`` section) and cached by page: a re-rank
  of r rows costs at most one GET per run of adjacent missing pages, fetched in
  parallel.  Every fetched range is checked before it is cached
  (:class:`~slabdb.storage.cache.ByteCache`), so a warm slab costs no request.

Damage is a :class:`~slabdb.core.errors.CorruptionError` naming the object, when the
slab is opened (whole, mapped) or when the damaged range is first read (ranged).
"""

from __future__ import annotations

import mmap
import os
import threading
import zlib
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from slabdb.core.errors import CorruptionError
from slabdb.slab.format import (
    TAIL_READ_BYTES,
    Footer,
    SectionInfo,
    array_of,
    decode_footer,
    footer_span,
    verify_section,
)
from slabdb.storage.base import ObjectStore
from slabdb.storage.cache import ByteCache

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
MAPPED_VECTOR_BYTES = 256 * 2**20
"""A memory-mapped slab's vector pages are unmapped (not evicted from the page cache)
once reads may have mapped about this much of them; rows of a larger ``vectors``
section are read with ``pread`` instead of through the mapping."""
FAULT_AROUND_BYTES = 64 * 1024
"""What one page fault may map around the faulting page (Linux ``fault_around_bytes``)."""
MAX_RUN_PAGES = 256
"""A ranged read of vector pages fetches at most this many adjacent pages per GET."""
_CHECK_CHUNK = 64 * 2**20
_FETCH_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="slabdb-fetch")


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


def _named(where: str | None, exc: CorruptionError) -> CorruptionError:
    return exc if where is None else CorruptionError(f"{where}: {exc.message}")


class SlabBacking(ABC):
    """Verified access to a slab's sections."""

    footer: Footer
    where: str | None

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

    def vector_rows(self, rows: I64) -> npt.NDArray[np.float32]:
        """``vectors[rows]`` (a copy)."""
        vectors = self.array(VECTORS_SECTION)
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


class MappedBacking(SlabBacking):
    """A slab file mapped read-only; every section is checked at open, chunk by chunk."""

    def __init__(self, path: Path, where: str | None = None, *, verify: bool = True) -> None:
        self.where = where
        self._file = open(path, "rb")  # noqa: SIM115 - kept open for pread (closed on GC)
        size = self._file.seek(0, 2)
        if size == 0:
            raise _named(where, CorruptionError("slab is 0 bytes, too short"))
        self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        self._view = memoryview(self._map)
        self._touched_bytes = 0
        self._touch_lock = threading.Lock()
        try:
            start, _end = footer_span(self._view[max(0, size - TAIL_READ_BYTES) :], size)
            self.footer = decode_footer(self._view[start:], size)
            if verify:
                for info in self.footer.sections.values():
                    self._check(info)
        except CorruptionError as exc:
            raise _named(where, exc) from exc
        self._drop(0, size)

    def _check(self, info: SectionInfo) -> None:
        crc = 0
        for start in range(info.offset, info.offset + info.length, _CHECK_CHUNK):
            end = min(start + _CHECK_CHUNK, info.offset + info.length)
            crc = zlib.crc32(self._view[start:end], crc)
            self._drop(start, end)
        if crc != info.crc32:
            raise CorruptionError(f"slab section {info.name!r} failed its checksum")

    def _drop(self, start: int, end: int) -> None:
        """Take [start, end) out of this process's resident set (it stays in the page
        cache; a later touch maps it back)."""
        page = mmap.PAGESIZE
        first = -(-start // page) * page
        last = (end // page) * page
        if last > first and hasattr(mmap, "MADV_DONTNEED"):
            self._map.madvise(mmap.MADV_DONTNEED, first, last - first)

    def section(self, name: str) -> memoryview | None:
        info = self.info(name)
        return None if info is None else self._view[info.offset : info.offset + info.length]

    def release(self, name: str) -> None:
        info = self.info(name)
        if info is not None:
            self._drop(info.offset, info.offset + info.length)

    def vector_rows(self, rows: I64) -> npt.NDArray[np.float32]:
        """Rows of a small slab from the mapping; of a large one by ``pread``: a fault on a
        mapped page maps its whole (large) folio of the page cache, so 1,200 random rows
        of a 300 MB section mapped all of it; ``pread`` maps nothing."""
        info = self.info(VECTORS_SECTION)
        assert info is not None
        if info.length <= MAPPED_VECTOR_BYTES:
            out = super().vector_rows(rows)
            self.touched(len(rows))
            return out
        dim = info.shape[1]
        row_bytes = 4 * dim
        out = np.empty((len(rows), dim), dtype=np.float32)
        fd = self._file.fileno()
        for i, row in enumerate(np.asarray(rows, dtype=np.int64).tolist()):
            chunk = os.pread(fd, row_bytes, info.offset + row * row_bytes)
            out[i] = np.frombuffer(chunk, dtype="<f4", count=dim)
        return out

    def touched(self, rows: int) -> None:
        """Unmap the vectors' pages once reads may have mapped :data:`MAPPED_VECTOR_BYTES`
        of them (each faulting row maps up to :data:`FAULT_AROUND_BYTES` around it): the
        pages stay in the page cache, so a later touch is a minor fault, but a process
        re-ranking random rows of a large slab keeps a bounded resident set."""
        with self._touch_lock:
            self._touched_bytes += rows * FAULT_AROUND_BYTES
            if self._touched_bytes < MAPPED_VECTOR_BYTES:
                return
            self._touched_bytes = 0
        self.release(VECTORS_SECTION)


class RangedBacking(SlabBacking):
    """A slab of a remote store, read by ranged GETs through a :class:`ByteCache`."""

    def __init__(
        self, store: ObjectStore, key: str, size: int, cache: ByteCache, where: str | None = None
    ) -> None:
        self._store, self._key, self._size, self._cache = store, key, size, cache
        self.where = where or key
        try:
            tail = self._read(max(0, size - TAIL_READ_BYTES), size)
            start, _end = footer_span(tail, size)
            if start < size - len(tail):
                tail = self._read(start, size)
            self.footer = decode_footer(tail, size)
        except CorruptionError as exc:
            raise _named(self.where, exc) from exc
        self._hot = self._hot_span()

    @property
    def resident(self) -> bool:
        return False

    def _read(self, start: int, end: int, check: SectionInfo | None = None) -> bytes:
        def fetch() -> bytes:
            data = self._store.get_range(self._key, start, end)
            if len(data) != end - start:
                raise _named(self.where, CorruptionError("slab is shorter than its footer says"))
            if check is not None:
                verify_section(check, data)
            return data

        return self._cache.get((self._store.url, self._key, start, end), fetch)

    def _hot_span(self) -> tuple[int, int] | None:
        """[start, end) covering the hot sections, if they lie (nearly) together."""
        infos = [i for i in (self.info(n) for n in HOT_SECTIONS) if i is not None]
        if not infos:
            return None
        start = min(i.offset for i in infos)
        end = max(i.offset + i.length for i in infos)
        wanted = sum(i.length for i in infos)
        return (start, end) if end - start <= wanted + wanted // 4 + 64 * 1024 else None

    def _fetch_hot(self) -> bytes:
        assert self._hot is not None
        start, end = self._hot
        key = (self._store.url, self._key, start, end)
        found = self._cache.lookup(key)
        if found is not None:
            return found
        data = self._store.get_range(self._key, start, end)
        try:
            if len(data) != end - start:
                raise CorruptionError("slab is shorter than its footer says")
            for name in HOT_SECTIONS:
                info = self.info(name)
                if info is not None:
                    verify_section(info, memoryview(data)[info.offset - start :][: info.length])
        except CorruptionError as exc:
            raise _named(self.where, exc) from exc
        self._cache.put(key, data)
        return data

    def section(self, name: str) -> memoryview | None:
        info = self.info(name)
        if info is None:
            return None
        if info.length == 0:
            return memoryview(b"")
        if self._hot is not None and name in HOT_SECTIONS:
            start = self._hot[0]
            view = memoryview(self._fetch_hot())
            return view[info.offset - start : info.offset - start + info.length]
        try:
            return memoryview(self._read(info.offset, info.offset + info.length, info))
        except CorruptionError as exc:
            raise _named(self.where, exc) from exc

    def vector_rows(self, rows: I64) -> npt.NDArray[np.float32]:
        info, crcs = self.info(VECTORS_SECTION), self.array(VECTOR_PAGE_CRC_SECTION)
        assert info is not None
        if crcs is None:  # no page checksums: read (and check) the whole section
            return super().vector_rows(rows)
        n, dim = info.shape
        per = rows_per_page(dim)
        row_bytes = dim * 4
        pages = np.unique(np.asarray(rows, dtype=np.int64) // per)
        loaded = self._pages(info, crcs, pages.tolist(), per, row_bytes, n)
        out = np.empty((len(rows), dim), dtype=np.float32)
        for i, row in enumerate(np.asarray(rows).tolist()):
            page, within = divmod(row, per)
            out[i] = np.frombuffer(loaded[page], dtype="<f4", count=dim, offset=within * row_bytes)
        return out

    def _pages(
        self,
        info: SectionInfo,
        crcs: npt.NDArray[Any],
        pages: list[int],
        per: int,
        row_bytes: int,
        n: int,
    ) -> dict[int, bytes]:
        """Pages by number: cached ones, the rest fetched in runs (in parallel)."""
        url, page_bytes = self._store.url, per * row_bytes

        def span(page: int) -> tuple[int, int]:
            start = info.offset + page * page_bytes
            return start, min(start + page_bytes, info.offset + n * row_bytes)

        out: dict[int, bytes] = {}
        missing: list[int] = []
        for page in pages:
            found = self._cache.lookup((url, self._key, *span(page)))
            if found is None:
                missing.append(page)
            else:
                out[page] = found
        runs: list[list[int]] = []
        for page in missing:
            if runs and runs[-1][-1] == page - 1 and len(runs[-1]) < MAX_RUN_PAGES:
                runs[-1].append(page)
            else:
                runs.append([page])

        def fetch(run: list[int]) -> dict[int, bytes]:
            start, end = span(run[0])[0], span(run[-1])[1]
            data = memoryview(self._store.get_range(self._key, start, end))
            got: dict[int, bytes] = {}
            for page in run:
                lo, hi = span(page)
                chunk = bytes(data[lo - start : hi - start])
                if len(chunk) != hi - lo or zlib.crc32(chunk) != int(crcs[page]):
                    raise _named(
                        self.where, CorruptionError(f"slab vector page {page} failed its checksum")
                    )
                self._cache.put((url, self._key, lo, hi), chunk)
                got[page] = chunk
            return got

        if len(runs) == 1:
            out.update(fetch(runs[0]))
        else:
            for got in _FETCH_POOL.map(fetch, runs):
                out.update(got)
        return out


def open_backing(
    store: ObjectStore, key: str, size: int, cache: ByteCache, data: bytes | None = None
) -> SlabBacking:
    """The backing of the slab at ``key``: memory-mapped on a local-directory store, else
    ranged reads through ``cache``.  ``data`` (the bytes just written, already checked)
    seeds the cache with the footer and the hot sections, so a new slab costs no GET."""
    path = store.local_path(key)
    if path is not None:
        return MappedBacking(path, key, verify=data is None)
    if size <= 0:
        size = store.head(key).size
    if data is not None:
        _seed(store, key, data, cache)
    return RangedBacking(store, key, size, cache)


def _seed(store: ObjectStore, key: str, data: bytes, cache: ByteCache) -> None:
    size = len(data)
    view = memoryview(data)
    tail_start = max(0, size - TAIL_READ_BYTES)
    footer_start, _end = footer_span(view[tail_start:], size)
    cache.put((store.url, key, tail_start, size), bytes(view[tail_start:]))
    if footer_start < tail_start:
        cache.put((store.url, key, footer_start, size), bytes(view[footer_start:]))
    footer = decode_footer(view[min(footer_start, tail_start) :], size)
    infos = [footer.sections[n] for n in HOT_SECTIONS if n in footer.sections]
    if infos:
        lo = min(i.offset for i in infos)
        hi = max(i.offset + i.length for i in infos)
        cache.put((store.url, key, lo, hi), bytes(view[lo:hi]))
