"""The engine against brute force with ANN slabs built for real (HNSW and IVF-PQ).

The writes, engine steps and model of ``test_engine_model.py`` (the machine is
subclassed), with ``AnnConfig`` thresholds small enough for hypothesis-sized data.
Every run starts with a bulk of clustered records (a hypothesis-drawn seed) that the
flush turns into HNSW slabs (layout ``hnsw``) or the compaction into one IVF-PQ slab
(layout ``ivf``); the readers must then carry that index, and a probe of random
queries must be answered through it (an IVF slab may decline only when its tuned
re-rank depth makes the exact search cheaper; an event counts it).  Later rules rewrite and delete bulk records
(also the nearest neighbours of a query, so that superseded rows of an index slab are
the best candidates), and flushes and compactions rebuild the indexes.

How results are compared (docs/design/ann.md and read-path.md say what is exact):

* exact, always: fetch, list and stats (the invariant; fetch on IDS, every id a rule
  touched and a rotating sample of the bulk ids); every returned id is current,
  matches the filter and appears once, with the score, values and metadata of its
  latest version (deleted or superseded versions never come back); scores sorted;
  min(k, matching records) results;
* exact where the engine promises it: a record held by an exact source (a memtable, a
  slab without an index, or an index slab in which fewer than ``exact_filter_fraction``
  of its rows match the filter) that ranks strictly inside the true top k must be
  returned; a query that no index can answer (hybrid, no index slab in the view, or
  selective everywhere) and every query the indexes did not answer (their ``propose``
  returned None) must return exactly the brute-force top k;
* recall-aware for queries an index answered: tie-aware recall@k (the share of
  returned records scoring at least as well as the true k-th) averaged over a run's
  index-answered queries must be >= RECALL_FLOOR.

Seen failing with the engine broken on purpose (monkeypatched, 2026-12-01): re-ranking
only k IVF codes, or taking the first k proposals unranked (mean recall 0.04-0.08);
an index search ignoring the filter (a non-matching id came back); index slabs and the
view both ignoring superseded rows (a deleted record, and a moved record at its old
score, came back).  Index slabs alone ignoring them is repaired by the view's own
check (results stay exact, only slower), so this machine does not see it.

``SLABDB_ANN_PROPERTY_EXAMPLES`` sets the number of runs (default 15, ~20 s on 2 cores).
The default run is derandomized (the same 15 runs every time: CI stays deterministic);
``SLABDB_ANN_PROPERTY_RANDOM=1`` explores new ones.  Known open case, found by a random
40-run exploration (2026-12-01): a dotproduct HNSW slab of 600 rows of which two thirds
were deleted or superseded answers two of 16 index-answered queries (k=1, after
``supersede_neighbours``) with a worse record: mean recall 0.875 < RECALL_FLOOR.  Inner
product graphs navigate badly once most of their nodes are filtered out.
"""

from __future__ import annotations

import itertools
import math
import os
import weakref
from collections import Counter
from dataclasses import replace
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, precondition, rule
from test_engine_model import (
    CONFIG,
    IDS,
    WORDS,
    EngineVsModel,
    filters,
    metadata,
    model_match,
    sparse,
)

from slabdb.core.config import AnnConfig
from slabdb.engine.sources import SlabSource, Source
from slabdb.slab.ann import AnnParams
from slabdb.slab.ann_ivf import rerank_count
from slabdb.slab.ann_search import GATHERED_ROW_COST, AnnIndex
from slabdb.slab.reader import SlabReader

DIM = 8
"""8-d, not the base machine's 4: PQ codes of 4-d vectors (2 x 4 bits) rank so coarsely
that the tuned re-rank depth makes the exact search cheaper on every slab this size."""
ANN = AnnConfig(
    min_rows=150, ivf_min_rows=3000, exact_rows_per_ef=1.0, hnsw_m=16, ef_construction=32
)
"""HNSW from 150 live rows, IVF-PQ from 3,000.  An IVF search re-ranks its tuned depth
(300-800 rows here) at 6x the cost of a scanned row: only slabs of several thousand
rows take the IVF route."""
LAYOUTS = {"hnsw": 600, "ivf": 4000}
"""Bulk records per layout: one 600-row L0 slab (HNSW), or four 1,000-row L0 slabs
(HNSW) compacted into one 4,000-row L1 slab (IVF-PQ)."""
KIND = {"hnsw": "hnsw", "ivf": "ivfpq"}
MAX_BULK = max(LAYOUTS.values())
CLUSTERS = 8
CENTRES = (2.0 * np.random.default_rng(7).standard_normal((CLUSTERS, DIM))).astype(np.float32)
NOISE = 0.4
PROBE_QUERIES = 12
RECALL_FLOOR = 0.9
"""Mean tie-aware recall@k of a run's index-answered queries (8-d clustered data; the
runs measured ~0.95-1.0, see the ``mean recall of a run`` events)."""
FETCH_STRIDE = 31
TOL = 1e-4

vectors = (
    st.lists(st.integers(-4, 4), min_size=DIM, max_size=DIM)
    .filter(any)
    .map(lambda xs: [x / 2 for x in xs])
)
bulk_ids = st.integers(0, MAX_BULK - 1).map(lambda i: f"b{i}")
near_centre = st.tuples(
    st.integers(0, CLUSTERS - 1), st.lists(st.integers(-3, 3), min_size=DIM, max_size=DIM)
).map(lambda t: (CENTRES[t[0]] + np.asarray(t[1], dtype=np.float32) / 4).tolist())
query_vectors = vectors | near_centre


def bulk_records(n: int, seed: int) -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
    """``n`` records around :data:`CENTRES`, with metadata of the same fields and types
    as hypothesis draws (each field present with probability 0.8)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLUSTERS, n)
    vecs = (CENTRES[labels] + NOISE * rng.standard_normal((n, DIM))).astype(np.float32)
    mds: list[dict[str, Any]] = []
    for _ in range(n):
        md = {
            "g": WORDS[int(rng.integers(len(WORDS)))],
            "n": int(rng.integers(0, 6)),
            "t": sorted(rng.choice(WORDS, size=int(rng.integers(1, 3)), replace=False).tolist()),
            "f": bool(rng.integers(2)),
        }
        mds.append({key: v for key, v in md.items() if rng.random() < 0.8})
    return [f"b{i}" for i in range(n)], vecs, mds


def index_params(reader: SlabReader) -> AnnParams:
    ann = reader.ann_index()
    assert ann is not None
    return ann.params


def better(metric: str, a: float, b: float) -> bool:
    """Score ``a`` is better than ``b`` by more than the tolerance."""
    margin = TOL * max(1.0, abs(b))
    return a < b - margin if metric == "euclidean" else a > b + margin


class EngineWithAnnVsModel(EngineVsModel):
    config = replace(CONFIG, ann=ANN, compaction_max_inputs=4)
    dim = DIM

    def __init__(self) -> None:
        super().__init__()
        self.touched: set[str] = set()
        self.recalls: list[float] = []
        self.answers: Counter[str] = Counter()
        """Queries answered through an index, by index kind."""
        self.steps = 0
        self._spied: weakref.WeakSet[AnnIndex] = weakref.WeakSet()
        self._live_metadata: weakref.WeakKeyDictionary[SlabReader, list[dict[str, Any]]] = (
            weakref.WeakKeyDictionary()
        )

    @initialize(
        metric=st.sampled_from(["cosine", "euclidean", "dotproduct"]),
        layout=st.sampled_from(sorted(LAYOUTS)),
        seed=st.integers(0, 2**16),
    )
    def create(self, metric: str, layout: str, seed: int) -> None:
        EngineVsModel.create(self, metric)
        self._load_bulk(layout, seed, fresh=True)

    def teardown(self) -> None:
        try:
            for kind, n in sorted(self.answers.items()):
                event(f"queries answered by {kind} per run: {min(n, 50) // 10 * 10}+")
            if self.recalls:
                mean = float(np.mean(self.recalls))
                event(f"mean recall of a run: {math.floor(mean * 20) / 20:.2f}+")
                if mean < 0.95:
                    event(f"mean recall < 0.95: {self.metric}, {dict(self.answers)}")
                assert mean >= RECALL_FLOOR, (mean, sorted(self.recalls)[:10])
        finally:
            super().teardown()

    # --- bulk data and the index slabs ---------------------------------------------------
    def _load_bulk(self, layout: str, seed: int, *, fresh: bool) -> None:
        """Bulk records, flushed (and compacted) into index slabs, then probed.  In a
        ``fresh`` namespace (no older slabs, no superseded rows) the layout's index must
        exist and answer the probe."""
        ids, vecs, mds = bulk_records(LAYOUTS[layout], seed)
        self.index.upsert_arrays(ids, vecs, mds, show_progress=False)  # 1,000 per WAL entry
        for rid, vec, md in zip(ids, vecs, mds, strict=True):
            self.model[rid] = {"values": vec, "metadata": dict(md), "sparse": None}
        self.index.flush()
        if layout == "ivf":
            self.index.compact()
        kinds = {index_params(r).kind for r in self._index_slabs()}
        event(f"layout {layout}, {self.metric}: indexes {sorted(kinds)}")
        assert not fresh or KIND[layout] in kinds, (layout, kinds)
        before = self.answers[KIND[layout]]
        rng = np.random.default_rng(seed)
        for c in rng.integers(0, CLUSTERS, PROBE_QUERIES):
            q = CENTRES[c] + NOISE * rng.standard_normal(DIM).astype(np.float32)
            self._check_query(q.tolist(), None, 10, None)
        if fresh and self.answers[KIND[layout]] == before:
            # acceptable only for an IVF slab whose tuned re-rank depth makes exact search
            # cheaper: exact costs n rows, IVF 6 x depth + at most n / 16 (ann_search)
            assert layout == "ivf", f"no probe query went through {layout}"
            for slab in self._index_slabs():
                params = index_params(slab)
                ivf_cost = GATHERED_ROW_COST * rerank_count(10, params.rerank) + slab.n / 16
                assert params.kind != "ivfpq" or ivf_cost > slab.n, params
            event("ivf: tuned re-rank depth too large for the IVF route to pay")

    @precondition(lambda self: len(self.model) < ANN.min_rows)
    @rule(layout=st.sampled_from(sorted(LAYOUTS)), seed=st.integers(0, 2**16))
    def reload_bulk(self, layout: str, seed: int) -> None:
        """After deletes emptied the namespace, index slabs again."""
        self._load_bulk(layout, seed, fresh=False)

    def _view_sources(self) -> tuple[Source, ...]:
        assert self.client is not None
        (ns,) = self.client.open_namespaces()
        return ns.view().sources

    def _index_slabs(self) -> list[SlabReader]:
        return [
            s.reader for s in self._view_sources() if isinstance(s, SlabSource) and s.reader.has_ann
        ]

    def _spy_on_indexes(self) -> None:
        """Count the queries an index answers (``propose`` not None) on this instance."""
        for reader in self._index_slabs():
            ann = reader.ann_index()
            if ann is None or ann in self._spied:
                continue
            self._spied.add(ann)
            propose, kind = ann.propose, ann.params.kind

            def counted(*args: Any, _propose: Any = propose, _kind: str = kind, **kw: Any) -> Any:
                rows = _propose(*args, **kw)
                self.answers[_kind] += rows is not None
                return rows

            ann.propose = counted  # type: ignore[method-assign]

    def _promised_exact_slabs(self, flt: dict[str, Any] | None) -> set[SlabReader]:
        """Index slabs the engine must search exactly for ``flt``: fewer than
        ``exact_filter_fraction`` of the indexed rows match (evaluated independently)."""
        out: set[SlabReader] = set()
        if flt is None:
            return out
        for reader in self._index_slabs():
            params = index_params(reader)
            live_md = self._live_metadata.get(reader)
            if live_md is None:
                live = np.flatnonzero(~np.asarray(reader.deleted)).tolist()
                live_md = self._live_metadata[reader] = [reader.metadata(r) or {} for r in live]
            matching = sum(model_match(flt, md) for md in live_md)
            if matching < params.exact_filter_fraction * params.rows:
                out.add(reader)
        return out

    # --- brute force ---------------------------------------------------------------------
    def _expected(self, q: np.ndarray, flt: dict[str, Any] | None, qs: dict | None) -> dict:
        rids = [
            r for r, rec in self.model.items() if flt is None or model_match(flt, rec["metadata"])
        ]
        if not rids:
            return {}
        mat = np.stack([self.model[r]["values"] for r in rids]).astype(np.float64)
        q64 = q.astype(np.float64)
        if self.metric == "cosine":
            scores = mat @ q64 / (np.linalg.norm(mat, axis=1) * np.linalg.norm(q64))
        elif self.metric == "euclidean":
            scores = ((mat - q64) ** 2).sum(axis=1)
        else:
            scores = mat @ q64
            for i, rid in enumerate(rids):
                vs = self.model[rid]["sparse"]
                if qs and vs:
                    vmap = dict(zip(vs["indices"], vs["values"], strict=True))
                    scores[i] += sum(
                        v * vmap.get(j, 0.0)
                        for j, v in zip(qs["indices"], qs["values"], strict=True)
                    )
        return dict(zip(rids, scores.tolist(), strict=True))

    def _holder(self, sources: tuple[Source, ...], rid: str) -> Source:
        """The source holding ``rid``'s latest version."""
        held = [
            (src.lsn_at(row), pos)
            for pos, src in enumerate(sources)
            if (row := src.row_of(rid)) is not None
        ]
        return sources[max(held)[1]]

    # --- checks --------------------------------------------------------------------------
    def _check_query(
        self, q: list[float], flt: dict[str, Any] | None, k: int, qs: dict | None
    ) -> None:
        """Exact facts of every result, then exact or recall-aware ranking."""
        self._spy_on_indexes()
        answered_before = self.answers.total()
        res = self.index.query(
            vector=q,
            top_k=k,
            filter=flt,
            sparse_vector=qs,
            include_metadata=True,
            include_values=True,
        )
        used_index = self.answers.total() > answered_before
        expected = self._expected(np.asarray(q, dtype=np.float32), flt, qs)
        ids = [m.id for m in res.matches]
        assert len(ids) == len(set(ids)) == min(k, len(expected)), (ids, len(expected))
        for m in res.matches:
            assert m.id in expected, m.id
            assert math.isclose(m.score, expected[m.id], rel_tol=TOL, abs_tol=TOL), (m.id, m.score)
            assert np.array_equal(
                np.asarray(m.values, dtype=np.float32), self.model[m.id]["values"]
            )
            assert (m.metadata or {}) == self.model[m.id]["metadata"]
        scores = [m.score for m in res.matches]
        assert not any(better(self.metric, b, a) for a, b in itertools.pairwise(scores)), scores
        if ids:
            self._check_ranking(flt, qs, used_index, expected, ids, scores)

    def _check_ranking(
        self,
        flt: dict[str, Any] | None,
        qs: dict | None,
        used_index: bool,
        expected: dict[str, float],
        ids: list[str],
        scores: list[float],
    ) -> None:
        truth = sorted(expected.values(), reverse=self.metric != "euclidean")[: len(ids)]
        kth = truth[-1]
        exact_slabs = self._promised_exact_slabs(flt)
        promised_exact = qs is not None or all(r in exact_slabs for r in self._index_slabs())
        if promised_exact:
            assert not used_index, "an index answered a query the engine promises exact"
        if promised_exact or not used_index:
            assert np.allclose(scores, truth, rtol=TOL, atol=TOL), (scores, truth)
            return
        sources, returned = self._view_sources(), set(ids)
        for rid, score in expected.items():
            if better(self.metric, score, kth) and rid not in returned:
                holder = self._holder(sources, rid)
                exact = (
                    not isinstance(holder, SlabSource)
                    or not holder.reader.has_ann
                    or holder.reader in exact_slabs
                )
                assert not exact, f"{rid} (score {score}) from an exact source is missing"
        hits = sum(not better(self.metric, kth, s) for s in scores)
        self.recalls.append(hits / len(ids))

    @rule(q=query_vectors, flt=st.none() | filters, k=st.integers(1, 20), qs=sparse)
    def query(self, q: list[float], flt: dict[str, Any] | None, k: int, qs: dict | None) -> None:
        self._check_query(q, flt, k, qs if self.metric == "dotproduct" else None)

    # --- writes (the base machine's, with DIM-d vectors) -----------------------------------
    @rule(
        records=st.lists(
            st.tuples(st.sampled_from(IDS), vectors, metadata, sparse), min_size=1, max_size=6
        )
    )
    def upsert(self, records: list[tuple[str, list[float], dict[str, Any], dict | None]]) -> None:
        EngineVsModel.upsert(self, records)

    @rule(rid=st.sampled_from(IDS), vec=st.none() | vectors, md=metadata)
    def update(self, rid: str, vec: list[float] | None, md: dict[str, Any]) -> None:
        EngineVsModel.update(self, rid, vec, md)

    @rule(records=st.lists(st.tuples(bulk_ids, vectors, metadata), min_size=1, max_size=6))
    def upsert_bulk(self, records: list[tuple[str, list[float], dict[str, Any]]]) -> None:
        EngineVsModel.upsert(self, [(rid, vec, md, None) for rid, vec, md in records])
        self.touched.update(rid for rid, _, _ in records)

    @rule(ids=st.lists(bulk_ids, min_size=1, max_size=6))
    def delete_bulk(self, ids: list[str]) -> None:
        EngineVsModel.delete(self, ids)
        self.touched.update(ids)

    @precondition(lambda self: len(self.model) > 10)
    @rule(anchor=st.integers(0, 10**6), n=st.integers(2, 10), k=st.integers(1, 12))
    def supersede_neighbours(self, anchor: int, n: int, k: int) -> None:
        """Move half of a record's nearest neighbours far away and delete the other half:
        their old rows (in index slabs) are the query's best candidates and must never
        come back."""
        rid = sorted(self.model)[anchor % len(self.model)]
        q = self.model[rid]["values"].copy()
        expected = self._expected(q, None, None)
        near = sorted(expected, key=expected.__getitem__, reverse=self.metric != "euclidean")[:n]
        far = (-q - np.sign(q)).tolist()
        moved, dropped = near[::2], near[1::2]
        self.index.upsert(
            vectors=[{"id": r, "values": far, "metadata": self.model[r]["metadata"]} for r in moved]
        )
        for r in moved:
            self.model[r]["values"] = np.asarray(far, dtype=np.float32)
        EngineVsModel.delete(self, dropped)
        self.touched.update(near)
        self._check_query(q.tolist(), None, k, None)

    @precondition(lambda self: len(self.model) < 2 * ANN.min_rows)
    @rule()
    def delete_all(self) -> None:
        EngineVsModel.delete_all(self)

    # --- exact reads -----------------------------------------------------------------------
    def ids_to_fetch(self) -> list[str]:
        """IDS, every bulk id a rule touched, and a rotating 1/FETCH_STRIDE of the rest."""
        self.steps += 1
        rotating = {f"b{i}" for i in range(self.steps % FETCH_STRIDE, MAX_BULK, FETCH_STRIDE)}
        return sorted(set(IDS) | self.touched | rotating)


EngineWithAnnVsModel.TestCase.settings = settings(
    max_examples=int(os.environ.get("SLABDB_ANN_PROPERTY_EXAMPLES", "15")),
    derandomize=os.environ.get("SLABDB_ANN_PROPERTY_RANDOM") != "1",
    stateful_step_count=30,
    deadline=None,
    phases=[p for p in Phase if p is not Phase.explain],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestEngineWithAnnVsModel = EngineWithAnnVsModel.TestCase
