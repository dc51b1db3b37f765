"""``slabdb import`` SIGKILLed mid-import, then ``--resume``: every record lands exactly once.

Files are written with pyarrow in Pinecone's layout; the import runs as the CLI in a
child process on a local store; the parent watches ``describe_import`` and kills the
child once some chunks are durable but not all.  Chunks of 700 rows span the 2,000-row
files, so the resume carries on inside a run of chunks that cross file boundaries.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import slabdb
from slabdb import EngineConfig
from slabdb.storage.keys import import_pending_prefix

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "bulk"))
from parquet_files import write_namespace

pytestmark = pytest.mark.slow
DIM = 64
SLABDB = [sys.executable, "-m", "slabdb.cli"]


def _cli(*args: str) -> list[str]:
    return [*SLABDB, "import", *args, "--lease-seconds", "2", "--rows-per-slab", "700"]


def test_import_killed_and_resumed(tmp_path: Path) -> None:
    src, data = tmp_path / "src", tmp_path / "db"
    expected = write_namespace(src, "docs", files=12, rows=2000, dim=DIM)
    expected |= write_namespace(src, "__default__", files=1, rows=500, dim=DIM)
    db = slabdb.connect(str(data), config=EngineConfig(background=False))
    db.create_index(name="idx", dimension=DIM, metric="cosine")
    index = db.Index("idx")
    child = subprocess.Popen(
        _cli(str(src), "--index", "idx", "--data", str(data), "--quiet"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert time.monotonic() < deadline, "the import never made progress"
            assert child.poll() is None, (
                f"the import ended before the kill: {child.stderr.read() if child.stderr else ''}"
            )
            try:
                seen = index.describe_import("1")
            except slabdb.core.errors.NotFoundError:
                time.sleep(0.01)
                continue
            if seen.percent_complete >= 20.0:
                break
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    killed = index.describe_import("1")
    assert killed.status == "InProgress" and 0 < killed.percent_complete < 100, killed
    planned = index.bulk_imports().target.records.load("1")[0].plan
    docs_plan = next(p for p in planned if p.namespace == "docs")
    assert any(len({part.key for part in c.parts}) > 1 for c in docs_plan.chunks)
    # Namespaces publish atomically: __default__ (first, one chunk) is in, docs is not.
    counts = {k: v.vector_count for k, v in index.describe_index_stats().namespaces.items()}
    assert counts.get("docs", 0) == 0 and counts["__default__"] == 500, counts

    resumed = subprocess.run(
        _cli("--resume", "1", "--index", "idx", "--data", str(data)),
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Completed" in resumed.stdout
    db.close(flush=False)

    db = slabdb.connect(str(data), config=EngineConfig(background=False))
    index = db.Index("idx")
    done = index.describe_import("1")
    assert done.status == "Completed" and done.records_imported == len(expected)
    stats = index.describe_index_stats()
    assert stats.total_vector_count == len(expected), "a record imported twice or lost"
    for ns_name, prefix in (("docs", "docs-"), ("", "__default__-")):
        ids = sorted(i for i in expected if i.startswith(prefix))
        for start in range(0, len(ids), 1000):
            got = index.fetch(ids=ids[start : start + 1000], namespace=ns_name).vectors
            assert len(got) == len(ids[start : start + 1000])
            for rid, vec in got.items():
                assert np.array_equal(np.asarray(vec.values, dtype=np.float32), expected[rid][0])
                assert vec.metadata == expected[rid][1]
    for ns in db.open_namespaces():
        assert list(db.store.list(import_pending_prefix(ns.prefix))) == []
        assert (
            sum(s.count for s in ns.manifest.slabs)
            == stats.namespaces[
                "__default__" if ns.prefix.split("/")[2] == "d" else "docs"
            ].vector_count
        ), "an orphaned chunk slab was published"
    docs_ns = next(ns for ns in db.open_namespaces() if ns.prefix.split("/")[2] == "n-docs")
    assert [s.count for s in docs_ns.manifest.slabs] == [c.rows for c in docs_plan.chunks], (
        "the resumed import cut other chunks than planned"
    )
    db.close(flush=False)
