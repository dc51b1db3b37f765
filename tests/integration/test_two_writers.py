"""Two processes writing one namespace on one store never lose an acknowledged write.

Both writers flush, compact and garbage-collect in the background while they
race for WAL LSNs (create-if-absent) and manifest versions (compare-and-swap).
Run on a local directory and on S3 (moto's server).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import slabdb
from slabdb import EngineConfig

sys.path.insert(0, str(Path(__file__).parent))
from writer_child import batch_records

CHILD = Path(__file__).parent / "writer_child.py"
BATCHES = 60

pytestmark = pytest.mark.slow


def _run_two_writers(url: str, env: dict[str, str], go_file: Path) -> None:
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(CHILD),
                "--url",
                url,
                "--writer",
                w,
                "--batches",
                str(BATCHES),
                "--flush-records",
                "150",
                "--go-file",
                str(go_file),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
        )
        for w in ("a", "b")
    ]
    for p in procs:  # both are connected and waiting: start them together
        assert p.stdout is not None and p.stdout.readline().strip() == "READY"
    go_file.touch()
    outputs = [p.communicate(timeout=600) for p in procs]
    conflicts = 0
    for p, (out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]
        assert f"ACK {BATCHES - 1}" in out and "DONE" in out
        stats = json.loads(next(line for line in out.splitlines() if line.startswith("STATS "))[6:])
        conflicts += stats["wal_conflicts"]
    assert conflicts > 0, "the writers never raced for an LSN: the test exercised nothing"

    db = slabdb.connect(url, config=EngineConfig(background=False))
    try:
        index = db.Index("crash")
        expected = {
            rec["id"]: rec
            for w in ("a", "b")
            for b in range(BATCHES)
            for rec in batch_records(w, b, overwrite=False)
        }
        ids = sorted(expected)
        got: dict = {}
        for start in range(0, len(ids), 1000):
            got.update(index.fetch(ids=ids[start : start + 1000]).vectors)
        missing = set(ids) - set(got)
        assert not missing, f"{len(missing)} acknowledged records lost, e.g. {sorted(missing)[:5]}"
        for rid, vec in got.items():
            assert np.array_equal(
                np.asarray(vec.values, dtype=np.float32),
                np.asarray(expected[rid]["values"], dtype=np.float32),
            )
            assert vec.metadata == expected[rid]["metadata"]
        assert index.describe_index_stats().total_vector_count == len(ids)
        # Every slab the manifest names exists: the manifest never forked or dangled.
        ns = db.open_namespaces()[0]
        for entry in ns.manifest.slabs:
            db.store.head(entry.key)
    finally:
        db.close(flush=False)


def test_two_processes_on_local_disk(tmp_path: Path) -> None:
    _run_two_writers(str(tmp_path / "db"), {}, tmp_path / "go")


@pytest.mark.s3
def test_two_processes_on_s3(s3_url: str, s3_server, tmp_path: Path) -> None:
    _run_two_writers(s3_url, s3_server.env, tmp_path / "go")
