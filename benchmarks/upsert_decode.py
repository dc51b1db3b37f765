"""Server-side decoding + validation of one 1000-record upsert, in one process: the gRPC
request bytes and the REST JSON body as the official SDK sends them, through the
server's own parsing into the WAL operation (``requests.upsert_op``). CPU milliseconds,
best of 5. No server, no network: this isolates what ``api/grpc`` and ``api/rest`` cost.

    .venv/bin/python benchmarks/upsert_decode.py [--records 1000]

REST is measured at 128-d only: 1000 records of 384 JSON numbers pass the 2 MB limit.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from slabdb.api.grpc import parse
from slabdb.api.grpc.gen import db_data_pb2 as pb
from slabdb.api.grpc.handlers import deserializer
from slabdb.api.rest.models import UpsertRequest
from slabdb.client import requests
from slabdb.client.catalog import IndexConfig

try:
    from slabdb.api.rest.upsert_body import decode_json
except ImportError:  # a tree from before the orjson route: FastAPI's json.loads
    decode_json = json.loads


def cpu_ms(fn: Callable[[], Any], repeat: int = 30) -> float:
    """Best of 5 means of ``repeat`` calls, in CPU milliseconds."""
    fn()
    means = []
    for _ in range(5):
        start = time.process_time()
        for _ in range(repeat):
            fn()
        means.append((time.process_time() - start) / repeat * 1000)
    return round(min(means), 2)


def measure(dim: int, n: int, rng: np.random.Generator, rest: bool) -> dict[str, float]:
    """gRPC (and with ``rest``, REST) decoding + validation of ``n`` records of ``dim``
    values."""
    rows = np.round(rng.standard_normal((n, dim)), 4).tolist()
    ids = [f"r{i}" for i in range(n)]
    cfg = IndexConfig(
        name="i", dimension=dim, metric="cosine", vector_type="dense", incarnation="x"
    )
    vectors = [pb.Vector(id=i, values=r) for i, r in zip(ids, rows, strict=True)]
    data = pb.UpsertRequest(vectors=vectors).SerializeToString()  # the SDK's very bytes
    grpc_in = deserializer(pb.UpsertRequest)
    records = [{"id": i, "values": r} for i, r in zip(ids, rows, strict=True)]
    body = json.dumps({"vectors": records}).encode()
    out = {
        f"grpc_{dim}d_ms": cpu_ms(
            lambda: requests.upsert_op(cfg, parse.upsert(grpc_in(data)).vectors)
        )
    }
    if rest:
        out[f"rest_{dim}d_ms"] = cpu_ms(
            lambda: requests.upsert_op(
                cfg, UpsertRequest.model_validate(decode_json(body)).to_input().vectors
            ),
            repeat=10,
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1000)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    out = {**measure(128, args.records, rng, True), **measure(384, args.records, rng, False)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
