"""ANN slabs through the embedded API: built at flush and compaction, recall against
brute force over the current records, superseded and deleted records never returned,
filters exact in count."""

from __future__ import annotations

import numpy as np
import pytest

from slabdb import EngineConfig
from slabdb.client import Client
from slabdb.core.config import AnnConfig
from slabdb.engine.maintenance import compact_until_idle
from slabdb.storage import open_store

N, DIM, CLUSTERS, K = 3000, 24, 30, 10
CENTRES = np.random.default_rng(0).standard_normal((CLUSTERS, DIM)).astype(np.float32)


def clustered(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLUSTERS, n)
    return (CENTRES[labels] + 0.5 * rng.standard_normal((n, DIM))).astype(np.float32)


def config(min_rows: int) -> EngineConfig:
    return EngineConfig(
        background=False,
        flush_records=1000,
        level_fanout=3,
        compaction_max_inputs=3,
        ann=AnnConfig(min_rows=min_rows, exact_rows_per_ef=1.0),
    )


def unit(m: np.ndarray) -> np.ndarray:
    return m / np.linalg.norm(m, axis=-1, keepdims=True)


@pytest.fixture
def loaded() -> tuple[Client, dict[str, np.ndarray]]:
    """3 L0 slabs of 1000 (each with an index at min_rows=500), then compacted to one L1."""
    client = Client(open_store("memory://"), config(min_rows=500))
    client.create_index(name="a", dimension=DIM, metric="cosine")
    index = client.Index("a")
    vectors = clustered(N, 1)
    ids = [f"v{i}" for i in range(N)]
    index.upsert_arrays(ids, vectors, [{"odd": i % 2 == 1} for i in range(N)], show_progress=False)
    index.flush()
    return client, dict(zip(ids, vectors, strict=True))


def readers(client: Client) -> list:
    (ns,) = client.open_namespaces()
    return list(ns.readers().values())


def brute_force(current: dict[str, np.ndarray], q: np.ndarray, k: int) -> set[str]:
    ids = list(current)
    scores = unit(np.stack([current[i] for i in ids])) @ unit(q)
    return {ids[j] for j in np.argsort(-scores)[:k]}


def recall(client: Client, current: dict[str, np.ndarray], queries: np.ndarray) -> float:
    index = client.Index("a")
    got = []
    for q in queries:
        res = index.query(vector=q.tolist(), top_k=K)
        assert len(res.matches) == K
        got.append(len({m.id for m in res.matches} & brute_force(current, q, K)) / K)
    return float(np.mean(got))


def test_flush_and_compaction_build_indexes_and_recall_holds(loaded) -> None:
    client, current = loaded
    assert [r.has_ann for r in readers(client)] == [True, True, True]
    assert recall(client, current, clustered(20, 2)) >= 0.95
    client.Index("a").compact()
    (l1,) = readers(client)
    assert l1.level == 1 and l1.has_ann and l1.n == N
    assert recall(client, current, clustered(20, 3)) >= 0.95
    client.close(flush=False)


def test_small_slabs_stay_exact() -> None:
    client = Client(open_store("memory://"), config(min_rows=5000))
    client.create_index(name="a", dimension=DIM, metric="cosine")
    index = client.Index("a")
    index.upsert_arrays([f"v{i}" for i in range(N)], clustered(N, 1), show_progress=False)
    index.flush()
    index.compact()
    assert not any(r.has_ann for r in readers(client))
    client.close(flush=False)


def test_superseded_and_deleted_records_never_come_back(loaded) -> None:
    client, current = loaded
    index = client.Index("a")
    queries = clustered(10, 4)
    # the current best answers to these queries: move half far away, delete the rest
    best = sorted(set().union(*(brute_force(current, q, K) for q in queries)))
    moved, deleted = best[::2], best[1::2]
    far = -unit(queries.mean(axis=0))
    index.upsert(vectors=[{"id": i, "values": far.tolist()} for i in moved])
    index.delete(ids=deleted)
    for i in moved:
        current[i] = far
    for i in deleted:
        del current[i]
    for step in ("memtable", "flushed", "compacted"):
        for q in queries:
            res = index.query(vector=q.tolist(), top_k=K, include_values=True)
            assert len(res.matches) == K, step
            for m in res.matches:
                assert m.id not in deleted, step
                expected = float(unit(np.asarray(m.values)) @ unit(q))
                assert m.score == pytest.approx(expected, abs=1e-5), "scores of current versions"
                if m.id in moved:
                    assert np.allclose(m.values, far), step
        assert recall(client, current, queries) >= 0.95, step
        index.flush() if step == "memtable" else index.compact()
    client.close(flush=False)


@pytest.mark.parametrize("flt", [{"odd": True}, {"odd": False}])
def test_filtered_queries_return_k_matching_records(loaded, flt) -> None:
    client, current = loaded
    client.Index("a").compact()
    index = client.Index("a")
    allowed = {i: v for i, v in current.items() if (int(i[1:]) % 2 == 1) == flt["odd"]}
    for q in clustered(10, 5):
        res = index.query(vector=q.tolist(), top_k=K, filter=flt)
        ids = {m.id for m in res.matches}
        assert len(ids) == K and ids <= set(allowed)
        assert len(ids & brute_force(allowed, q, K)) >= 9
    client.close(flush=False)


# --- small exact L0 flushes merge into a slab with a graph (EngineConfig.l0_merge_rows) ---

FLUSH, MIN_ROWS = 1000, 1500


def _flushed_l0(l0_merge_rows: int) -> tuple[Client, dict[str, np.ndarray]]:
    config = EngineConfig(
        background=False,
        flush_records=FLUSH,
        level_fanout=10,
        l0_merge_rows=l0_merge_rows,
        ann=AnnConfig(min_rows=MIN_ROWS, exact_rows_per_ef=1.0),
    )
    client = Client(open_store("memory://"), config)
    client.create_index(name="a", dimension=DIM, metric="cosine")
    vectors = clustered(3 * FLUSH, 1)
    ids = [f"v{i}" for i in range(len(vectors))]
    client.Index("a").upsert_arrays(ids, vectors, show_progress=False)
    client.Index("a").flush()
    return client, dict(zip(ids, vectors, strict=True))


def _levels(client: Client) -> list[tuple[int, int, bool]]:
    (ns,) = client.open_namespaces()
    return [(r.level, r.n, r.has_ann) for r in ns.readers().values()]


def test_two_exact_l0_flushes_merge_into_an_l1_slab_with_a_graph() -> None:
    client, current = _flushed_l0(l0_merge_rows=MIN_ROWS)
    assert sorted(_levels(client)) == [(0, FLUSH, False)] * 3  # flushes stay exact
    (ns,) = client.open_namespaces()
    assert compact_until_idle(ns) == 1
    # the two oldest (2,000 rows >= min_rows) became one L1 slab with a graph
    assert sorted(_levels(client)) == [(0, FLUSH, False), (1, 2 * FLUSH, True)]
    index = client.Index("a")
    ids = list(current)
    matrix = unit(np.stack([current[i] for i in ids]))
    hits = []
    for q in clustered(20, 7):
        res = index.query(vector=q.tolist(), top_k=K)
        assert len(res.matches) == K
        hits.append(len({m.id for m in res.matches} & brute_force(current, q, K)) / K)
        exact = dict(zip(ids, (matrix @ unit(q)).tolist(), strict=True))
        for m in res.matches:  # graph candidates are re-scored exactly
            assert abs(m.score - exact[m.id]) < 1e-5
    assert np.mean(hits) >= 0.95
    client.close(flush=False)


def test_l0_merge_rows_zero_waits_for_the_fanout() -> None:
    client, _current = _flushed_l0(l0_merge_rows=0)
    (ns,) = client.open_namespaces()
    assert compact_until_idle(ns) == 0
    assert sorted(_levels(client)) == [(0, FLUSH, False)] * 3
    client.close(flush=False)


def test_l0_merge_rows_is_off_by_default_and_never_negative() -> None:
    assert EngineConfig().l0_merge_rows == 0
    with pytest.raises(ValueError, match="l0_merge_rows"):
        EngineConfig(l0_merge_rows=-1)


def test_l0_merge_rows_is_read_from_slabdb_l0_merge_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    from slabdb.core.config import Settings

    monkeypatch.setenv("SLABDB_L0_MERGE_ROWS", "50000")
    assert Settings().engine_config().l0_merge_rows == 50_000


def test_an_index_that_cannot_reach_the_recall_target_is_not_used(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A slab whose index falls short of target_recall at its widest setting is exact."""
    from slabdb.slab import ann

    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((3000, 32)).astype(np.float32)
    deleted = np.zeros(len(vectors), dtype=np.bool_)
    config = AnnConfig(min_rows=100, hnsw_m=16, ef_construction=40)
    assert ann.build_ann_sections(vectors, deleted, "cosine", config)  # reaches it
    monkeypatch.setattr(ann, "EF_LADDER", (1,))  # a beam of k: far below 0.95 here
    with caplog.at_level("WARNING", logger="slabdb.slab.ann"):
        assert ann.build_ann_sections(vectors, deleted, "cosine", config) == {}
    assert "searched exactly" in caplog.text
