"""The byte-range cache: LRU within its memory and disk budgets, disk hits promoted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from slabdb.core.config import CacheConfig
from slabdb.storage.cache import ByteCache
from slabdb.storage.factory import open_store


def key(i: int) -> tuple[str, str, int, int]:
    return ("memory://", f"k{i}", 0, 100)


def fetcher(calls: list[int], i: int) -> Callable[[], bytes]:
    def fetch() -> bytes:
        calls.append(i)
        return bytes([i]) * 100

    return fetch


def test_a_second_read_is_a_memory_hit_and_fetches_nothing(tmp_path: Path) -> None:
    cache = ByteCache(CacheConfig(memory_bytes=1000, disk_bytes=0))
    calls: list[int] = []
    assert cache.get(key(1), fetcher(calls, 1)) == b"\x01" * 100
    assert cache.get(key(1), fetcher(calls, 1)) == b"\x01" * 100
    assert calls == [1]
    assert cache.counters.memory_hits == 1 and cache.counters.misses == 1


def test_memory_keeps_the_most_recently_used_within_its_budget() -> None:
    cache = ByteCache(CacheConfig(memory_bytes=250, disk_bytes=0))
    calls: list[int] = []
    for i in (1, 2):
        cache.get(key(i), fetcher(calls, i))
    cache.get(key(1), fetcher(calls, 1))  # 1 is now newest
    cache.get(key(3), fetcher(calls, 3))  # evicts 2
    assert cache.memory_used == 200
    cache.get(key(1), fetcher(calls, 1))
    cache.get(key(2), fetcher(calls, 2))
    assert calls == [1, 2, 3, 2]


def test_the_disk_tier_serves_what_memory_dropped_and_respects_its_budget(tmp_path: Path) -> None:
    cache = ByteCache(CacheConfig(memory_bytes=100, disk_bytes=250, disk_dir=str(tmp_path)))
    calls: list[int] = []
    for i in (1, 2, 3):
        cache.get(key(i), fetcher(calls, i))
    assert cache.disk_used == 200  # 1 was evicted from disk
    assert cache.get(key(2), fetcher(calls, 2)) == b"\x02" * 100
    assert cache.counters.disk_hits == 1
    cache.get(key(1), fetcher(calls, 1))
    assert calls == [1, 2, 3, 1]
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 2 and all(p.stat().st_mode & 0o077 == 0 for p in files)
    cache.close()
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_a_range_larger_than_a_budget_is_not_kept_there() -> None:
    cache = ByteCache(CacheConfig(memory_bytes=50, disk_bytes=0))
    calls: list[int] = []
    cache.get(key(1), fetcher(calls, 1))
    cache.get(key(1), fetcher(calls, 1))
    assert calls == [1, 1] and cache.memory_used == 0


def test_local_path_is_the_file_on_a_local_store_and_none_elsewhere(tmp_path: Path) -> None:
    local = open_store(str(tmp_path / "s"))
    local.put("a/b.slab", b"x")
    path = local.local_path("a/b.slab")
    assert path is not None and path.read_bytes() == b"x"
    assert local.local_path("a/missing") is None
    memory = open_store("memory://")
    memory.put("a/b.slab", b"x")
    assert memory.local_path("a/b.slab") is None
