"""A hole in the log above the checkpoint is damage, never the end of the log.

A second "process" is a second :class:`slabdb.Client` on the same store; races are
forced by a :class:`HookStore` hook that runs the other party's step at the moment the
race needs it.
"""

from __future__ import annotations

import pytest

import slabdb
from slabdb import EngineConfig
from slabdb.core.errors import CorruptionError, ObjectNotFoundError
from slabdb.core.values import IndexSpec
from slabdb.engine import namespace as namespace_module
from slabdb.engine.maintenance import collect_garbage
from slabdb.engine.namespace import Namespace
from slabdb.storage import open_store
from slabdb.storage.base import ObjectStore
from slabdb.storage.keys import wal_key
from slabdb.testing.stores import HookStore
from slabdb.wal import find_gap, first_lsn_after

MANUAL = EngineConfig(background=False, flush_records=100_000)


def _writer(store: ObjectStore, entries: int) -> tuple[slabdb.Client, str]:
    """A client that wrote ``entries`` WAL entries (one record each); its namespace prefix."""
    db = slabdb.Client(store, MANUAL)
    if "t" not in [m.name for m in db.list_indexes()]:
        db.create_index(name="t", dimension=2, metric="euclidean")
    index = db.Index("t")
    for i in range(entries):
        index.upsert(vectors=[(f"v{i}", [float(i), 1.0])])
    return db, db.open_namespaces()[0].prefix


def _fetch_all(db: slabdb.Client, n: int) -> set[str]:
    return set(db.Index("t").fetch(ids=[f"v{i}" for i in range(n)]).vectors)


def _wal_lists(store: HookStore) -> int:
    return sum(1 for p in store.list_prefixes if p.endswith("wal/"))


def test_first_lsn_after_lists_only_higher_entries() -> None:
    store = open_store("memory://")
    _db, prefix = _writer(store, 4)
    store.delete(wal_key(prefix, 2))
    assert first_lsn_after(store, prefix, 1) == 3
    assert first_lsn_after(store, prefix, 2) == 3
    assert first_lsn_after(store, prefix, 4) is None


def test_open_refuses_a_log_with_a_hole_naming_the_missing_entry() -> None:
    store = open_store("memory://")
    _db, prefix = _writer(store, 10)
    store.delete(wal_key(prefix, 5))
    reader = slabdb.Client(store, MANUAL)
    with pytest.raises(CorruptionError) as caught:
        reader.Index("t").fetch(ids=["v9"])
    assert wal_key(prefix, 5) in caught.value.message
    assert wal_key(prefix, 6) in caught.value.message  # and the entry that proves the gap


def test_entries_checkpointed_and_collected_are_no_gap() -> None:
    store = open_store("memory://")
    db, prefix = _writer(store, 6)
    db.Index("t").flush()  # checkpoint 6
    collect_garbage(db.open_namespaces()[0], grace_seconds=0.0)  # removes 1..6
    db.Index("t").upsert(vectors=[("v6", [6.0, 1.0])])  # LSN 7
    assert first_lsn_after(store, prefix, 0) == 7
    assert _fetch_all(slabdb.Client(store, MANUAL), 7) == {f"v{i}" for i in range(7)}


def test_open_lists_the_log_once_and_a_refresh_with_nothing_new_not_at_all() -> None:
    inner = open_store("memory://")
    _writer(inner, 3)
    store = HookStore(inner)
    reader = slabdb.Client(store, MANUAL)
    assert _fetch_all(reader, 3) == {"v0", "v1", "v2"}
    assert _wal_lists(store) == 1  # the open's check of the log's end
    ns = reader.open_namespaces()[0]
    got: list[str] = []
    store.hooks["get"] = got.append
    ns.refresh()
    assert _wal_lists(store) == 1
    assert [k for k in got if "/wal/" in k] == [wal_key(ns.prefix, 4)]  # one GET, a miss


def test_entries_appended_between_the_miss_and_the_list_are_no_gap() -> None:
    """A writer appends n and n + 1 after the opener's GET of n missed: catch up, no error."""
    inner = open_store("memory://")
    writer, _prefix = _writer(inner, 3)
    store = HookStore(inner)
    fired: list[str] = []

    def append_two_more(prefix: str) -> None:
        if prefix.endswith("wal/") and not fired:
            fired.append(prefix)
            for i in (3, 4):
                writer.Index("t").upsert(vectors=[(f"v{i}", [float(i), 1.0])])

    store.hooks["list"] = append_two_more
    reader = slabdb.Client(store, MANUAL)
    assert _fetch_all(reader, 5) == {f"v{i}" for i in range(5)}
    assert fired and reader.open_namespaces()[0].applied_lsn == 5


def test_a_first_entry_landing_while_a_new_namespace_opens_is_no_damage() -> None:
    """No manifest and no LSN 1 at the GETs; the first entry lands before the LIST."""
    inner = open_store("memory://")
    writer = slabdb.Client(inner, MANUAL)
    writer.create_index(name="t", dimension=2, metric="euclidean")
    writer.Index("t").create_namespace("n")  # a marker, nothing else yet
    store = HookStore(inner)
    fired: list[str] = []

    def first_write(prefix: str) -> None:
        if prefix.startswith("data/") and not prefix.endswith("wal/") and not fired:
            fired.append(prefix)
            writer.Index("t").upsert(vectors=[("v0", [0.0, 1.0])], namespace="n")

    store.hooks["list"] = first_write
    reader = slabdb.Client(store, MANUAL)
    assert set(reader.Index("t").fetch(ids=["v0"], namespace="n").vectors) == {"v0"}
    assert fired and reader.open_namespaces()[0].applied_lsn == 1


def test_a_checkpoint_passing_the_missing_entry_meanwhile_is_no_gap() -> None:
    """Another process flushes past the missing LSN and collects it while we look."""
    inner = open_store("memory://")
    writer, prefix = _writer(inner, 3)
    store = HookStore(inner)
    reader = slabdb.Client(store, MANUAL)
    assert _fetch_all(reader, 3) == {"v0", "v1", "v2"}
    ns = reader.open_namespaces()[0]
    index = writer.Index("t")
    for i in (3, 4):
        index.upsert(vectors=[(f"v{i}", [float(i), 1.0])])  # LSNs 4, 5
    index.flush()  # checkpoint 5
    collect_garbage(writer.open_namespaces()[0], grace_seconds=0.0)
    index.upsert(vectors=[("v5", [5.0, 1.0])])  # LSN 6: 4 is missing, 6 exists
    assert first_lsn_after(inner, prefix, 4) == 6
    gap = find_gap(store, prefix, lambda: ns.applied_lsn, ns.refresh)
    assert gap is None and ns.applied_lsn == 6


def test_a_namespace_being_deleted_is_not_damage() -> None:
    """Deletion removes the marker, then the manifest and the log oldest first: an opener
    that sees a hole then finds the namespace gone, and marks its handle deleted."""
    store = open_store("memory://")
    _db, prefix = _writer(store, 6)
    current = [True]
    for lsn in (1, 2):
        store.delete(wal_key(prefix, lsn))
    current[0] = False  # the marker went first
    spec = IndexSpec(dimension=2, metric="euclidean", vector_type="dense")
    ns = Namespace(store, prefix, spec, MANUAL, is_current=lambda: current[0])
    assert ns.deleted and ns.damage is None


def test_a_live_reader_finds_a_hole_and_refuses_to_fill_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = open_store("memory://")
    writer, prefix = _writer(store, 3)
    reader = slabdb.Client(store, MANUAL)
    assert _fetch_all(reader, 3) == {"v0", "v1", "v2"}
    ns = reader.open_namespaces()[0]
    for i in range(3, 6):
        writer.Index("t").upsert(vectors=[(f"v{i}", [float(i), 1.0])])  # LSNs 4..6
    store.delete(wal_key(prefix, 4))
    monkeypatch.setattr(namespace_module, "LOG_CHECK_INTERVAL_SECONDS", 0.0)
    with pytest.raises(CorruptionError, match=wal_key(prefix, 4)):
        ns.refresh()
    with pytest.raises(CorruptionError, match=wal_key(prefix, 4)):
        reader.Index("t").upsert(vectors=[("new", [1.0, 1.0])])
    with pytest.raises(ObjectNotFoundError):
        store.head(wal_key(prefix, 4))  # the hole was not filled by the refused write


def test_manifest_lost_after_wal_gc_is_damage_on_open() -> None:
    store = open_store("memory://")
    db, prefix = _writer(store, 5)
    db.Index("t").flush()
    collect_garbage(db.open_namespaces()[0], grace_seconds=0.0)
    store.delete(f"{prefix}manifest.json")
    with pytest.raises(CorruptionError, match=f"{prefix}manifest.json is missing"):
        slabdb.Client(store, MANUAL).Index("t").fetch(ids=["v0"])


def test_manifest_lost_before_any_gc_loses_nothing() -> None:
    """Every entry from LSN 1 is still there: replaying them all rebuilds the data."""
    store = open_store("memory://")
    db, prefix = _writer(store, 5)
    db.Index("t").flush()
    store.delete(f"{prefix}manifest.json")
    assert _fetch_all(slabdb.Client(store, MANUAL), 5) == {f"v{i}" for i in range(5)}


def test_manifest_vanishing_under_an_open_handle_is_damage() -> None:
    store = open_store("memory://")
    db, prefix = _writer(store, 2)
    db.Index("t").flush()
    ns = db.open_namespaces()[0]
    store.delete(f"{prefix}manifest.json")
    with pytest.raises(CorruptionError, match=f"{prefix}manifest.json is missing"):
        ns.refresh()
    assert ns.damage is not None
