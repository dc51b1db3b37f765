"""A hypothesis state machine: the engine against a dict plus brute force.

Random upserts, updates (by id and by filter), deletes (by id, by filter, all),
filtered queries, flushes, compactions and reopens; after every step queries,
fetches, counts and listings must equal what a plain dict and an exhaustive
float64 search give.  The filter evaluator here is written independently of
slabdb.filters on purpose.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from slabdb import EngineConfig
from slabdb.client import Client
from slabdb.storage import open_store

DIM = 4
IDS = [f"id{i}" for i in range(10)]
WORDS = ["a", "b", "c"]
CONFIG = EngineConfig(
    background=False, flush_records=3, level_fanout=2, compaction_max_inputs=3, max_level=2
)

vectors = (
    st.lists(st.integers(-4, 4), min_size=DIM, max_size=DIM)
    .filter(any)
    .map(lambda xs: [x / 2 for x in xs])
)
metadata = st.fixed_dictionaries(
    {},
    optional={
        "g": st.sampled_from(WORDS),
        "n": st.integers(0, 5),
        "t": st.lists(st.sampled_from(WORDS), min_size=1, max_size=2, unique=True),
        "f": st.booleans(),
    },
)
sparse = st.none() | st.dictionaries(
    st.integers(0, 6), st.integers(1, 4), min_size=1, max_size=3
).map(lambda d: {"indices": sorted(d), "values": [d[k] / 2 for k in sorted(d)]})


def leaf_filters() -> st.SearchStrategy[dict[str, Any]]:
    word = st.sampled_from(WORDS)
    num = st.integers(0, 5)
    return st.one_of(
        st.builds(lambda w: {"g": w}, word),
        st.builds(lambda w: {"g": {"$ne": w}}, word),
        st.builds(lambda ws: {"g": {"$in": ws}}, st.lists(word, min_size=1, max_size=2)),
        st.builds(lambda ws: {"t": {"$nin": ws}}, st.lists(word, min_size=1, max_size=2)),
        st.builds(lambda w: {"t": w}, word),
        st.builds(
            lambda op, n: {"n": {op: n}},
            st.sampled_from(["$gt", "$gte", "$lt", "$lte", "$eq", "$ne"]),
            num,
        ),
        st.builds(lambda b: {"f": b}, st.booleans()),
        st.builds(
            lambda f, b: {f: {"$exists": b}}, st.sampled_from(["g", "n", "t", "f"]), st.booleans()
        ),
    )


filters = st.recursive(
    leaf_filters(),
    lambda inner: st.builds(
        lambda op, xs: {op: xs},
        st.sampled_from(["$and", "$or"]),
        st.lists(inner, min_size=1, max_size=3),
    ),
    max_leaves=4,
)


def model_match(flt: dict[str, Any], md: dict[str, Any]) -> bool:
    """Pinecone filter semantics, written out plainly."""
    for key, cond in flt.items():
        if key == "$and":
            if not all(model_match(c, md) for c in cond):
                return False
            continue
        if key == "$or":
            if not any(model_match(c, md) for c in cond):
                return False
            continue
        ops = cond if isinstance(cond, dict) else {"$eq": cond}
        for op, arg in ops.items():
            present = key in md
            value = md.get(key)
            values = value if isinstance(value, list) else [value]

            def eq(v: Any, a: Any) -> bool:
                return (
                    type(v) is type(a) and v == a
                    if isinstance(a, bool) or isinstance(v, bool)
                    else v == a
                )

            if op == "$eq":
                ok = present and any(eq(v, arg) for v in values)
            elif op == "$ne":
                ok = not (present and any(eq(v, arg) for v in values))
            elif op == "$in":
                ok = present and any(eq(v, a) for v in values for a in arg)
            elif op == "$nin":
                ok = not (present and any(eq(v, a) for v in values for a in arg))
            elif op == "$exists":
                ok = present == arg
            else:
                numeric = present and isinstance(value, int | float) and not isinstance(value, bool)
                ok = (
                    numeric
                    and {
                        "$gt": value > arg,
                        "$gte": value >= arg,
                        "$lt": value < arg,
                        "$lte": value <= arg,
                    }[op]
                )
            if not ok:
                return False
    return True


def model_score(
    metric: str, q: np.ndarray, v: np.ndarray, qs: dict | None, vs: dict | None
) -> float:
    q64, v64 = q.astype(np.float64), v.astype(np.float64)
    if metric == "cosine":
        return float(q64 @ v64 / (np.linalg.norm(q64) * np.linalg.norm(v64)))
    if metric == "euclidean":
        return float(((q64 - v64) ** 2).sum())
    s = float(q64 @ v64)
    if qs and vs:
        vmap = dict(zip(vs["indices"], vs["values"], strict=True))
        s += sum(val * vmap.get(i, 0.0) for i, val in zip(qs["indices"], qs["values"], strict=True))
    return s


class EngineVsModel(RuleBasedStateMachine):
    config = CONFIG
    """The engine configuration of every client the machine opens."""
    dim = DIM

    def __init__(self) -> None:
        super().__init__()
        self.store = open_store("memory://")
        self.model: dict[str, dict[str, Any]] = {}
        self.client: Client | None = None

    @initialize(metric=st.sampled_from(["cosine", "euclidean", "dotproduct"]))
    def create(self, metric: str) -> None:
        self.metric = metric
        self.client = Client(self.store, self.config)
        self.client.create_index(name="m", dimension=self.dim, metric=metric)
        self.index = self.client.Index("m")

    def teardown(self) -> None:
        if self.client is not None:
            self.client.close(flush=False)

    # --- writes ----------------------------------------------------------------------------
    @rule(
        records=st.lists(
            st.tuples(st.sampled_from(IDS), vectors, metadata, sparse), min_size=1, max_size=6
        )
    )
    def upsert(self, records: list[tuple[str, list[float], dict[str, Any], dict | None]]) -> None:
        batch = []
        for rid, vec, md, sp in records:
            if self.metric != "dotproduct":
                sp = None
            item: dict[str, Any] = {"id": rid, "values": vec, "metadata": md}
            if sp:
                item["sparse_values"] = sp
            batch.append(item)
            self.model[rid] = {
                "values": np.asarray(vec, dtype=np.float32),
                "metadata": dict(md),
                "sparse": sp,
            }
        self.index.upsert(vectors=batch)

    @rule(rid=st.sampled_from(IDS), vec=st.none() | vectors, md=metadata)
    def update(self, rid: str, vec: list[float] | None, md: dict[str, Any]) -> None:
        if vec is None and not md:
            return
        self.index.update(id=rid, values=vec, set_metadata=md or None)
        if rid in self.model:
            if vec is not None:
                self.model[rid]["values"] = np.asarray(vec, dtype=np.float32)
            self.model[rid]["metadata"].update(md)

    @rule(flt=filters, md=metadata.filter(bool))
    def update_by_filter(self, flt: dict[str, Any], md: dict[str, Any]) -> None:
        matched = [r for r, rec in self.model.items() if model_match(flt, rec["metadata"])]
        got = self.index.update(filter=flt, set_metadata=md)
        assert got.matched_records == len(matched)
        for r in matched:
            self.model[r]["metadata"].update(md)

    @rule(ids=st.lists(st.sampled_from(IDS), min_size=1, max_size=4))
    def delete(self, ids: list[str]) -> None:
        self.index.delete(ids=ids)
        for r in ids:
            self.model.pop(r, None)

    @rule(flt=filters)
    def delete_by_filter(self, flt: dict[str, Any]) -> None:
        self.index.delete(filter=flt)
        for r in [r for r, rec in self.model.items() if model_match(flt, rec["metadata"])]:
            del self.model[r]

    @precondition(lambda self: len(self.model) > 8)
    @rule()
    def delete_all(self) -> None:
        self.index.delete(delete_all=True)
        self.model.clear()

    # --- engine steps ------------------------------------------------------------------------
    @rule()
    def flush(self) -> None:
        self.index.flush()

    @rule()
    def compact(self) -> None:
        self.index.compact()

    @rule(flush=st.booleans())
    def reopen(self, flush: bool) -> None:
        assert self.client is not None
        self.client.close(flush=flush)
        self.client = Client(self.store, self.config)
        self.index = self.client.Index("m")

    # --- checks --------------------------------------------------------------------------------
    def ids_to_fetch(self) -> list[str]:
        """The ids the invariant fetches (every id the rules use)."""
        return IDS

    @rule(q=vectors, flt=st.none() | filters, k=st.integers(1, 20), qs=sparse)
    def query(self, q: list[float], flt: dict[str, Any] | None, k: int, qs: dict | None) -> None:
        if self.metric != "dotproduct":
            qs = None
        qv = np.asarray(q, dtype=np.float32)
        res = self.index.query(
            vector=q, top_k=k, filter=flt, sparse_vector=qs, include_metadata=True
        )
        expected = {
            r: model_score(self.metric, qv, rec["values"], qs, rec["sparse"])
            for r, rec in self.model.items()
            if flt is None or model_match(flt, rec["metadata"])
        }
        ids = [m.id for m in res.matches]
        assert len(ids) == len(set(ids)) == min(k, len(expected)), (ids, expected)
        for m in res.matches:
            assert m.id in expected
            assert math.isclose(m.score, expected[m.id], rel_tol=1e-4, abs_tol=1e-4)
            assert m.metadata == self.model[m.id]["metadata"]
        best = sorted(expected.values(), reverse=self.metric != "euclidean")[: len(ids)]
        assert np.allclose([m.score for m in res.matches], best, rtol=1e-4, atol=1e-4)

    @invariant()
    def fetch_count_and_list_match(self) -> None:
        if self.client is None:
            return
        ids = self.ids_to_fetch()
        got: dict[str, Any] = {}
        for start in range(0, len(ids), 1000):  # the fetch limit
            got.update(self.index.fetch(ids=ids[start : start + 1000]).vectors)
        assert set(got) == set(ids) & set(self.model)
        for rid, vec in got.items():
            rec = self.model[rid]
            assert np.array_equal(np.asarray(vec.values, dtype=np.float32), rec["values"])
            assert (vec.metadata or {}) == rec["metadata"]
        assert self.index.describe_index_stats().total_vector_count == len(self.model)
        assert [i for page in self.index.list() for i in page] == sorted(self.model)


EngineVsModel.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestEngineVsModel = EngineVsModel.TestCase
