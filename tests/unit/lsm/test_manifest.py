import json
import re

import pytest

from slabdb.core.errors import ConflictError, CorruptionError
from slabdb.lsm.manifest import ManifestRecord, ManifestStore, SlabEntry
from slabdb.storage import open_store

PREFIX = "data/i-abc/n-ns/def/"


def _slab(i: int, level: int = 0) -> SlabEntry:
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


def test_round_trip() -> None:
    m = ManifestRecord(version=3, checkpoint_lsn=7, slabs=(_slab(1), _slab(2, 1)))
    assert ManifestRecord.read(m.to_bytes(PREFIX), PREFIX) == (m, True)


def test_garbage_is_corruption_naming_the_object() -> None:
    with pytest.raises(CorruptionError, match=re.escape(f"{PREFIX}manifest.json")):
        ManifestRecord.from_bytes(b"{not json", PREFIX)


def test_checkpoint_edited_in_valid_json_is_refused() -> None:
    data = ManifestRecord(version=2, checkpoint_lsn=30).to_bytes(PREFIX)
    edited = data.replace(b'"checkpoint_lsn":30', b'"checkpoint_lsn":31')
    assert edited != data and json.loads(edited)
    with pytest.raises(
        CorruptionError, match=re.escape(f"{PREFIX}manifest.json: checksum mismatch")
    ):
        ManifestRecord.from_bytes(edited, PREFIX)


def test_every_single_bit_flip_is_refused() -> None:
    data = ManifestRecord(version=2, checkpoint_lsn=30, slabs=(_slab(1),)).to_bytes(PREFIX)
    for i in range(len(data)):
        for bit in range(8):
            damaged = bytearray(data)
            damaged[i] ^= 1 << bit
            with pytest.raises(CorruptionError):
                ManifestRecord.from_bytes(bytes(damaged), PREFIX)


def test_manifest_of_another_namespace_is_refused() -> None:
    data = ManifestRecord(version=1, checkpoint_lsn=3).to_bytes("data/i-abc/n-other/123/")
    with pytest.raises(
        CorruptionError, match=re.escape("belongs to prefix='data/i-abc/n-other/123/'")
    ):
        ManifestRecord.from_bytes(data, PREFIX)


def test_manifest_written_before_sealing_is_still_read() -> None:
    old = {"format": 1, "version": 4, "checkpoint_lsn": 9, "slabs": [vars(_slab(1))]}
    record, sealed = ManifestRecord.read(json.dumps(old).encode(), PREFIX)
    assert not sealed
    assert record == ManifestRecord(version=4, checkpoint_lsn=9, slabs=(_slab(1),))


def test_legacy_lookalikes_are_refused() -> None:
    extra = {"format": 1, "version": 4, "checkpoint_lsn": 9, "slabs": [], "x": 1}
    for bad in (extra, {"format": 2, "version": 4, "checkpoint_lsn": 9, "slabs": []}):
        with pytest.raises(CorruptionError):
            ManifestRecord.from_bytes(json.dumps(bad).encode(), PREFIX)


def test_next_publish_seals_a_legacy_manifest() -> None:
    store = open_store("memory://")
    ms = ManifestStore(store, PREFIX)
    old = {"format": 1, "version": 1, "checkpoint_lsn": 2, "slabs": []}
    store.put(ms.key, json.dumps(old).encode())
    m, etag = ms.load()
    ms.publish(m.with_flush(_slab(1), 3, False), etag)
    assert ManifestRecord.read(store.get(ms.key).data, PREFIX)[1] is True


def test_flush_and_compaction_transitions() -> None:
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


def test_publish_is_compare_and_swap() -> None:
    store = open_store("memory://")
    ms = ManifestStore(store, PREFIX)
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


def test_a_compaction_records_when_it_ran_and_the_time_survives_a_round_trip() -> None:
    m = ManifestRecord().with_flush(_slab(1), 5, cleared=False).with_flush(_slab(2), 9, False)
    assert m.last_compaction_at is None  # flushes are not compactions
    c = m.with_compaction(("s1", "s2"), _slab(3, 1), at=1_700_000_000.5)
    assert c is not None and c.last_compaction_at == 1_700_000_000.5
    again = ManifestRecord.from_bytes(c.to_bytes(PREFIX), PREFIX)
    assert again == c
    assert again.with_flush(_slab(4), 12, cleared=False).last_compaction_at == 1_700_000_000.5
