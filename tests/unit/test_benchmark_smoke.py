"""Smoke test: ``benchmarks/engine.py --quick`` runs and writes the expected JSON.

No timing assertions: only that every figure is there and positive.  Marked ``bench``:
``make test`` runs it (it keeps the benchmark script from rotting), ``make test-fast`` not.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.bench
ENGINE = Path(__file__).resolve().parents[2] / "benchmarks" / "engine.py"


def test_engine_benchmark_quick(tmp_path: Path) -> None:
    out = tmp_path / "engine.json"
    proc = subprocess.run(
        [sys.executable, str(ENGINE), "--quick", "--out", str(out), "--peers", "numpy,faiss-flat"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())

    for key in ("environment", "parameters", "dataset", "systems", "ratios", "skipped"):
        assert key in doc
    env = doc["environment"]
    assert env["cpu_count"] > 0
    assert env["numpy"] and "openblas_coretype_set" in env

    systems = doc["systems"]
    assert set(systems) == {"slabdb", "slabdb-dict", "numpy", "faiss-flat"}
    for name, system in systems.items():
        assert system["status"] == "ok", (name, system.get("reason"))
        assert system["ingest"]["vectors_per_s"] > 0
        assert system["memory"]["peak_rss_mb"] > 0

    slab = systems["slabdb"]
    life = slab["lifecycle"]
    assert life["compaction"]["seconds"] > 0
    assert life["flush"]["seconds"] > 0
    assert life["after_ingest"]["slabs_per_level"]
    assert life["after_compaction"]["slabs_per_level"]
    assert life["fresh_state"]["memtable_records"] > 0
    for stage in ("l0", "compacted", "fresh"):
        for fname in ("none", "selective", "broad"):
            q = slab["queries"][stage][fname]
            assert q["p50_ms"] > 0 and q["p99_ms"] >= q["p50_ms"]
            assert q["recall_at_k"] > 0
            assert "ids" not in q

    for peer in ("numpy", "faiss-flat"):
        for fname in ("none", "selective", "broad"):
            assert systems[peer]["queries"]["built"][fname]["p50_ms"] > 0
        ratios = doc["ratios"][peer]
        assert ratios["ingest_seconds"] > 0
        assert ratios["query_none_p50"] > 0 and ratios["query_selective_p99"] > 0
