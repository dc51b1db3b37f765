"""Open namespaces beyond ``max_open_namespaces`` are dropped when idle and reopen on use."""

from __future__ import annotations

import slabdb
from slabdb import EngineConfig


def test_idle_namespaces_beyond_the_budget_are_evicted_and_reopen_with_their_data() -> None:
    db = slabdb.connect("memory://", config=EngineConfig(background=False, max_open_namespaces=2))
    db.create_index(name="e", dimension=2, metric="euclidean")
    index = db.Index("e")
    for ns in ("a", "b", "c"):
        index.upsert(vectors=[(f"{ns}1", [1.0, 2.0])], namespace=ns)
        index.flush(namespace=ns)
    assert len(db.open_namespaces()) == 2
    assert db.handles.evicted == 1
    got = index.fetch(ids=["a1"], namespace="a")  # reopened from its slab
    assert list(got.vectors) == ["a1"]
    assert len(db.open_namespaces()) == 2
    db.close(flush=False)


def test_a_namespace_with_unflushed_writes_is_not_evicted() -> None:
    db = slabdb.connect("memory://", config=EngineConfig(background=False, max_open_namespaces=1))
    db.create_index(name="e", dimension=2, metric="euclidean")
    index = db.Index("e")
    index.upsert(vectors=[("a1", [1.0, 2.0])], namespace="a")  # stays in the memtable
    index.upsert(vectors=[("b1", [1.0, 2.0])], namespace="b")
    assert len(db.open_namespaces()) == 2  # over the budget rather than drop "a"
    assert db.handles.evicted == 0
    db.close(flush=False)
