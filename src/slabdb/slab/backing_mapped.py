"""A slab file of a local-directory store, memory-mapped read-only.

Opening checks every section's CRC in chunks and drops each chunk from the process's
resident set after checking it (``MADV_DONTNEED``), so the pages come back only when a
query touches them, and the kernel may reclaim them any time.  A vectors section larger
than :data:`MAPPED_VECTOR_BYTES` has its rows read with ``pread`` (a fault would map a
whole large folio) and its pages unmapped again after about that much of scanning
(:meth:`MappedBacking.touched`), so re-ranking random rows keeps a bounded RSS; a
smaller section stays mapped (it cannot map more than its size).
"""

from __future__ import annotations

import mmap
import os
import threading
import zlib
from pathlib import Path

import numpy as np
import numpy.typing as npt

from slabdb.core.errors import CorruptionError
from slabdb.slab.backing import I64, VECTORS_SECTION, SlabBacking, named_corruption
from slabdb.slab.format import TAIL_READ_BYTES, SectionInfo, decode_footer, footer_span

MAPPED_VECTOR_BYTES = 256 * 2**20
"""A memory-mapped slab's vector pages are unmapped (not evicted from the page cache)
once reads may have mapped about this much of them; rows of a larger ``vectors``
section are read with ``pread`` instead of through the mapping."""
FAULT_AROUND_BYTES = 64 * 1024
"""What one page fault may map around the faulting page (Linux ``fault_around_bytes``)."""
_CHECK_CHUNK = 64 * 2**20


class MappedBacking(SlabBacking):
    """A slab file mapped read-only; every section is checked at open, chunk by chunk."""

    def __init__(self, path: Path, where: str | None = None, *, verify: bool = True) -> None:
        self.where = where
        self._file = open(path, "rb")  # noqa: SIM115 - kept open for pread (closed on GC)
        size = self._file.seek(0, 2)
        if size == 0:
            raise named_corruption(where, CorruptionError("slab is 0 bytes, too short"))
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
            raise named_corruption(where, exc) from exc
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
        scanning a large slab keeps a bounded resident set.  One read maps at most the
        whole section (a full scan counts its size, not 64 KiB a row).  A section within
        the budget is never unmapped: its mapping cannot outgrow the budget, and
        unmapping it only made the next queries fault its pages back (~25 µs a query
        re-ranking a 100k slab)."""
        info = self.info(VECTORS_SECTION)
        if info is not None and info.length <= MAPPED_VECTOR_BYTES:
            return
        mapped = rows * FAULT_AROUND_BYTES
        with self._touch_lock:
            self._touched_bytes += mapped if info is None else min(mapped, info.length)
            if self._touched_bytes < MAPPED_VECTOR_BYTES:
                return
            self._touched_bytes = 0
        self.release(VECTORS_SECTION)
