import pytest

from slabdb.core.errors import ConflictError, CorruptionError
from slabdb.lsm.manifest import ManifestRecord, ManifestStore, SlabEntry
from slabdb.storage import open_store


def _slab(i, level=0):
    return SlabEntry(
        id=f"s{i}",
        key=f"k{i}",
        level=level,
        count=1,
        live_count=1,
        min_lsn=i,
        max_lsn=i,
        size_bytes=1,
    )


def test_round_trip():
    m = ManifestRecord(version=3, checkpoint_lsn=7, slabs=(_slab(1), _slab(2, 1)))
    assert ManifestRecord.from_bytes(m.to_bytes()) == m


def test_garbage_is_corruption():
    with pytest.raises(CorruptionError):
        ManifestRecord.from_bytes(b"{not json")


def test_flush_and_compaction_transitions():
    m = (
        ManifestRecord()
        .with_flush(_slab(1), 5, cleared=False)
        .with_flush(_slab(2), 9, cleared=False)
    )
    assert [s.id for s in m.slabs] == ["s1", "s2"] and m.checkpoint_lsn == 9 and m.version == 2
    c = m.with_compaction(("s1", "s2"), _slab(3, 1))
    assert c is not None and [s.id for s in c.slabs] == ["s3"]
    assert m.with_compaction(("s2", "s1"), _slab(3, 1)) is None  # not a contiguous run
    cleared = m.with_flush(_slab(4), 12, cleared=True)
    assert [s.id for s in cleared.slabs] == ["s4"]


def test_publish_is_compare_and_swap():
    store = open_store("memory://")
    ms = ManifestStore(store, "ns/")
    m0, etag0 = ms.load()
    assert etag0 is None and m0.version == 0
    etag1 = ms.publish(m0.with_flush(_slab(1), 1, False), None)
    with pytest.raises(ConflictError):  # a second creator loses
        ms.publish(m0.with_flush(_slab(2), 1, False), None)
    m1, got = ms.load()
    assert got == etag1 and [s.id for s in m1.slabs] == ["s1"]
    ms.publish(m1.with_flush(_slab(2), 2, False), etag1)
    with pytest.raises(ConflictError):  # stale etag loses; nothing is overwritten
        ms.publish(m1.with_flush(_slab(3), 3, False), etag1)
    assert [s.id for s in ms.load()[0].slabs] == ["s1", "s2"]
