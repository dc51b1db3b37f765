"""Indexes, data and keys survive a restart; SIGKILL loses no acknowledged upsert."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import httpx
from pinecone import Pinecone, ServerlessSpec
from slabdb_server_process import ServerProcess

SPEC = ServerlessSpec(cloud="aws", region="us-east-1")


def test_restart_and_sigkill(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = ServerProcess(data=data).start()
    key, port = srv.api_key, srv.port
    try:
        pc = Pinecone(api_key=key, host=srv.url)
        pc.create_index(name="durable", dimension=2, metric="euclidean", spec=SPEC, tags={"t": "1"})
        pc.Index("durable").upsert(vectors=[(f"v{i}", [float(i), 1.0]) for i in range(50)])
    finally:
        assert srv.stop(signal.SIGTERM) == 0
    srv = ServerProcess(data=data, port=port).start()
    assert srv.api_key == key  # read back from the 0600 key file
    assert "Created project" not in srv.output
    assert (data / "_control" / "default-api-key").stat().st_mode & 0o777 == 0o600
    acked: list[str] = []
    try:
        pc = Pinecone(api_key=key, host=srv.url)
        assert pc.describe_index("durable").tags == {"t": "1"}
        idx = pc.Index("durable")
        assert idx.describe_index_stats().total_vector_count == 50
        host = pc.describe_index("durable").host
        stop = threading.Event()

        def writer(worker: int) -> None:
            with httpx.Client(headers={"Api-Key": key}) as http:
                for n in range(10_000):
                    if stop.is_set():
                        return
                    rid = f"w{worker}-{n}"
                    try:
                        r = http.post(
                            host + "/vectors/upsert",
                            json={"vectors": [{"id": rid, "values": [1.0, 2.0]}]},
                        )
                    except httpx.HTTPError:
                        return
                    if r.status_code == 200:
                        acked.append(rid)

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        while len(acked) < 200:
            threading.Event().wait(0.01)
        srv.stop(signal.SIGKILL)
        stop.set()
        for t in threads:
            t.join()
    finally:
        srv.stop()
    srv = ServerProcess(data=data, port=port).start()
    try:
        idx = Pinecone(api_key=key, host=srv.url).Index("durable")
        found: set[str] = set()
        for start in range(0, len(acked), 500):
            found |= set(idx.fetch(ids=acked[start : start + 500]).vectors)
        assert found == set(acked)
        assert idx.describe_index_stats().total_vector_count >= 50 + len(acked)
    finally:
        srv.stop()
