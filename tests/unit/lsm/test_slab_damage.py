"""A slab the manifest lists must exist and pass its checksums; errors name the slab."""

from __future__ import annotations

import pytest

import slabdb
from slabdb import EngineConfig
from slabdb.core.errors import CorruptionError
from slabdb.slab import SlabReader
from slabdb.storage import open_store
from slabdb.storage.base import ObjectStore

MANUAL = EngineConfig(background=False, flush_records=100_000)


def _flushed(store: ObjectStore) -> str:
    """Write and flush one slab; its key."""
    db = slabdb.Client(store, MANUAL)
    db.create_index(name="t", dimension=2, metric="euclidean")
    db.Index("t").upsert(vectors=[("a", [1.0, 2.0]), ("b", [3.0, 4.0])])
    db.Index("t").flush()
    (entry,) = db.open_namespaces()[0].manifest.slabs
    return entry.key


def test_a_missing_slab_is_damage_naming_it() -> None:
    store = open_store("memory://")
    key = _flushed(store)
    store.delete(key)
    with pytest.raises(CorruptionError) as caught:
        slabdb.Client(store, MANUAL).Index("t").fetch(ids=["a"])
    assert f"slab {key} is missing" in caught.value.message
    assert "manifest.json lists it" in caught.value.message


def test_a_damaged_slab_names_the_object() -> None:
    store = open_store("memory://")
    key = _flushed(store)
    data = bytearray(store.get(key).data)
    vectors = SlabReader.from_bytes(bytes(data))._footer.sections["vectors"]
    data[vectors.offset + 1] ^= 0x10  # one bit of one vector
    store.put(key, bytes(data))
    with pytest.raises(CorruptionError) as caught:
        slabdb.Client(store, MANUAL).Index("t").fetch(ids=["a"])
    assert caught.value.message.startswith(f"{key}: ")
    assert "checksum" in caught.value.message
