"""A second handle on the same store catches up by reading new WAL entries, never listing."""

from collections.abc import Iterator

import slabdb
from slabdb import EngineConfig
from slabdb.storage import ObjectMeta, open_store
from slabdb.storage.base import GetResult, ObjectStore


class CountingStore(ObjectStore):
    """Delegates to another store and counts LIST calls under a WAL prefix."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.wal_lists = 0

    @property
    def url(self) -> str:
        return self.inner.url

    def put(self, key: str, data: bytes) -> str | None:
        return self.inner.put(key, data)

    def put_if_absent(self, key: str, data: bytes) -> str | None:
        return self.inner.put_if_absent(key, data)

    def put_if_match(self, key: str, data: bytes, etag: str) -> str | None:
        return self.inner.put_if_match(key, data, etag)

    def get(self, key: str) -> GetResult:
        return self.inner.get(key)

    def get_range(self, key: str, start: int, end: int) -> bytes:
        return self.inner.get_range(key, start, end)

    def head(self, key: str) -> ObjectMeta:
        return self.inner.head(key)

    def list(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectMeta]:
        if "/wal/" in prefix or prefix.endswith("wal/"):
            self.wal_lists += 1
        return self.inner.list(prefix, start_after)

    def delete(self, key: str) -> None:
        self.inner.delete(key)


def test_second_handle_catches_up_without_listing_the_log():
    config = EngineConfig(background=False, flush_records=1000)
    store = CountingStore(open_store("memory://"))
    writer = slabdb.Client(store, config)
    writer.create_index(name="r", dimension=2, metric="dotproduct")
    w = writer.Index("r")
    w.upsert(vectors=[("a", [1.0, 0.0])])
    reader = slabdb.Client(store, config)
    r = reader.Index("r")
    assert "a" in r.fetch(ids=["a"]).vectors
    for i in range(5):
        w.upsert(vectors=[(f"b{i}", [0.0, 1.0])])
    ns = reader.open_namespaces()[0]
    store.wal_lists = 0
    ns.refresh()
    ns.refresh()  # nothing new: one GET, no LIST
    assert store.wal_lists == 0
    assert len(r.fetch(ids=[f"b{i}" for i in range(5)]).vectors) == 5
    assert ns.applied_lsn == 6
    # Writing from the stale handle claims the next free LSN after catching up.
    w.upsert(vectors=[("c", [1.0, 1.0])])
    r.upsert(vectors=[("d", [1.0, 1.0])])
    assert ns.applied_lsn == 8 and "c" in r.fetch(ids=["c"]).vectors
    writer.close(flush=False)
    reader.close(flush=False)
