"""One index builder per namespace: three nodes on one S3 store, the holder SIGKILLed
mid-compaction.  Nothing acknowledged is lost, publishes never interleave between
holders, another node takes over, and the slabs converge."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import slabdb
from slabdb import EngineConfig
from slabdb.engine.maintenance import compact_until_idle, planner_for

sys.path.insert(0, str(Path(__file__).parent))
from writer_child import batch_records

CHILD = Path(__file__).parent / "builder_child.py"
NODES = ("a", "b", "c")

pytestmark = [pytest.mark.slow, pytest.mark.s3]


class Node:
    def __init__(self, name: str, url: str, env: dict[str, str], stop: Path) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD), "--url", url, "--writer", name, "--stop-file", str(stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.out: list[str] = []
        self.holder = ""
        self.acked = -1
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.strip()
            self.out.append(line)
            if line.startswith("HOLDER "):
                self.holder = line.split()[1]
            elif line.startswith("ACK "):
                self.acked = int(line.split()[1])
            self.lines.put(line)

    def publishes(self) -> list[tuple[int, str, int]]:
        return [
            (int(v), holder, int(epoch))
            for _p, v, holder, epoch in (x.split() for x in self.out if x.startswith("PUBLISH "))
        ]


def _wait(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_lease_holder_killed_mid_compaction(s3_url: str, s3_server, tmp_path: Path) -> None:
    stop = tmp_path / "stop"
    nodes = [Node(n, s3_url, s3_server.env, stop) for n in NODES]
    try:
        _wait(lambda: all(n.holder for n in nodes), 60, "nodes to start")
        # The first node to compact holds the lease: kill it while it merges.
        victim = None
        deadline = time.monotonic() + 120
        while victim is None:
            assert time.monotonic() < deadline, "no node ever compacted"
            for n in nodes:
                if "COMPACTING" in n.out:
                    victim = n
                    break
            time.sleep(0.01)
        assert any(p[1] == victim.holder for p in victim.publishes()), "killed a non-holder"
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(timeout=30)
        killed_acks = victim.acked
        survivors = [n for n in nodes if n is not victim]
        # Another node takes the lease over and publishes (flushes and compactions).
        _wait(
            lambda: any(p for s in survivors for p in s.publishes() if p[1] == s.holder),
            60,
            "a surviving node to take the builder lease over",
        )
        _wait(lambda: all(s.acked >= 60 for s in survivors), 120, "more writes")
        stop.touch()
        for s in survivors:
            s.proc.wait(timeout=120)
            assert s.proc.returncode == 0, s.proc.stderr.read()[-3000:] if s.proc.stderr else ""
    finally:
        for n in nodes:
            if n.proc.poll() is None:
                n.proc.kill()

    _check_publishes(nodes, victim)
    acked = {n.name: (killed_acks if n is victim else n.acked) for n in nodes}
    _check_nothing_lost_and_slabs_converge(s3_url, acked)


def _check_publishes(nodes: list[Node], victim: Node) -> None:
    """Every publish was made by the lease holder of the moment; in manifest order the
    epoch never goes back, so two holders never interleaved."""
    publishes = sorted(p for n in nodes for p in n.publishes())
    per_node = {n.holder: n.publishes() for n in nodes}
    for holder, mine in per_node.items():
        for version, store_holder, _epoch in mine:
            assert store_holder == holder, (
                f"v{version} published by {holder} while {store_holder} held the lease"
            )
    versions = [v for v, _h, _e in publishes]
    assert len(versions) == len(set(versions)), "two processes published the same version"
    epochs = [e for _v, _h, e in publishes]
    assert epochs == sorted(epochs), f"publishes interleaved between holders: {publishes}"
    holders = {h for _v, h, _e in publishes}
    assert victim.holder in holders and len(holders) >= 2, "no takeover happened"


def _check_nothing_lost_and_slabs_converge(url: str, acked: dict[str, int]) -> None:
    config = EngineConfig(background=False, level_fanout=3, compaction_max_inputs=3)
    db = slabdb.connect(url, config=config)
    try:
        index = db.Index("crash")
        expected = {
            rec["id"]
            for name, last in acked.items()
            for b in range(last + 1)
            for rec in batch_records(name, b, overwrite=False)
        }
        ids = sorted(expected)
        got: set[str] = set()
        for start in range(0, len(ids), 1000):
            got |= set(index.fetch(ids=ids[start : start + 1000]).vectors)
        missing = expected - got
        assert not missing, f"{len(missing)} acknowledged records lost, e.g. {sorted(missing)[:5]}"
        ns = db.open_namespaces()[0]
        compact_until_idle(ns)
        assert planner_for(ns.config).plan(ns.manifest) is None, "slabs did not converge"
        for entry in ns.manifest.slabs:
            db.store.head(entry.key)
    finally:
        db.close(flush=False)
