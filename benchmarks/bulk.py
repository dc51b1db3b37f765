"""Bulk import from Parquet against the WAL upsert path, vectors/s, in one run.

    python benchmarks/bulk.py                 # 200k x 384 (about a minute on two cores)
    python benchmarks/bulk.py --n 1000000     # the full 1M x 384 run

Both load the same N x D float32 vectors (with a small metadata dict each) into a fresh
local-disk database:

* ``import``: Parquet files (``--files`` of them, written with pyarrow beforehand, not
  timed) through ``Index.start_import``: slabs built straight from the files, one manifest
  publish per namespace.  Timed until the import is Completed, i.e. every record is
  visible *and* in slabs (nothing left to flush).  Run twice: with the engine's ANN
  settings (slabs of >= 20k rows get an HNSW index while importing) and without ANN
  (like for like with the upsert path, whose 10k-row L0 slabs get none).
* ``upsert``: ``Index.upsert_arrays`` (1000 records per WAL entry), timed until it
  returns (acknowledged), then separately until ``flush`` has put the memtables into
  slabs (what the import-without-ANN figure includes), then until ``compact`` has nothing
  left to do (the L1/L2 slabs with their ANN indexes: what the import-with-ANN figure
  includes).

JSON to ``benchmarks/results/bulk.json`` (or ``--out``), with both rates and their ratio.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
import slabdb
from common import environment, write_json
from slabdb import EngineConfig
from slabdb.core.config import AnnConfig

RESULTS = Path(__file__).parent / "results"


def _vectors(n: int, dim: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, dim), dtype=np.float32) + 0.01


def _ids(n: int) -> list[str]:
    return [f"v{i}" for i in range(n)]


def write_parquet(root: Path, vectors: np.ndarray, files: int) -> float:
    """``files`` Parquet files under ``root/bench/``; returns their size in MB."""
    n, dim = vectors.shape
    ids = _ids(n)
    (root / "bench").mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, n, files + 1).astype(int)
    for f, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        flat = pa.array(vectors[lo:hi].reshape(-1), type=pa.float32())
        values = pa.FixedSizeListArray.from_arrays(flat, dim).cast(pa.list_(pa.float32()))
        meta = pa.array([json.dumps({"n": i % 100}) for i in range(lo, hi)], type=pa.string())
        table = pa.table({"id": pa.array(ids[lo:hi]), "values": values, "metadata": meta})
        pq.write_table(table, root / "bench" / f"{f:04d}.parquet", row_group_size=50_000)
    return sum(p.stat().st_size for p in (root / "bench").glob("*.parquet")) / 1e6


def _db(path: Path, dim: int, ann: bool = True) -> slabdb.Client:
    db = slabdb.connect(str(path), config=EngineConfig(ann=AnnConfig(enabled=ann)))
    db.create_index(name="bench", dimension=dim, metric="cosine")
    return db


def run_import(workdir: Path, src: Path, n: int, dim: int, ann: bool) -> dict[str, float]:
    db = _db(workdir / f"import-db-{ann}", dim, ann)
    index = db.Index("bench")
    t0 = time.perf_counter()
    started = index.start_import(str(src))
    model = index.bulk_imports().wait(started.id)
    seconds = time.perf_counter() - t0
    assert model.status == "Completed", model
    count = index.describe_index_stats().total_vector_count
    assert count == n, count
    db.close()
    return {"seconds": round(seconds, 3), "vectors_per_second": round(n / seconds, 1)}


def run_upsert(workdir: Path, vectors: np.ndarray) -> dict[str, float]:
    n, dim = vectors.shape
    db = _db(workdir / "upsert-db", dim)
    index = db.Index("bench")
    metadata = [{"n": i % 100} for i in range(n)]
    t0 = time.perf_counter()
    index.upsert_arrays(_ids(n), vectors, metadata, namespace="bench", show_progress=False)
    acked = time.perf_counter() - t0
    index.flush(namespace="bench")
    in_slabs = time.perf_counter() - t0
    tasks = index.compact(namespace="bench")
    compacted = time.perf_counter() - t0
    assert index.describe_index_stats().total_vector_count == n
    db.close()
    return {
        "seconds_acknowledged": round(acked, 3),
        "vectors_per_second_acknowledged": round(n / acked, 1),
        "seconds_in_slabs": round(in_slabs, 3),
        "vectors_per_second_in_slabs": round(n / in_slabs, 1),
        "compactions": tasks,
        "seconds_compacted": round(compacted, 3),
        "vectors_per_second_compacted": round(n / compacted, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--out", default=str(RESULTS / "bulk.json"))
    args = ap.parse_args()
    vectors = _vectors(args.n, args.dim)
    with tempfile.TemporaryDirectory(prefix="slabdb-bulk-") as tmp:
        work = Path(tmp)
        parquet_mb = write_parquet(work / "src", vectors, args.files)
        imported = run_import(work, work / "src", args.n, args.dim, ann=True)
        imported_no_ann = run_import(work, work / "src", args.n, args.dim, ann=False)
        upserted = run_upsert(work, vectors)
    doc = {
        "benchmark": "bulk",
        "environment": environment(),
        "parameters": {
            "n": args.n,
            "dim": args.dim,
            "files": args.files,
            "parquet_mb": round(parquet_mb, 1),
        },
        "import": imported,
        "import_without_ann": imported_no_ann,
        "upsert_arrays": upserted,
        "ratios": {
            "import_vs_upsert_acknowledged": round(
                imported["vectors_per_second"] / upserted["vectors_per_second_acknowledged"], 2
            ),
            "import_vs_upsert_in_slabs": round(
                imported["vectors_per_second"] / upserted["vectors_per_second_in_slabs"], 2
            ),
            "import_vs_upsert_compacted": round(
                imported["vectors_per_second"] / upserted["vectors_per_second_compacted"], 2
            ),
            "import_without_ann_vs_upsert_in_slabs": round(
                imported_no_ann["vectors_per_second"] / upserted["vectors_per_second_in_slabs"], 2
            ),
        },
    }
    path = write_json(args.out, doc)
    print(
        json.dumps(
            {
                k: doc[k]
                for k in ("parameters", "import", "import_without_ann", "upsert_arrays", "ratios")
            },
            indent=1,
        )
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
