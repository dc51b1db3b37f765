"""Smoke test: ``benchmarks/scale_out.py --small`` runs three nodes and writes every figure.

No timing assertions beyond what the run must show: every figure there and positive,
warm queries costing no store request, every read with its write's LSN seeing the write.
Marked ``bench`` (``make test`` runs it, ``make test-fast`` not), and ``s3`` / ``slow``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.bench, pytest.mark.s3, pytest.mark.slow]
SCALE_OUT = Path(__file__).resolve().parents[2] / "benchmarks" / "scale_out.py"


def test_scale_out_benchmark_small(tmp_path: Path) -> None:
    out = tmp_path / "scale_out.json"
    proc = subprocess.run(
        [sys.executable, str(SCALE_OUT), "--small", "--seconds", "1", "--samples", "4",
         "--out", str(out)],
        capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["parameters"]["refresh_interval_seconds"] > 0
    assert doc["load"]["slabs"] and all(s["bytes"] > 0 for s in doc["load"]["slabs"])
    counted = doc["requests_per_query"]
    assert counted["cold_first_query"]["total"] > 0
    assert counted["warm_same_query"]["total"] == 0
    assert counted["read_your_writes_catch_up"]["total"] > 0
    for n in (1, 2, 3):
        step = doc["throughput"][f"{n}_nodes"]
        assert step["qps"] > 0 and step["serving_node_cpu_ms_per_query"] > 0
        assert step["latency"]["p99_ms"] >= step["latency"]["p50_ms"] > 0
    stale = doc["staleness_through_another_node"]
    assert stale["samples"] == 4 and stale["max_ms"] >= stale["p50_ms"] > 0
    assert doc["read_your_writes"]["all_visible_at_once"]
    assert doc["read_your_writes"]["fetch_with_min_lsn"]["p50_ms"] > 0
    assert "bulk" in doc
