"""A byte-range cache for immutable objects (slabs) of a remote store: memory, then disk.

Slab keys are never rewritten (each slab has a fresh id), so a cached range never goes
stale: entries are keyed by ``(store url, key, start, end)`` and simply age out.

* The **memory tier** keeps recently used ranges as ``bytes`` up to
  ``CacheConfig.memory_bytes`` (LRU).  A range larger than the whole budget is not kept.
* The **disk tier** keeps ranges as files in a fresh directory of this process (under
  ``CacheConfig.disk_dir`` or the temp dir; removed at exit) up to ``disk_bytes``
  (LRU, by last use).  A disk hit is promoted to memory.
* A miss calls ``fetch()`` (one ranged GET) outside the lock; two threads missing the
  same range at once may both fetch it (rare, harmless: the bytes are the same).

The cache checks nothing: callers verify checksums (``slabdb.slab.backing``) before
they :meth:`ByteCache.put` what they fetched, so only verified bytes are cached.
Files written are 0600 in a 0700 directory.  :func:`shared_cache` gives one cache per
configuration per process, so every namespace of a client shares the budgets.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from slabdb.core.config import CacheConfig

RangeKey = tuple[str, str, int, int]
"""(store url, object key, start, end)."""


@dataclass
class CacheCounters:
    """How reads were served since the cache was made."""

    memory_hits: int = 0
    disk_hits: int = 0
    misses: int = 0
    fetched_bytes: int = 0


class ByteCache:
    """LRU cache of object byte ranges in memory and on local disk, with byte budgets."""

    def __init__(self, config: CacheConfig) -> None:
        self.config = config
        self.counters = CacheCounters()
        self._lock = threading.Lock()
        self._memory: OrderedDict[RangeKey, bytes] = OrderedDict()
        self._memory_used = 0
        self._disk: OrderedDict[RangeKey, int] = OrderedDict()
        self._disk_used = 0
        self._dir: Path | None = None
        if config.disk_bytes > 0:
            self._dir = _make_dir(config.disk_dir)

    @property
    def memory_used(self) -> int:
        return self._memory_used

    @property
    def disk_used(self) -> int:
        return self._disk_used

    def get(self, key: RangeKey, fetch: Callable[[], bytes]) -> bytes:
        """The bytes of ``key``: from memory, else disk, else ``fetch()`` (then cached)."""
        found = self.lookup(key)
        if found is not None:
            return found
        data = fetch()
        with self._lock:
            self.counters.misses += 1
            self.counters.fetched_bytes += len(data)
        self.put(key, data)
        return data

    def lookup(self, key: RangeKey) -> bytes | None:
        """Cached bytes of ``key`` or None (counts a hit; a miss is counted by ``get``)."""
        with self._lock:
            data = self._memory.get(key)
            if data is not None:
                self._memory.move_to_end(key)
                self.counters.memory_hits += 1
                return data
            on_disk = key in self._disk
            if on_disk:
                self._disk.move_to_end(key)
        if not on_disk:
            return None
        data = self._read_file(key)
        if data is None:
            return None
        with self._lock:
            self.counters.disk_hits += 1
        self._remember(key, data)
        return data

    def put(self, key: RangeKey, data: bytes) -> None:
        """Cache verified bytes in both tiers (each only if it fits its budget)."""
        self._remember(key, data)
        self._write_file(key, data)

    def clear(self) -> None:
        """Drop every entry (and the files of the disk tier)."""
        with self._lock:
            self._memory.clear()
            self._memory_used = 0
            keys = list(self._disk)
            self._disk.clear()
            self._disk_used = 0
        for key in keys:
            self._unlink(key)

    def close(self) -> None:
        """Clear, and remove the disk directory if this cache made it."""
        self.clear()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    # --- tiers --------------------------------------------------------------------------
    def _remember(self, key: RangeKey, data: bytes) -> None:
        budget = self.config.memory_bytes
        if len(data) > budget:
            return
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return
            self._memory[key] = data
            self._memory_used += len(data)
            while self._memory_used > budget:
                _old, dropped = self._memory.popitem(last=False)
                self._memory_used -= len(dropped)

    def _path(self, key: RangeKey) -> Path:
        assert self._dir is not None
        digest = hashlib.sha256(repr(key).encode()).hexdigest()
        return self._dir / digest[:2] / digest

    def _write_file(self, key: RangeKey, data: bytes) -> None:
        budget = self.config.disk_bytes
        if self._dir is None or len(data) > budget:
            return
        with self._lock:
            if key in self._disk:
                return
        path = self._path(key)
        try:
            path.parent.mkdir(mode=0o700, exist_ok=True)
            tmp = path.with_suffix(f".tmp{threading.get_ident()}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except OSError:
            return  # a full or broken disk only costs cache hits
        evicted: list[RangeKey] = []
        with self._lock:
            self._disk[key] = len(data)
            self._disk_used += len(data)
            while self._disk_used > budget:
                old, size = self._disk.popitem(last=False)
                self._disk_used -= size
                evicted.append(old)
        for old in evicted:
            self._unlink(old)

    def _read_file(self, key: RangeKey) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except OSError:
            with self._lock:
                size = self._disk.pop(key, None)
                if size is not None:
                    self._disk_used -= size
            return None

    def _unlink(self, key: RangeKey) -> None:
        with contextlib.suppress(OSError):
            self._path(key).unlink()


def _make_dir(configured: str | None) -> Path:
    """A fresh private directory (under ``configured`` if given): a process never
    trusts files another process left, since it did not verify them."""
    parent = None
    if configured is not None:
        parent = Path(configured).expanduser()
        parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="slabdb-cache-", dir=parent))


_SHARED: dict[CacheConfig, ByteCache] = {}
_SHARED_LOCK = threading.Lock()


def shared_cache(config: CacheConfig) -> ByteCache:
    """The process's cache for ``config`` (made on first use; budgets are shared)."""
    with _SHARED_LOCK:
        cache = _SHARED.get(config)
        if cache is None:
            cache = _SHARED[config] = ByteCache(config)
            atexit.register(cache.close)
        return cache
