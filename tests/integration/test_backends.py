"""The engine end to end on every object store: memory, local directory and S3."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

import slabdb
from scenarios.waiting import wait_until
from slabdb import EngineConfig

SMALL = EngineConfig(background=False, flush_records=100, level_fanout=3, compaction_max_inputs=3)


@pytest.fixture(params=["memory", "local", "s3"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return "memory://"
    if request.param == "local":
        return str(tmp_path / "db")
    return request.getfixturevalue("s3_url")


def _brute_top(mat: np.ndarray, q: np.ndarray, k: int, mask: np.ndarray | None = None) -> list[int]:
    scores = (mat @ q) / (np.linalg.norm(mat, axis=1) * np.linalg.norm(q))
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    order = np.argsort(-scores, kind="stable")[:k]
    return [int(i) for i in order if np.isfinite(scores[i])]


def test_ingest_flush_compact_reopen_and_query(url: str) -> None:
    rng = np.random.default_rng(5)
    n, d = 1200, 16
    mat = rng.standard_normal((n, d)).astype(np.float32)
    colors = rng.choice(["red", "green", "blue"], n)
    db = slabdb.connect(url, config=SMALL)
    db.create_index(name="e2e", dimension=d, metric="cosine")
    index = db.Index("e2e")
    for start in range(0, n, 50):
        ids = [f"v{i}" for i in range(start, min(n, start + 50))]
        md = [{"color": str(colors[i]), "i": i} for i in range(start, min(n, start + 50))]
        index.upsert_arrays(ids, mat[start : start + 50], metadata=md)
    index.compact()
    stats = db.open_namespaces()[0].stats()
    assert stats["slabs_per_level"].get(1, 0) >= 1, stats  # compaction reached L1 ...
    assert stats["slabs_per_level"].get(2, 0) >= 1, stats  # ... and L2
    if url == "memory://":
        store = db.store
        db.close(flush=False)
        db = slabdb.Client(store, SMALL)
    else:
        db.close(flush=False)
        db = slabdb.connect(url, config=SMALL)
    index = db.Index("e2e")
    assert index.describe_index_stats().total_vector_count == n
    for qi in range(5):
        q = rng.standard_normal(d).astype(np.float32)
        res = index.query(vector=q.tolist(), top_k=10)
        assert [m.id for m in res.matches] == [f"v{i}" for i in _brute_top(mat, q, 10)]
        res = index.query(vector=q.tolist(), top_k=10, filter={"color": "red", "i": {"$lt": 600}})
        mask = (colors == "red") & (np.arange(n) < 600)
        assert [m.id for m in res.matches] == [f"v{i}" for i in _brute_top(mat, q, 10, mask)], qi
    db.close()


def test_background_maintenance_with_concurrent_writers_and_readers(tmp_path: Path) -> None:
    """Threads write and query while the background worker flushes and compacts."""
    config = EngineConfig(
        flush_records=200, level_fanout=3, compaction_max_inputs=3, background_interval_seconds=0.01
    )
    db = slabdb.connect(str(tmp_path / "db"), config=config)
    db.create_index(name="bg", dimension=8, metric="euclidean")
    index = db.Index("bg")
    errors: list[BaseException] = []
    written: dict[str, list[float]] = {}
    lock = threading.Lock()

    def writer(w: int) -> None:
        rng = np.random.default_rng(w)
        try:
            for b in range(30):
                recs = [
                    (f"w{w}-{b}-{i}", rng.standard_normal(8).astype(np.float32).tolist())
                    for i in range(40)
                ]
                index.upsert(vectors=recs)
                with lock:
                    written.update(recs)
                got = index.fetch(ids=[recs[0][0]]).vectors  # read-your-writes
                assert recs[0][0] in got
        except BaseException as exc:
            errors.append(exc)

    def reader() -> None:
        rng = np.random.default_rng(99)
        try:
            for _ in range(60):
                res = index.query(vector=rng.standard_normal(8).tolist(), top_k=5)
                ids = [m.id for m in res.matches]
                assert len(ids) == len(set(ids))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    ns = db.open_namespaces()[0]

    def maintenance_caught_up() -> bool:
        s = ns.stats()
        return s["frozen_memtables"] == 0 and s["slabs_per_level"].get(0, 0) < 3

    wait_until(maintenance_caught_up, "the background worker flushed and compacted", 30)
    stats = ns.stats()
    assert stats["slabs_per_level"].get(1, 0) + stats["slabs_per_level"].get(2, 0) >= 1, stats
    assert index.describe_index_stats().total_vector_count == len(written) == 4 * 30 * 40
    ids = sorted(written)
    mat = np.asarray([written[i] for i in ids], dtype=np.float32)
    q = np.ones(8, dtype=np.float32)
    expect = [ids[i] for i in np.argsort(((mat - q) ** 2).sum(axis=1), kind="stable")[:10]]
    assert [m.id for m in index.query(vector=q.tolist(), top_k=10).matches] == expect
    db.close()
