"""Slabs not held whole: memory-mapped files and ranged reads through the cache give
the same answers as the bytes, cost a bounded number of GETs cold and none warm, and
damage is a CorruptionError naming the object."""

from __future__ import annotations

import numpy as np
import pytest

from slabdb.core.config import AnnConfig, CacheConfig
from slabdb.core.errors import CorruptionError
from slabdb.slab import SlabBuilder, SlabReader
from slabdb.slab.backing import HOT_SECTIONS, rows_per_page
from slabdb.slab.backing_mapped import MappedBacking
from slabdb.slab.format import decode_slab
from slabdb.storage.cache import ByteCache
from slabdb.storage.factory import open_store
from slabdb.testing import HookStore

N, DIM, K = 3000, 64, 10
KEY = "data/i/ns/1/slabs/L1-x.slab"
VECTORS = np.random.default_rng(3).standard_normal((N, DIM)).astype(np.float32)
QUERY = np.random.default_rng(4).standard_normal(DIM).astype(np.float32)


def build(ann: AnnConfig | None) -> bytes:
    data, _ = SlabBuilder.build(
        ids=[f"r{i}" for i in range(N)],
        lsns=np.arange(1, N + 1, dtype=np.uint64),
        deleted=np.arange(N) % 97 == 0,
        vectors=VECTORS,
        sparse=None,
        metadata=[{"even": i % 2 == 0} for i in range(N)],
        metric="cosine",
        vector_type="dense",
        level=1,
        ann=ann,
    )
    return data


ANN = AnnConfig(min_rows=1000)
SLAB_ANN = build(ANN)
SLAB_EXACT = build(None)


def remote(data: bytes) -> tuple[HookStore, ByteCache]:
    store = HookStore(open_store("memory://"))
    store.put(KEY, data)
    store.calls.clear()
    return store, ByteCache(CacheConfig(memory_bytes=64 * 2**20, disk_bytes=0))


def search(reader: SlabReader) -> tuple[list[int], list[float]]:
    rows, scores = reader.search(vector=QUERY, sparse=None, metric="cosine", k=K)
    return rows.tolist(), scores.tolist()


@pytest.mark.parametrize("data", [SLAB_ANN, SLAB_EXACT], ids=["ann", "exact"])
def test_ranged_and_mapped_readers_answer_like_the_bytes(data: bytes, tmp_path: object) -> None:
    whole = SlabReader.from_bytes(data)
    store, cache = remote(data)
    ranged = SlabReader.from_store(store, KEY, len(data), cache)
    local = open_store(str(tmp_path))
    local.put(KEY, data)
    mapped = SlabReader.from_store(local, KEY, len(data), cache)
    assert isinstance(mapped._backing, MappedBacking)
    assert search(ranged) == search(whole) == search(mapped)
    for row in (0, 1, 1500, N - 1):
        a, b, c = whole.version(row), ranged.version(row), mapped.version(row)
        assert (a.id, a.lsn, a.deleted, a.metadata) == (b.id, b.lsn, b.deleted, b.metadata)
        assert (a.id, a.lsn, a.deleted, a.metadata) == (c.id, c.lsn, c.deleted, c.metadata)
        if not a.deleted:
            np.testing.assert_array_equal(b.vector, a.vector)
            np.testing.assert_array_equal(c.vector, a.vector)


def test_a_cold_ann_query_costs_footer_hot_span_and_rerank_pages_and_a_warm_one_nothing() -> None:
    store, cache = remote(SLAB_ANN)
    reader = SlabReader.from_store(store, KEY, len(SLAB_ANN), cache)
    assert store.calls == {"get_range": 1}  # the footer
    rows, _ = reader.search(vector=QUERY, sparse=None, metric="cosine", k=K)
    pages = len(set((np.asarray(rows) // rows_per_page(DIM)).tolist()))
    cold = store.calls["get_range"] - 1
    assert 1 < cold <= 1 + max(pages, 10)  # the hot span, then one GET per run of pages
    before = dict(store.calls)
    search(reader)
    again = SlabReader.from_store(store, KEY, len(SLAB_ANN), cache)  # reopened, still warm
    search(again)
    assert store.calls == before


def test_the_hot_sections_are_fetched_in_one_get() -> None:
    store, cache = remote(SLAB_ANN)
    reader = SlabReader.from_store(store, KEY, len(SLAB_ANN), cache)
    for name in HOT_SECTIONS:
        reader.section_bytes(name)
    assert store.calls == {"get_range": 2}


def test_a_new_slab_seeds_the_cache_so_opening_it_costs_no_get() -> None:
    store, cache = remote(SLAB_ANN)
    assert len(SlabReader.from_store(store, KEY, len(SLAB_ANN), cache, data=SLAB_ANN).ids) == N
    assert store.calls == {}


def _flip(data: bytes, section: str, at: int = 0) -> bytes:
    footer, _ = decode_slab(data)
    out = bytearray(data)
    out[footer.sections[section].offset + at] ^= 0x01
    return bytes(out)


@pytest.mark.parametrize("section", ["vectors", "ids", "ann_index", "metadata"])
def test_ranged_damage_is_corruption_naming_the_object_when_read(section: str) -> None:
    store, cache = remote(_flip(SLAB_ANN, section, at=DIM * 4 * 5))
    reader = SlabReader.from_store(store, KEY, len(SLAB_ANN), cache)

    def read() -> None:
        search(reader)
        reader.version(5)
        reader.metadata(5)

    with pytest.raises(CorruptionError, match=KEY):
        read()
    with pytest.raises(CorruptionError, match=KEY):  # the damaged range was not cached
        read()


def test_mapped_damage_is_corruption_naming_the_object_at_open(tmp_path: object) -> None:
    local = open_store(str(tmp_path))
    local.put(KEY, _flip(SLAB_EXACT, "vectors", at=7))
    with pytest.raises(CorruptionError, match=KEY):
        SlabReader.from_store(local, KEY, 0, ByteCache(CacheConfig(disk_bytes=0)))


def test_rows_of_a_large_mapped_section_are_read_without_the_mapping(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from slabdb.slab import backing_mapped

    local = open_store(str(tmp_path))
    local.put(KEY, SLAB_EXACT)
    reader = SlabReader.from_store(local, KEY, 0, ByteCache(CacheConfig(disk_bytes=0)))
    rows = np.asarray([3, 1000, 2999], dtype=np.int64)
    monkeypatch.setattr(backing_mapped, "MAPPED_VECTOR_BYTES", 0)  # every section is "large"
    reads: list[int] = []
    real_pread = backing_mapped.os.pread
    monkeypatch.setattr(
        backing_mapped.os, "pread", lambda fd, n, at: reads.append(at) or real_pread(fd, n, at)
    )
    np.testing.assert_array_equal(
        reader.vector_rows(rows), VECTORS[rows] * (rows % 97 != 0)[:, None]
    )
    assert len(reads) == len(rows)


def test_whole_slab_scans_count_the_section_size_not_64_kib_a_row(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full scan maps the vectors section once: repeated scans of a small slab must not
    unmap it each time (3,000 rows x 64 KiB would be over the 256 MiB budget)."""
    local = open_store(str(tmp_path))
    local.put(KEY, SLAB_EXACT)
    reader = SlabReader.from_store(local, KEY, 0, ByteCache(CacheConfig(disk_bytes=0)))
    released: list[str] = []
    monkeypatch.setattr(MappedBacking, "release", lambda self, name: released.append(name))
    for _ in range(20):
        reader.search(vector=QUERY, sparse=None, metric="cosine", k=K)
    assert released == []


def test_a_section_within_the_budget_stays_mapped_and_a_larger_scanned_one_is_unmapped(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Re-ranking random rows of a small slab never unmaps it (unmapping only made the
    next queries fault the pages back); full scans of a section over the budget do."""
    from slabdb.slab import backing_mapped

    local = open_store(str(tmp_path))
    local.put(KEY, SLAB_EXACT)
    reader = SlabReader.from_store(local, KEY, 0, ByteCache(CacheConfig(disk_bytes=0)))
    released: list[str] = []
    monkeypatch.setattr(MappedBacking, "release", lambda self, name: released.append(name))
    rows = np.arange(reader.n, dtype=np.int64)
    for _ in range(10_000 // reader.n + 5):  # far over 256 MiB at 64 KiB a row
        reader.vector_rows(rows)
    assert released == []
    monkeypatch.setattr(backing_mapped, "MAPPED_VECTOR_BYTES", 1)  # now "large"
    reader.scanned_vectors()
    assert released == ["vectors"]
