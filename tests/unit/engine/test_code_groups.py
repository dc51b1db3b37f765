"""L0 slabs of flat codes that share a codebook, searched as one index
(``engine/code_groups.py``): the flush reuses the newest flat slab's quantizers, the
view searches the group in one call, and the answers keep every promise of the
per-slab path: recall against brute force, filters inside the index, superseded and
deleted rows never returned, selective members searched exactly, and k results
whenever k records match."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from slabdb import EngineConfig
from slabdb.client import Client
from slabdb.core.config import AnnConfig
from slabdb.engine import code_groups, group_search
from slabdb.slab import ann as ann_module
from slabdb.storage import open_store

DIM, K, SLAB_ROWS = 32, 10, 1000
ANN = AnnConfig(flat_min_rows=500, min_rows=10**6, ivf_min_rows=10**7, exact_rows_per_ef=1.0)
CENTRES = np.random.default_rng(0).standard_normal((40, DIM)).astype(np.float32)


def clustered(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CENTRES), n)
    return (CENTRES[labels] + 0.5 * rng.standard_normal((n, DIM))).astype(np.float32)


class Namespace:
    """An embedded namespace of ``slabs`` flushed L0 slabs, and a model of its records."""

    def __init__(self, slabs: int = 3, metric: str = "cosine") -> None:
        cfg = EngineConfig(background=False, flush_records=10**6, ann=ANN)
        self.client = Client(open_store("memory://"), cfg)
        self.client.create_index(name="g", dimension=DIM, metric=metric)
        self.index = self.client.Index("g")
        self.metric = metric
        self.model: dict[str, tuple[np.ndarray, dict[str, Any]]] = {}
        for s in range(slabs):
            ids = [f"r{i}" for i in range(s * SLAB_ROWS, (s + 1) * SLAB_ROWS)]
            self.upsert(ids, clustered(SLAB_ROWS, s + 1), slab=s)
            self.index.flush()

    def upsert(self, ids: list[str], vectors: np.ndarray, slab: int = -1) -> None:
        md = [{"bucket": int(rid[1:]) % 100, "slab": slab} for rid in ids]
        self.index.upsert_arrays(ids, vectors, md, show_progress=False)
        for rid, v, m in zip(ids, vectors, md, strict=True):
            self.model[rid] = (v, m)

    def delete(self, ids: list[str]) -> None:
        self.index.delete(ids=ids)
        for rid in ids:
            self.model.pop(rid, None)

    @property
    def engine(self) -> Any:
        (ns,) = self.client.open_namespaces()
        return ns

    def truth(self, q: np.ndarray, keep: Any = None) -> dict[str, float]:
        ids = [r for r, (_v, md) in self.model.items() if keep is None or keep(md)]
        mat = np.stack([self.model[r][0] for r in ids]).astype(np.float64)
        q64 = q.astype(np.float64)
        if self.metric == "cosine":
            scores = mat @ q64 / (np.linalg.norm(mat, axis=1) * np.linalg.norm(q64))
        elif self.metric == "euclidean":
            scores = -((mat - q64) ** 2).sum(axis=1)  # higher is better here
        else:
            scores = mat @ q64
        return dict(zip(ids, scores.tolist(), strict=True))

    def query(self, q: np.ndarray, flt: dict[str, Any] | None = None, k: int = K) -> list[Any]:
        return self.index.query(vector=q, top_k=k, filter=flt).matches


@pytest.fixture
def covered(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, ...]]:
    """The view positions each group search answered for (empty: it declined)."""
    seen: list[tuple[int, ...]] = []
    search = group_search.search_group_batch

    def spy(*args: Any, **kw: Any) -> Any:
        answers = search(*args, **kw)
        seen.extend(() if found is None else found[1] for found in answers)
        return answers

    monkeypatch.setattr(group_search, "search_group_batch", spy)
    return seen


def _recall(ns: Namespace, q: np.ndarray, matches: list[Any], keep: Any = None) -> float:
    truth = ns.truth(q, keep)
    best = sorted(truth, key=truth.__getitem__, reverse=True)[: len(matches)]
    return len({m.id for m in matches} & set(best)) / max(len(best), 1)


def _check_current(ns: Namespace, q: np.ndarray, matches: list[Any], keep: Any = None) -> None:
    """Every match is a current record that passes ``keep``, at its current score."""
    truth = ns.truth(q, keep)
    assert len({m.id for m in matches}) == len(matches)
    for m in matches:
        assert m.id in truth, m.id  # not deleted, matches the filter
        want = truth[m.id] if ns.metric != "euclidean" else -truth[m.id]
        assert m.score == pytest.approx(want, rel=1e-4, abs=1e-4), m.id


def test_flushes_reuse_the_newest_flat_slabs_codebook(monkeypatch: pytest.MonkeyPatch) -> None:
    trained: list[int] = []
    new_flat = ann_module.ivf.new_flat_index
    monkeypatch.setattr(
        ann_module.ivf, "new_flat_index", lambda *a: trained.append(1) or new_flat(*a)
    )
    ns = Namespace(slabs=3)
    books = [src.reader.ann_index().codebook for src in ns.engine.view().sources[1:]]
    assert len(books) == 3 and len(set(books)) == 1 and books[0]
    assert len(trained) == 1  # the second and third flush trained nothing
    (group,) = ns.engine.view().code_groups
    assert len(group.positions) == 3 and group.params.rows == 3 * SLAB_ROWS


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dotproduct"])
def test_a_group_answers_with_recall_and_exact_scores(
    metric: str, covered: list[tuple[int, ...]]
) -> None:
    ns = Namespace(slabs=3, metric=metric)
    queries = clustered(30, 99)
    recalls = []
    for q in queries:
        matches = ns.query(q)
        assert len(matches) == K
        _check_current(ns, q, matches)
        recalls.append(_recall(ns, q, matches))
    assert all(covered) and len(covered) == len(queries)
    assert np.mean(recalls) >= 0.95, np.mean(recalls)


def test_a_filter_is_the_groups_selector(covered: list[tuple[int, ...]]) -> None:
    ns = Namespace(slabs=3)
    recalls = []
    for q in clustered(20, 98):
        matches = ns.query(q, {"bucket": {"$lt": 30}})
        assert len(matches) == K
        _check_current(ns, q, matches, lambda md: md["bucket"] < 30)
        recalls.append(_recall(ns, q, matches, lambda md: md["bucket"] < 30))
    assert all(covered)
    assert np.mean(recalls) >= 0.95


def test_superseded_and_deleted_rows_never_come_back(covered: list[tuple[int, ...]]) -> None:
    """The best rows of the old slabs are overwritten far away (in a newer slab, and in
    the memtable) or deleted: the group must not return their old versions."""
    ns = Namespace(slabs=3)
    queries = clustered(15, 97)
    for q in queries[:8]:
        near = [m.id for m in ns.query(q, k=6)]
        ns.upsert(near[:2], np.tile(-q, (2, 1)))
        ns.delete(near[2:4])
    ns.index.flush()  # those versions are now a newer slab
    for q in queries[8:]:
        near = [m.id for m in ns.query(q, k=6)]
        ns.upsert(near[:2], np.tile(-q, (2, 1)))  # these stay in the memtable
        ns.delete(near[2:4])
    covered.clear()
    for q in queries:
        matches = ns.query(q)
        assert len(matches) == K
        _check_current(ns, q, matches)
    assert any(covered)


def test_a_selective_member_is_searched_exactly(covered: list[tuple[int, ...]]) -> None:
    """The filter keeps 1 % of the first slab (below ``exact_filter_fraction``) and half
    of the second: the group answers for the second, and the first slab's matching rows
    that rank in the true top k must all come back (its exact search finds them)."""
    ns = Namespace(slabs=3)
    flt = {
        "$or": [
            {"$and": [{"slab": 0}, {"bucket": 0}]},
            {"$and": [{"slab": 1}, {"bucket": {"$lt": 50}}]},
        ]
    }

    def keep(md: dict[str, Any]) -> bool:
        return (md["slab"] == 0 and md["bucket"] == 0) or (md["slab"] == 1 and md["bucket"] < 50)

    rare = [r for r, (_v, md) in ns.model.items() if md["slab"] == 0 and keep(md)]
    sources = ns.engine.view().sources
    first, second = (
        next(p for p, src in enumerate(sources) if src.scan_rows and src.id_at(0) == rid)
        for rid in ("r0", f"r{SLAB_ROWS}")
    )
    assert len(rare) == SLAB_ROWS // 100
    found_rare = 0
    for q in clustered(30, 96):
        matches = ns.query(q, flt)
        _check_current(ns, q, matches, keep)
        truth = ns.truth(q, keep)
        kth = sorted(truth.values(), reverse=True)[K - 1]
        must = {r for r in rare if truth[r] > kth + 1e-6}
        assert must <= {m.id for m in matches}
        found_rare += len(must)
    assert found_rare  # rare rows were at stake
    assert covered and all(second in c and first not in c for c in covered)


def test_the_merged_index_is_extended_after_a_flush(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bool, int]] = []
    real = code_groups.appended

    def spy(base: Any, parts: Any) -> Any:
        calls.append((base is not None, len(parts)))
        return real(base, parts)

    monkeypatch.setattr(code_groups, "appended", spy)
    ns = Namespace(slabs=2)
    q = clustered(1, 95)[0]
    ns.query(q)
    first = ns.engine.view().code_groups[0].merged.slab_ids
    ns.upsert([f"n{i}" for i in range(SLAB_ROWS)], clustered(SLAB_ROWS, 50))
    ns.index.flush()
    matches = ns.query(q)
    _check_current(ns, q, matches)
    merged = ns.engine.view().code_groups[0].merged
    assert calls == [(False, 2), (True, 1)]  # two slabs merged, then the third appended
    assert merged.slab_ids[:2] == first and len(merged.slab_ids) == 3
    assert _recall(ns, q, matches) >= 0.9


def test_a_group_that_finds_too_few_current_rows_falls_back(covered: list[tuple[int, ...]]) -> None:
    """Nearly every record is overwritten far from the query in the memtable: the codes'
    proposals are all superseded, so the group declines and the slabs, searched one by
    one without their superseded rows, still return k records."""
    ns = Namespace(slabs=2)
    q = clustered(1, 94)[0]
    ids = sorted(ns.model)
    survivors = set(ids[::400])
    moved = [r for r in ids if r not in survivors]
    ns.upsert(moved, np.tile(-q, (len(moved), 1)) + 0.01 * clustered(len(moved), 6))
    covered.clear()
    matches = ns.query(q, k=len(survivors) + 2)
    assert covered == [()]
    assert {m.id for m in matches} >= survivors
    _check_current(ns, q, matches)


@pytest.mark.parametrize("flt", [None, {"bucket": {"$lt": 30}}])
def test_query_batch_searches_each_group_once_per_block(
    flt: dict[str, Any] | None, covered: list[tuple[int, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch asks the merged index once for the block, and answers each query as a
    single query does (the same records; scores up to float32 rounding)."""
    ns = Namespace(slabs=3)
    queries = clustered(12, 93)
    single = [[(m.id, m.score) for m in ns.query(q, flt)] for q in queries]
    calls: list[int] = []
    search = group_search.search_group_batch
    monkeypatch.setattr(
        group_search,
        "search_group_batch",
        lambda view, group, vectors, *a: (
            calls.append(len(vectors)) or search(view, group, vectors, *a)
        ),
    )
    covered.clear()
    batch = ns.index.query_batch(vectors=queries, top_k=K, filter=flt)
    assert calls == [len(queries)]
    assert len(covered) == len(queries) and all(covered)  # the group answered every query
    for got, want in zip(batch, single, strict=True):
        assert [m.id for m in got.matches] == [rid for rid, _s in want]
        assert [m.score for m in got.matches] == pytest.approx([s for _r, s in want], rel=1e-5)
