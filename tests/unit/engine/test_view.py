"""Scatter-gather over sources when newer versions shadow a slab's best rows."""

import numpy as np
import pytest

import slabdb
from slabdb import EngineConfig
from slabdb.core.errors import InvalidArgumentError


def test_query_skips_superseded_rows_in_one_extra_pass():
    db = slabdb.connect("memory://", config=EngineConfig(background=False, flush_records=100_000))
    db.create_index(name="v", dimension=8, metric="dotproduct")
    index = db.Index("v")
    rng = np.random.default_rng(1)
    mat = rng.standard_normal((3000, 8)).astype(np.float32)
    ids = [f"r{i}" for i in range(3000)]
    index.upsert_arrays(ids, mat)
    index.flush()
    q = rng.standard_normal(8).astype(np.float32)
    best = np.argsort(-(mat @ q))[:50]
    # Overwrite the 50 best rows with vectors pointing away from q, in the memtable.
    mat[best] = -np.abs(mat[best]) * np.sign(q)
    index.upsert_arrays([ids[i] for i in best], mat[best])
    index.delete(ids=[ids[i] for i in np.argsort(-(mat @ q))[:5]])
    alive = np.ones(3000, dtype=bool)
    alive[np.argsort(-(mat @ q))[:5]] = False
    scores = np.where(alive, mat @ q, -np.inf)
    expect = [ids[i] for i in np.argsort(-scores, kind="stable")[:10]]
    res = index.query(vector=q.tolist(), top_k=10)
    assert [m.id for m in res.matches] == expect
    view = db.open_namespaces()[0].view()
    slab_pos = len(view.sources) - 1
    assert len(view.shadowed(slab_pos)) == 55  # 50 overwritten + 5 deleted rows of the slab
    db.close()


def _two_sources(flush: bool = True):
    db = slabdb.connect("memory://", config=EngineConfig(background=False))
    db.create_index(name="v", dimension=4, metric="dotproduct")
    index = db.Index("v")
    index.upsert(
        [
            {"id": "b", "values": [1.0, 0, 0, 0], "metadata": {"n": 2}},
            {"id": "a", "values": [1.0, 0, 0, 0], "metadata": {"n": 1}},
            {"id": "c", "values": [0.5, 0, 0, 0]},
        ]
    )
    if flush:
        index.flush()
    return db, index


def test_an_empty_memtable_is_not_searched_and_shadows_nothing():
    db, _index = _two_sources()
    view = db.open_namespaces()[0].view()
    empty = [p for p, src in enumerate(view.sources) if src.scan_rows == 0]
    assert empty == [0]  # the active memtable, empty after the flush
    assert 0 not in view._searched
    assert all(view.sources[0] not in newer for newer in view._newer)
    hits = view.query(
        vector=np.ones(4, np.float32), sparse=None, metric="dotproduct", top_k=3, expr=None
    )
    assert [h.id for h in hits] == ["a", "b", "c"]  # equal scores: ties by id
    db.close()


def test_hits_read_their_version_only_when_asked():
    db, index = _two_sources()
    view = db.open_namespaces()[0].view()
    (slab,) = [src for src in view.sources if src.scan_rows]
    calls = []
    real = slab.version
    slab.version = lambda row: calls.append(row) or real(row)  # type: ignore[method-assign]
    hits = view.query(
        vector=np.ones(4, np.float32), sparse=None, metric="dotproduct", top_k=2, expr=None
    )
    assert calls == []
    assert hits[1].version.metadata == {"n": 2} and len(calls) == 1
    res = index.query(vector=[1.0, 0, 0, 0], top_k=3, include_metadata=True)
    assert [m.metadata for m in res.matches] == [{"n": 1}, {"n": 2}, {}]
    db.close()


def test_a_newer_write_still_supersedes_a_slab_row():
    db, index = _two_sources()
    index.upsert([{"id": "a", "values": [-1.0, 0, 0, 0]}])  # in the memtable, newer
    res = index.query(vector=[1.0, 0, 0, 0], top_k=3)
    assert [(m.id, m.score) for m in res.matches] == [("b", 1.0), ("c", 0.5), ("a", -1.0)]
    db.close()


def test_query_batch_answers_each_vector_as_query_does():
    db, index = _two_sources()
    index.upsert([{"id": "d", "values": [0.0, 2.0, 0, 0], "metadata": {"n": 3}}])
    queries = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]], np.float32)
    batch = index.query_batch(vectors=queries, top_k=2, filter={"n": {"$gte": 2}})
    single = [index.query(vector=q, top_k=2, filter={"n": {"$gte": 2}}) for q in queries]
    assert [[(m.id, m.score) for m in r.matches] for r in batch] == [
        [(m.id, m.score) for m in r.matches] for r in single
    ]
    assert [m.id for m in batch[1].matches] == ["d", "b"]
    with pytest.raises(InvalidArgumentError, match=r"vectors\[1\]: vector dimension 3"):
        index.query_batch(vectors=[[1.0, 0, 0, 0], [1.0, 0, 0]], top_k=2)
    db.close()
