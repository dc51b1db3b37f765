"""The engine against brute force with ANN slabs built for real (flat PQ codes, HNSW
and IVF-PQ).

The writes, engine steps and model of ``test_engine_model.py`` (the machine is
subclassed), with ``AnnConfig`` thresholds small enough for hypothesis-sized data.
Every run starts with a bulk of records (a hypothesis-drawn seed; data and helpers in
``ann_model_support.py``) that the flush turns into one flat-code slab (layout
``flat``: an ``ivfpq`` index with ``nlist == 1``) or one HNSW slab (layout ``hnsw``),
or the compaction into one IVF-PQ slab (layout ``ivf``); the readers must then carry
that index, and a probe of random queries must be answered through it (flat or IVF
codes may decline only when their tuned re-rank depth makes the exact search cheaper;
an event counts it).  Later rules rewrite and delete bulk records (also the nearest
neighbours of a query, so that superseded rows of an index slab are the best
candidates), and flushes and compactions rebuild the indexes (a slab whose live rows
fall below a threshold gets the smaller kind).

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
check (results stay exact, only slower), so this machine does not see it.  Flat codes
alone broken: re-ranking only k of them (mean recall 0.56), ignoring the filter (a
non-matching id came back: the filtered probe queries catch it; without them no
filtered query reached a flat slab in the default run), or declining every query
(no probe query went through the flat slab, whose cost 650 is below its 800 rows).

``SLABDB_ANN_PROPERTY_EXAMPLES`` sets the number of runs (default 15, ~10 s on 2 cores).
The default run is derandomized (the same 15 runs every time: CI stays deterministic);
``SLABDB_ANN_PROPERTY_RANDOM=1`` explores new ones.  Known open case, found by a random
40-run exploration (2026-12-01, 600-row HNSW layout, efConstruction 32): a dotproduct
HNSW slab of which two thirds were deleted or superseded answered two of 16
index-answered queries (k=1, after ``supersede_neighbours``) with a worse record: mean
recall 0.875 < RECALL_FLOOR.  Inner-product graphs miss the best allowed record for
~1 % of k=1 queries on this data (~2 % with 85 % of the rows excluded; a wider efSearch
barely helps); flat codes, which scan every allowed code, do not (<= 0.25 %).
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
from ann_model_support import (
    DIM,
    FLUSHES,
    GROUP_LAYOUT,
    KIND,
    LAYOUTS,
    MAX_BULK,
    TOL,
    better,
    bulk_ids,
    bulk_records,
    index_params,
    layout_vectors,
    query_vectors,
    vectors,
)
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, precondition, rule
from test_engine_model import (
    CONFIG,
    IDS,
    EngineVsModel,
    filters,
    metadata,
    model_match,
    sparse,
)

from slabdb.core.config import AnnConfig
from slabdb.engine import group_search
from slabdb.engine.sources import SlabSource, Source
from slabdb.slab.ann import HNSW_KIND
from slabdb.slab.ann_search import AnnIndex, search_cost
from slabdb.slab.reader import SlabReader

ANN = AnnConfig(
    flat_min_rows=400,
    min_rows=900,
    ivf_min_rows=3000,
    exact_rows_per_ef=1.0,
    hnsw_m=16,
    ef_construction=64,
)
"""Flat PQ codes from 400 live rows, HNSW from 900, IVF-PQ from 3,000.  A code search
(flat or IVF) re-ranks its tuned depth (50-100 rows on the flat layout, 300-800 on the
IVF one) at 6x the cost of a scanned row: only slabs of several times that take it."""
FEW_ROWS = 150
"""A namespace this small may be emptied (``delete_all``) or bulk-loaded again."""
PROBE_QUERIES = 12
PROBE_FILTERS = (None, {"f": True}, None, {"n": {"$gte": 2}})
"""Every other probe query is filtered (40 % and 53 % of the bulk match): broad enough
for the index to answer with the filter as its ID selector."""
RECALL_FLOOR = 0.9
"""Mean tie-aware recall@k of a run's index-answered queries (8-d data; the runs
measured ~0.95-1.0, see the ``mean recall of a run`` events)."""
FETCH_STRIDE = 31
GROUP_ANSWERS = "flat group"
"""The key of ``answers`` counting queries a group of flat slabs answered as one index."""
SETUPS = list(itertools.product(["cosine", "euclidean", "dotproduct"], LAYOUTS))
"""(metric, layout) of a run, drawn as one choice of the nine (two independent draws
gave the derandomized default run only 2 IVF runs of 15)."""


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
        self._group_search: Any = None
        self._spied: weakref.WeakSet[AnnIndex] = weakref.WeakSet()
        self._live_metadata: weakref.WeakKeyDictionary[SlabReader, list[dict[str, Any]]] = (
            weakref.WeakKeyDictionary()
        )

    @initialize(setup=st.sampled_from(SETUPS), seed=st.integers(0, 2**16))
    def create(self, setup: tuple[str, str], seed: int) -> None:
        metric, layout = setup
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
            if self._group_search is not None:
                group_search.search_group_batch = self._group_search
            super().teardown()

    # --- bulk data and the index slabs ---------------------------------------------------
    def _load_bulk(self, layout: str, seed: int, *, fresh: bool) -> None:
        """Bulk records, flushed (and compacted) into index slabs, then probed.  In a
        ``fresh`` namespace (no older slabs, no superseded rows) the layout's index must
        exist and answer the probe."""
        ids, vecs, mds = bulk_records(layout, LAYOUTS[layout], seed)
        step = -(-len(ids) // FLUSHES.get(layout, 1))
        for start in range(0, len(ids), step):  # 1,000 per WAL entry, a flush per part
            part = slice(start, start + step)
            self.index.upsert_arrays(ids[part], vecs[part], mds[part], show_progress=False)
            self.index.flush()
        for rid, vec, md in zip(ids, vecs, mds, strict=True):
            self.model[rid] = {"values": vec, "metadata": dict(md), "sparse": None}
        if layout == "ivf":
            self.index.compact()
        kinds = {index_params(r).label for r in self._index_slabs()}
        event(f"layout {layout}, {self.metric}: indexes {sorted(kinds)}")
        kind = KIND[layout]
        assert not fresh or kind in kinds, (layout, kinds)
        if fresh and layout == GROUP_LAYOUT:
            books = {index_params(r).codebook for r in self._index_slabs()}
            assert len(self._index_slabs()) == 2 and len(books) == 1, books
            kind = GROUP_ANSWERS
        before = self.answers[kind]
        probe = layout_vectors(layout, PROBE_QUERIES, np.random.default_rng(seed + 1))
        for q, flt in zip(probe, itertools.cycle(PROBE_FILTERS)):
            self._check_query(q.tolist(), flt, 10, None)
        if fresh and self.answers[kind] == before:
            # acceptable only for PQ codes (flat or IVF) whose tuned re-rank depth makes
            # the exact search cheaper (ann_search: exact costs n rows)
            assert kind != HNSW_KIND, "no probe query went through hnsw"
            for slab in self._index_slabs():
                params = index_params(slab)
                assert params.label != kind or search_cost(params, 10, 1.0) > slab.n, params
            event(f"{layout}: tuned re-rank depth too large for the codes to pay")

    @precondition(lambda self: len(self.model) < FEW_ROWS)
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
        """Count the queries an index answers (``propose`` not None) on this instance,
        and those a group of slabs sharing a codebook answers (``search_group_batch``)."""
        if self._group_search is None:
            self._group_search = search = group_search.search_group_batch

            def grouped(*args: Any, **kw: Any) -> Any:
                answers = search(*args, **kw)
                self.answers[GROUP_ANSWERS] += sum(bool(a and a[1]) for a in answers)
                return answers

            group_search.search_group_batch = grouped  # type: ignore[assignment]
        for reader in self._index_slabs():
            ann = reader.ann_index()
            if ann is None or ann in self._spied:
                continue
            self._spied.add(ann)
            propose, kind = ann.propose, ann.params.label

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

    @precondition(lambda self: len(self.model) < 2 * FEW_ROWS)
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
