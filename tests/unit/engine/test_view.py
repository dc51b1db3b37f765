"""Scatter-gather over sources when newer versions shadow a slab's best rows."""

import numpy as np

import slabdb
from slabdb import EngineConfig


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
