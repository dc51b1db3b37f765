"""Crash safety: an acknowledged write survives SIGKILL at any moment.

A child process ingests in a loop (with background flush, compaction and WAL/slab
garbage collection, plus foreground flushes and compactions) and reports every
acknowledged batch.  The parent SIGKILLs it at random moments, at least 20 times,
reopens the store each time and checks every acknowledged record is present with
identical values and metadata.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import slabdb
from slabdb import EngineConfig

sys.path.insert(0, str(Path(__file__).parent))
from writer_child import batch_records

CHILD = Path(__file__).parent / "writer_child.py"
KILLS = 20

pytestmark = pytest.mark.slow


class Child:
    """A running writer_child.py whose stdout lines are collected by a thread."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.lines: list[str] = []
        self.phase_seen = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.strip())
            if line.startswith("PHASE"):
                self.phase_seen.set()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while "READY" not in self.lines:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"child died: {self.proc.stderr.read() if self.proc.stderr else ''}"
                )
            if time.monotonic() > deadline:
                raise AssertionError("child never became ready")
            time.sleep(0.01)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._reader.join(timeout=10)

    def acked(self) -> list[int]:
        return [int(line.split()[1]) for line in self.lines if line.startswith("ACK ")]


def expected_state(acked: set[int], inflight: set[int]) -> dict[str, list[dict | None]]:
    """id -> acceptable stored versions (None: may be absent).

    Batches run in number order.  An acknowledged batch definitely applied, so it
    resets an id's options to its own version; an in-flight batch (killed before
    its ACK) may or may not have applied, so it adds its version as an option.
    """
    state: dict[str, list[dict | None]] = {}
    for batch in sorted(acked | inflight):
        for rec in batch_records("w", batch, overwrite=True):
            if batch in acked:
                state[rec["id"]] = [rec]
            else:
                state[rec["id"]] = [*state.get(rec["id"], [None]), rec]
    return state


def verify(url: str, acked: set[int], inflight: set[int]) -> int:
    """Check the store against the batch history; returns how many records are present."""
    db = slabdb.connect(url, config=EngineConfig(background=False))
    try:
        index = db.Index("crash")
        expect = expected_state(acked, inflight)
        ids = sorted(expect)
        present: set[str] = set()
        for start in range(0, len(ids), 1000):
            got = index.fetch(ids=ids[start : start + 1000]).vectors
            for rid, vec in got.items():
                present.add(rid)
                stored = (np.asarray(vec.values, dtype=np.float32), vec.metadata)
                assert any(
                    o is not None
                    and np.array_equal(stored[0], np.asarray(o["values"], dtype=np.float32))
                    and stored[1] == o["metadata"]
                    for o in expect[rid]
                ), f"{rid}: stored {vec.metadata} is none of the acceptable versions"
        must = {rid for rid, options in expect.items() if None not in options}
        missing = must - present
        assert not missing, f"{len(missing)} acknowledged records lost, e.g. {sorted(missing)[:5]}"
        stats = index.describe_index_stats()
        assert stats.total_vector_count == len(present)
        res = index.query(vector=[1.0] * 8, top_k=5)
        assert len(res.matches) == min(5, len(present))
        return len(present)
    finally:
        db.close(flush=False)


def test_sigkill_never_loses_an_acknowledged_write(tmp_path: Path) -> None:
    url = str(tmp_path / "db")
    rnd = random.Random(1234)
    acked: set[int] = set()
    inflight: set[int] = set()
    next_batch = 0
    kills_in_phase = 0
    for round_no in range(KILLS):
        child = Child(["--url", url, "--start", str(next_batch), "--overwrite", "--phases"])
        child.wait_ready()
        if round_no % 3 == 2:  # kill right inside a foreground flush or compaction
            assert child.phase_seen.wait(timeout=60)
            time.sleep(rnd.uniform(0.0, 0.05))
            kills_in_phase += 1
        else:
            time.sleep(rnd.uniform(0.05, 1.0))
        child.kill()
        assert child.proc.returncode == -signal.SIGKILL
        got = child.acked()
        acked |= set(got)
        last = max(got) if got else next_batch - 1
        inflight.add(last + 1)  # killed before (or right after) writing it
        verify(url, acked, inflight)
        next_batch = last + 2  # batch numbers are never reused
    assert len(acked) > 50, "the child acknowledged too little to test anything"
    assert kills_in_phase >= 6
