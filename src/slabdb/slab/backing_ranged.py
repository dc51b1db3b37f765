"""A slab of a remote store, read by ranged GETs through the slab cache.

Opening costs one ranged GET of the last :data:`~slabdb.slab.format.TAIL_READ_BYTES`
(footer + trailer; a second GET only for a larger footer).  The first use of any *hot*
section (:data:`~slabdb.slab.backing.HOT_SECTIONS`, what a query needs: ids, LSNs,
tombstones, norms, the ANN index, the metadata index) fetches all of them in one GET
(the builder writes them contiguously).  Other sections are one GET each.  Dense
vectors are read in pages of whole rows (:func:`~slabdb.slab.backing.rows_per_page`),
each checked against its own CRC (the ``vector_page_crc`` section) and cached by page:
a re-rank of r rows costs at most one GET per run of adjacent missing pages, fetched in
parallel.  Every fetched range is checked before it is cached
(:class:`~slabdb.storage.cache.ByteCache`), so a warm slab costs no request.
"""

from __future__ import annotations

import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt

from slabdb.core.errors import CorruptionError, ObjectNotFoundError
from slabdb.slab.backing import (
    HOT_SECTIONS,
    I64,
    VECTOR_PAGE_CRC_SECTION,
    VECTORS_SECTION,
    SlabBacking,
    named_corruption,
    rows_per_page,
)
from slabdb.slab.format import (
    TAIL_READ_BYTES,
    SectionInfo,
    decode_footer,
    footer_span,
    verify_section,
)
from slabdb.storage.base import ObjectStore
from slabdb.storage.cache import ByteCache

MAX_RUN_PAGES = 256
"""A ranged read of vector pages fetches at most this many adjacent pages per GET."""
_FETCH_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="slabdb-fetch")


class RangedBacking(SlabBacking):
    """A slab of a remote store, read by ranged GETs through a :class:`ByteCache`."""

    def _get_range(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of the slab; a slab gone from the store is damage (its
        manifest still lists it, and readers are kept only for listed slabs)."""
        try:
            return self._store.get_range(self._key, start, end)
        except ObjectNotFoundError:
            raise CorruptionError(
                f"slab {self._key} is missing, but its namespace's manifest.json lists it"
            ) from None

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
            raise named_corruption(self.where, exc) from exc
        self._hot = self._hot_span()

    @classmethod
    def open(
        cls,
        store: ObjectStore,
        key: str,
        size: int,
        cache: ByteCache,
        data: bytes | memoryview | None = None,
    ) -> RangedBacking:
        """The slab at ``key`` (``size`` <= 0: asked of the store).  ``data`` (the bytes
        just written, already checked) seeds the cache with the footer and the hot
        sections, so a new slab costs no GET."""
        if size <= 0:
            size = store.head(key).size
        if data is not None:
            _seed(store, key, data, cache)
        return cls(store, key, size, cache)

    @property
    def resident(self) -> bool:
        return False

    def _read(self, start: int, end: int, check: SectionInfo | None = None) -> bytes:
        def fetch() -> bytes:
            data = self._get_range(start, end)
            if len(data) != end - start:
                raise named_corruption(
                    self.where, CorruptionError("slab is shorter than its footer says")
                )
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
        data = self._get_range(start, end)
        try:
            if len(data) != end - start:
                raise CorruptionError("slab is shorter than its footer says")
            for name in HOT_SECTIONS:
                info = self.info(name)
                if info is not None:
                    verify_section(info, memoryview(data)[info.offset - start :][: info.length])
        except CorruptionError as exc:
            raise named_corruption(self.where, exc) from exc
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
            raise named_corruption(self.where, exc) from exc

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
            data = memoryview(self._get_range(start, end))
            got: dict[int, bytes] = {}
            for page in run:
                lo, hi = span(page)
                chunk = bytes(data[lo - start : hi - start])
                if len(chunk) != hi - lo or zlib.crc32(chunk) != int(crcs[page]):
                    raise named_corruption(
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


def _seed(store: ObjectStore, key: str, data: bytes | memoryview, cache: ByteCache) -> None:
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
