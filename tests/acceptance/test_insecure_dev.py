"""`slabdb serve --insecure-dev`: the CI drop-in for Pinecone's emulator (any key works)."""

from __future__ import annotations

from pathlib import Path

from pinecone import Pinecone, ServerlessSpec
from slabdb_server_process import ServerProcess


def test_any_api_key_is_accepted(tmp_path: Path) -> None:
    with ServerProcess(data=tmp_path / "data", extra_args=("--insecure-dev",)) as srv:
        for key in ("anything", "another-key"):
            with Pinecone(api_key=key, host=srv.url) as pc:
                if not pc.has_index("ci"):
                    pc.create_index(
                        name="ci", dimension=2, metric="cosine",
                        spec=ServerlessSpec(cloud="aws", region="us-east-1"),
                    )  # fmt: skip
                idx = pc.Index("ci")
                assert pc.describe_index("ci").host.startswith("http://127.0.0.1:")
                idx.upsert(vectors=[(key, [1.0, 0.5])])
                assert key in idx.fetch(ids=[key]).vectors
        with Pinecone(api_key="third", host=srv.url) as pc:
            ids = {m.id for m in pc.Index("ci").query(vector=[1.0, 0.5], top_k=5).matches}
            assert ids == {"anything", "another-key"}  # every key sees the same project
