"""Back-pressure on the write path: with a background flusher that has not caught up,
a writer flushes the waiting memtables itself once ``max_frozen_memtables`` of them wait
(default 2, ``SLABDB_MAX_FROZEN_MEMTABLES``), so an ingest never leaves more than that
many memtables unflushed (each one is searched exactly until it is flushed)."""

from __future__ import annotations

import numpy as np
import pytest

from slabdb import EngineConfig
from slabdb.core.config import DEFAULT_MAX_FROZEN_MEMTABLES
from slabdb.core.ops import UpsertOp
from slabdb.core.values import IndexSpec
from slabdb.engine.namespace import Namespace
from slabdb.storage import open_store


@pytest.mark.parametrize("limit", [DEFAULT_MAX_FROZEN_MEMTABLES, 4])
def test_a_writer_flushes_once_the_limit_of_frozen_memtables_waits(limit: int) -> None:
    assert DEFAULT_MAX_FROZEN_MEMTABLES == 2
    woken: list[int] = []
    config = EngineConfig(background=True, flush_records=10, max_frozen_memtables=limit)
    spec = IndexSpec(dimension=4, metric="cosine", vector_type="dense")
    # the background flusher is woken but never runs: only the writer can flush
    ns = Namespace(open_store("memory://"), "p/", spec, config, on_frozen=lambda n: woken.append(1))
    seen: list[int] = []
    for batch in range(12):
        ids = [f"r{batch}-{i}" for i in range(10)]  # each write fills and freezes a memtable
        vectors = np.ones((10, 4), dtype=np.float32)
        ns.write_lsn([UpsertOp(ids=ids, vectors=vectors, metadata=[None] * 10)])
        seen.append(ns.stats()["frozen_memtables"])
    assert max(seen) == limit - 1  # the write that made ``limit`` wait flushed them
    assert woken  # below the limit the background flusher is asked instead
    assert len(ns.manifest.slabs) >= 12 - (limit - 1)
    assert ns.view().count == 120
