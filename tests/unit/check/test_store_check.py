"""``check_store`` (``slabdb check``) reports every problem of a store and changes nothing."""

from __future__ import annotations

import json

import slabdb
from slabdb import EngineConfig
from slabdb.check import Report, check_store
from slabdb.control.prefixed_store import PrefixedStore
from slabdb.engine.maintenance import collect_garbage
from slabdb.slab import SlabReader
from slabdb.storage import open_store
from slabdb.storage.base import ObjectStore
from slabdb.storage.keys import builder_lease_key, import_key, import_pending_key, wal_key

MANUAL = EngineConfig(background=False, flush_records=100_000)


def _database(store: ObjectStore, flush_at: int = 3, entries: int = 6) -> str:
    """Index "c": ``entries`` WAL entries, flushed after ``flush_at``; the namespace prefix."""
    db = slabdb.Client(store, MANUAL)
    db.create_index(name="c", dimension=2, metric="euclidean")
    index = db.Index("c")
    for i in range(entries):
        index.upsert(vectors=[(f"v{i}", [float(i), 1.0])])
        if i + 1 == flush_at:
            index.flush()
    prefix = db.open_namespaces()[0].prefix
    db.close(flush=False)
    return prefix


def _snapshot(store: ObjectStore) -> dict[str, bytes]:
    return {m.key: store.get(m.key).data for m in store.list("")}


def _errors(report: Report) -> dict[str, str]:
    return {f.key: f.problem for f in report.errors}


def _flip(store: ObjectStore, key: str, old: bytes, new: bytes) -> None:
    data = store.get(key).data
    assert data.count(old) >= 1, (key, old)
    store.put(key, data.replace(old, new, 1))


def test_a_clean_store_has_no_findings_and_nothing_changes() -> None:
    store = open_store("memory://")
    _database(store)
    before = _snapshot(store)
    report = check_store(store)
    assert report.ok and report.findings == []
    assert report.checked["slabs"] == 1 and report.checked["wal entries"] == 3
    assert _snapshot(store) == before


def test_an_edited_checkpoint_is_an_error_on_the_manifest() -> None:
    store = open_store("memory://")
    prefix = _database(store)
    _flip(store, f"{prefix}manifest.json", b'"checkpoint_lsn":3', b'"checkpoint_lsn":4')
    assert "checksum mismatch" in _errors(check_store(store))[f"{prefix}manifest.json"]


def test_a_flipped_bit_in_the_index_entry_is_an_error() -> None:
    store = open_store("memory://")
    _database(store)
    _flip(store, "catalog/indexes/c.json", b'"name":"c","dimension"', b'"name":"b","dimension"')
    report = check_store(store)
    assert "checksum mismatch" in _errors(report)["catalog/indexes/c.json"]
    assert report.warnings  # its markers and data now belong to no readable index


def test_a_flipped_bit_in_the_namespace_marker_is_an_error() -> None:
    store = open_store("memory://")
    _database(store)
    (marker,) = [m.key for m in store.list("catalog/namespaces/")]
    data = bytearray(store.get(marker).data)
    at = data.index(b'"incarnation":"') + len(b'"incarnation":"')
    data[at] ^= 0x01
    store.put(marker, bytes(data))
    assert "checksum mismatch" in _errors(check_store(store))[marker]


def test_a_missing_manifest_after_gc_is_an_error() -> None:
    store = open_store("memory://")
    db = slabdb.Client(store, MANUAL)
    db.create_index(name="c", dimension=2, metric="euclidean")
    db.Index("c").upsert(vectors=[("a", [1.0, 1.0])])
    db.Index("c").flush()
    ns = db.open_namespaces()[0]
    collect_garbage(ns, grace_seconds=0.0)
    db.Index("c").upsert(vectors=[("b", [1.0, 1.0])])  # LSN 2
    store.delete(f"{ns.prefix}manifest.json")
    problem = _errors(check_store(store))[f"{ns.prefix}manifest.json"]
    assert problem.startswith(f"missing, but the log starts at {wal_key(ns.prefix, 2)}")


def test_a_wal_gap_above_the_checkpoint_is_an_error_naming_the_missing_entry() -> None:
    store = open_store("memory://")
    prefix = _database(store, flush_at=3, entries=8)
    store.delete(wal_key(prefix, 5))
    store.delete(wal_key(prefix, 6))
    errors = _errors(check_store(store))
    (key,) = errors
    assert key == f"{wal_key(prefix, 5)} .. 00000000000000000006"
    assert "but LSN 7 exists" in errors[key]


def test_entries_missing_at_or_below_the_checkpoint_are_fine() -> None:
    store = open_store("memory://")
    prefix = _database(store, flush_at=3, entries=6)
    store.delete(wal_key(prefix, 2))  # checkpointed: garbage collection may remove it
    assert check_store(store).ok


def test_missing_and_damaged_slabs_and_wal_entries_are_errors() -> None:
    store = open_store("memory://")
    prefix = _database(store, flush_at=3, entries=6)
    (slab,) = [m.key for m in store.list(f"{prefix}slabs/")]
    data = bytearray(store.get(slab).data)
    vectors = SlabReader.from_bytes(bytes(data))._footer.sections["vectors"]
    data[vectors.offset] ^= 0x04
    store.put(slab, bytes(data))
    entry = bytearray(store.get(wal_key(prefix, 5)).data)
    entry[-1] ^= 0x01
    store.put(wal_key(prefix, 5), bytes(entry))
    errors = _errors(check_store(store))
    assert "failed its checksum" in errors[slab]
    assert "checksum mismatch" in errors[wal_key(prefix, 5)]
    store.delete(slab)
    assert _errors(check_store(store))[slab] == "listed by the manifest but missing"


def test_orphaned_objects_are_warnings_not_errors() -> None:
    store = open_store("memory://")
    prefix = _database(store)
    index_prefix = prefix.split("/")[1]
    store.put(f"data/{index_prefix}/n-gone/0123456789ab/wal/00000000000000000001", b"x")
    store.put(f"{prefix}slabs/L0-leftover.slab", b"x")
    store.put("stray.txt", b"x")
    report = check_store(store)
    assert report.ok
    warned = {f.key for f in report.warnings}
    assert f"data/{index_prefix}/n-gone/0123456789ab/" in warned
    assert f"{prefix}slabs/L0-leftover.slab" in warned
    assert "stray.txt" in warned


def test_objects_written_before_sealing_are_read_and_warned_about() -> None:
    store = open_store("memory://")
    prefix = _database(store)
    old_manifest = json.loads(store.get(f"{prefix}manifest.json").data)["body"]
    store.put(f"{prefix}manifest.json", json.dumps(old_manifest).encode())
    (marker,) = [m.key for m in store.list("catalog/namespaces/")]
    incarnation = json.loads(store.get(marker).data)["body"]["incarnation"]
    store.put(marker, incarnation.encode())
    old_index = json.loads(store.get("catalog/indexes/c.json").data)["body"]
    store.put("catalog/indexes/c.json", json.dumps(old_index).encode())
    report = check_store(store)
    assert report.ok
    warned = {f.key for f in report.warnings}
    assert warned == {f"{prefix}manifest.json", marker, "catalog/indexes/c.json"}
    assert slabdb.Client(store, MANUAL).Index("c").describe_index_stats().total_vector_count == 6


def test_every_project_of_a_server_store_is_checked() -> None:
    store = open_store("memory://")
    _database(store)
    prefix = _database(PrefixedStore(store, "projects/p1/"))
    store.delete(f"projects/p1/{wal_key(prefix, 5)}")
    report = check_store(store)
    assert report.checked["databases"] == 2
    assert [f.key for f in report.errors] == [f"projects/p1/{wal_key(prefix, 5)}"]


def test_objects_written_before_sealing_are_sealed_by_the_next_writes() -> None:
    store = open_store("memory://")
    prefix = _database(store)
    (marker,) = [m.key for m in store.list("catalog/namespaces/")]
    for key in (f"{prefix}manifest.json", "catalog/indexes/c.json"):
        store.put(key, json.dumps(json.loads(store.get(key).data)["body"]).encode())
    store.put(marker, json.loads(store.get(marker).data)["body"]["incarnation"].encode())
    db = slabdb.Client(store, MANUAL)
    db.Index("c").upsert(vectors=[("w", [1.0, 1.0])])  # opening to write seals the marker
    db.Index("c").flush()  # the flush publishes a sealed manifest
    assert {f.key for f in check_store(store).warnings} == {"catalog/indexes/c.json"}
    db.configure_index("c", tags={"k": "v"})  # rewriting the entry seals it
    assert check_store(store).findings == []
    assert db.Index("c").describe_index_stats().total_vector_count == 7


def test_leases_and_bulk_import_state_are_part_of_the_layout() -> None:
    store = open_store("memory://")
    prefix = _database(store)
    index_prefix = prefix.split("/")[1]
    name, incarnation = index_prefix.rsplit("-", 1)
    store.put(builder_lease_key(prefix), b"{}")
    store.put(import_pending_key(prefix, "imp1"), b"{}")
    store.put(import_key(name, incarnation, "imp1", "progress"), b"{}")
    assert check_store(store).findings == []
