"""Slabs on S3 (moto) are read by range through the slab cache: a cold query costs a
bounded number of requests (docs/design/read-path.md), a warm one costs none."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import slabdb
from slabdb import EngineConfig
from slabdb.core.config import AnnConfig, CacheConfig
from slabdb.engine.maintenance import compact_until_idle
from slabdb.storage import open_store
from slabdb.testing import HookStore

pytestmark = pytest.mark.s3

ROWS, DIM, K = 24_000, 32, 10
BASE = EngineConfig(
    background=False,
    flush_records=8_000,
    level_fanout=3,
    ann=AnnConfig(min_rows=20_000),
)


def _config(tmp_path: Path, name: str) -> EngineConfig:
    """A config with its own cache (so each client starts cold)."""
    cache = CacheConfig(
        memory_bytes=64 * 2**20, disk_bytes=256 * 2**20, disk_dir=str(tmp_path / name)
    )
    return EngineConfig(**{**BASE.__dict__, "cache": cache})


def _ingest(url: str, tmp_path: Path) -> None:
    db = slabdb.connect(url, config=_config(tmp_path, "ingest"))
    db.create_index(name="s", dimension=DIM, metric="cosine")
    index = db.Index("s")
    vectors = np.random.default_rng(0).standard_normal((ROWS, DIM)).astype(np.float32)
    for start in range(0, ROWS, 1000):
        index.upsert(vectors=[(f"v{i}", vectors[i].tolist()) for i in range(start, start + 1000)])
    index.flush()
    (engine,) = db.open_namespaces()
    compact_until_idle(engine)
    assert [s.level for s in engine.manifest.slabs] == [1]
    db.close(flush=False)


REQUESTS = ("get", "get_range", "head", "list", "put", "put_if_absent", "put_if_match", "delete")


def _requests(store: HookStore) -> dict[str, int]:
    """Object-store requests by kind since the last clear (each call is one request)."""
    found = {name: store.calls[name] for name in REQUESTS if store.calls.get(name)}
    store.calls.clear()
    return found


def test_cold_query_costs_a_bounded_number_of_requests_and_warm_none(
    s3_url: str, tmp_path: Path
) -> None:
    _ingest(s3_url, tmp_path)
    store = HookStore(open_store(s3_url))
    db = slabdb.Client(store, _config(tmp_path, "reader"))
    index = db.Index("s")
    query = np.random.default_rng(1).standard_normal(DIM).astype(np.float32).tolist()
    _requests(store)
    first = index.query(vector=query, top_k=K)  # opens the namespace, reads the slab
    cold = _requests(store)
    second = index.query(vector=query, top_k=K)
    warm = _requests(store)
    other = index.query(vector=[-x for x in query], top_k=K)  # other re-rank rows
    cold_pages = _requests(store)
    assert [m.id for m in first.matches] == [m.id for m in second.matches]
    assert len(first.matches) == len(other.matches) == K
    # cold: catalog entry, namespace marker, manifest, the log's end (GETs and LISTs);
    # for the slab: its footer, its hot sections in one GET, then one GET per run of
    # vector pages holding the re-ranked rows (at most one per candidate)
    assert cold["get_range"] <= 2 + 10
    assert cold["get"] + cold.get("list", 0) + cold.get("head", 0) <= 8
    assert warm == {}  # a warm query touches the object store not at all
    assert set(cold_pages) <= {"get_range"} and cold_pages.get("get_range", 0) <= 10
    print(f"\ncold={cold} warm={warm} new-rows={cold_pages}")
    db.close(flush=False)


def test_a_new_client_of_the_same_process_reads_slabs_from_the_cache(
    s3_url: str, tmp_path: Path
) -> None:
    _ingest(s3_url, tmp_path)
    config = _config(tmp_path, "shared")
    query = np.random.default_rng(2).standard_normal(DIM).astype(np.float32).tolist()
    for attempt in range(2):
        store = HookStore(open_store(s3_url))
        db = slabdb.Client(store, config)
        db.Index("s").query(vector=query, top_k=K)
        requests = _requests(store)
        slab_reads = requests.get("get_range", 0)
        assert slab_reads >= 2 if attempt == 0 else slab_reads == 0
        print(f"\nclient {attempt}: {requests}")
        db.close(flush=False)
