"""A writer process for the crash and multi-writer tests.

Writes batches whose content is a pure function of (writer, batch number), and
prints ``ACK <batch>`` only after ``upsert`` returned (the write is acknowledged).
With ``--phases`` it also flushes and compacts in the foreground now and then,
printing ``PHASE flush`` / ``PHASE compact`` first, so a parent can kill it there.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import zlib

import numpy as np

import slabdb
from slabdb import EngineConfig

DIM = 8
BATCH = 50
KEYSPACE = 1500


def batch_records(writer: str, batch: int, overwrite: bool) -> list[dict]:
    """Records of one batch; with ``overwrite`` ids repeat across batches."""
    out = []
    for i in range(BATCH):
        if overwrite:
            rid = f"{writer}-k{(batch * 37 + i * 11) % KEYSPACE}"
        else:
            rid = f"{writer}-b{batch}-{i}"
        rng = np.random.default_rng(zlib.crc32(f"{writer}/{batch}/{i}".encode()))
        vec = (rng.standard_normal(DIM).astype(np.float32) + 0.01).tolist()
        out.append(
            {"id": rid, "values": vec, "metadata": {"writer": writer, "batch": batch, "i": i}}
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--writer", default="w")
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--batches", type=int, default=10**9)
    ap.add_argument("--overwrite", action="store_true")
    ap.add_argument("--phases", action="store_true")
    ap.add_argument("--flush-records", type=int, default=200)
    ap.add_argument("--go-file", default=None, help="wait for this file before writing")
    args = ap.parse_args()
    config = EngineConfig(
        flush_records=args.flush_records,
        level_fanout=3,
        compaction_max_inputs=4,
        gc_grace_seconds=1.0,
        refresh_interval_seconds=0.2,
        background_interval_seconds=0.05,
    )
    db = slabdb.connect(args.url, config=config)
    if not db.has_index("crash"):
        with contextlib.suppress(slabdb.core.errors.AlreadyExistsError):  # the other writer won
            db.create_index(name="crash", dimension=DIM, metric="cosine")
    index = db.Index("crash")
    print("READY", flush=True)
    while args.go_file and not os.path.exists(args.go_file):
        time.sleep(0.005)
    for batch in range(args.start, args.start + args.batches):
        index.upsert(vectors=batch_records(args.writer, batch, args.overwrite))
        print(f"ACK {batch}", flush=True)
        if args.phases and batch % 7 == 3:
            print("PHASE flush", flush=True)
            index.flush()
        if args.phases and batch % 11 == 5:
            print("PHASE compact", flush=True)
            index.compact()
    print("STATS " + json.dumps(db.open_namespaces()[0].stats()), flush=True)
    db.close()
    print("DONE", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
