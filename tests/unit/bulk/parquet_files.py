"""Parquet files in Pinecone's import layout, written with pyarrow, for the bulk tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SPARSE_TYPE = pa.struct([("indices", pa.list_(pa.uint32())), ("values", pa.list_(pa.float32()))])


def vectors_for(ids: list[str], dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((len(ids), dim)) + 0.1).astype(np.float32)


def write_file(
    path: Path,
    ids: list[Any],
    values: list[Any] | np.ndarray,
    metadata: list[Any] | None = None,
    sparse: list[Any] | None = None,
    row_group_size: int = 100,
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    columns: dict[str, Any] = {
        "id": pa.array(ids, type=pa.string()),
        "values": pa.array(
            [None if v is None else list(v) for v in values], pa.list_(pa.float32())
        ),
    }
    if metadata is not None:
        columns["metadata"] = pa.array(
            [None if m is None else m if isinstance(m, str) else json.dumps(m) for m in metadata],
            type=pa.string(),
        )
    if sparse is not None:
        columns["sparse_values"] = pa.array(sparse, type=SPARSE_TYPE)
    pq.write_table(pa.table(columns), path, row_group_size=row_group_size)


def write_namespace(root: Path, namespace_dir: str, files: int, rows: int, dim: int) -> dict:
    """``files`` files of ``rows`` records each; returns id -> (vector, metadata)."""
    expected = {}
    for f in range(files):
        ids = [f"{namespace_dir}-{f}-{i}" for i in range(rows)]
        vecs = vectors_for(ids, dim, seed=hash((namespace_dir, f)) % 2**32)
        meta = [{"file": f, "i": i, "tag": ["a", "b"][i % 2]} for i in range(rows)]
        write_file(root / namespace_dir / f"{f:03d}.parquet", ids, vecs, meta)
        expected.update({rid: (vecs[i], meta[i]) for i, rid in enumerate(ids)})
    return expected
