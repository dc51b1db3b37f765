"""Pinecone's import API over the wire: SDK 10's ``start_import`` / ``describe_import`` /
``list_imports`` / ``cancel_import`` against ``slabdb serve`` (REST; SDK 10's gRPC index
sends them over REST too), from a small Parquet directory written with pyarrow, and
which import URIs a server accepts (``--import-root``)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pinecone import Pinecone, RetryConfig, ServerlessSpec
from pinecone.errors import PineconeError
from slabdb_server_process import ServerProcess

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

SPEC = ServerlessSpec(cloud="aws", region="us-east-1")
TERMINAL = ("Completed", "Failed", "Cancelled")


def write_parquet(path: Path, ids: list[str], values: list[list[float]], tag: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "id": pa.array(ids, pa.string()),
            "values": pa.array(values, pa.list_(pa.float32())),
            "metadata": pa.array([json.dumps({"tag": tag, "n": i}) for i in range(len(ids))]),
        }
    )
    pq.write_table(table, path)


@pytest.fixture(scope="module")
def import_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = Path(tmp_path_factory.mktemp("imports"))
    job = root / "job"
    write_parquet(job / "docs" / "0.parquet", [f"d{i}" for i in range(30)],
                  [[1.0, float(i)] for i in range(30)], "docs")  # fmt: skip
    write_parquet(job / "__default__" / "0.parquet", ["x", "y"], [[0.0, 1.0], [1.0, 1.0]], "def")
    bad = root / "with-bad-rows"
    write_parquet(bad / "ns" / "0.parquet", ["ok1", "short", "ok2"],
                  [[1.0, 0.0], [1.0], [0.0, 1.0]], "mixed")  # fmt: skip
    return root


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, import_root: Path) -> Iterator[ServerProcess]:
    data = Path(tmp_path_factory.mktemp("slabdb-import-data"))
    with ServerProcess(data=data, extra_args=("--import-root", str(import_root))) as server:
        yield server


@pytest.fixture(scope="module")
def pc(srv: ServerProcess) -> Iterator[Pinecone]:
    with Pinecone(
        api_key=srv.api_key, host=srv.url, grpc_scheme="http",
        retry_config=RetryConfig(max_retries=0),
    ) as client:  # fmt: skip
        yield client


def _new_index(pc: Pinecone, name: str) -> object:
    pc.create_index(name=name, dimension=2, metric="euclidean", spec=SPEC)
    return pc.index(name=name)


def wait_done(index: object, import_id: str, timeout: float = 60.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        model = index.describe_import(import_id)  # type: ignore[attr-defined]
        if model.status in TERMINAL:
            return model
        time.sleep(0.1)
    raise AssertionError(f"import {import_id} not finished in {timeout}s")


def test_sdk10_start_import_imports_every_namespace(pc: Pinecone, import_root: Path) -> None:
    idx = _new_index(pc, "imported")
    started = idx.start_import(uri=str(import_root / "job"), error_mode="abort")
    done = wait_done(idx, started.id)
    assert (done.status, done.records_imported, done.percent_complete) == ("Completed", 32, 100)
    assert done.uri == str(import_root / "job")
    fetched = idx.fetch(ids=["d7", "d29"], namespace="docs").vectors
    assert fetched["d7"].values == [1.0, 7.0] and fetched["d7"].metadata == {"tag": "docs", "n": 7}
    assert sorted(idx.fetch(ids=["x", "y"]).vectors) == ["x", "y"]  # the default namespace
    assert [m.id for m in idx.list_imports()] == [started.id]


def test_continue_skips_bad_rows_and_counts_them(pc: Pinecone, import_root: Path) -> None:
    idx = _new_index(pc, "mixed")
    started = idx.start_import(uri=str(import_root / "with-bad-rows"), error_mode="continue")
    done = wait_done(idx, started.id)
    assert (done.status, done.records_imported) == ("Completed", 2)
    assert sorted(idx.fetch(ids=["ok1", "short", "ok2"], namespace="ns").vectors) == ["ok1", "ok2"]


def test_abort_fails_on_a_bad_row(pc: Pinecone, import_root: Path) -> None:
    idx = _new_index(pc, "aborted")
    started = idx.start_import(uri=str(import_root / "with-bad-rows"))
    done = wait_done(idx, started.id)
    assert done.status == "Failed" and done.error
    assert idx.fetch(ids=["ok1"], namespace="ns").vectors == {}


def test_grpc_index_imports_too(pc: Pinecone, import_root: Path) -> None:
    pc.create_index(name="grpc-import", dimension=2, metric="euclidean", spec=SPEC)
    gidx = pc.index(name="grpc-import", grpc=True)
    started = gidx.start_import(uri=str(import_root / "job"))
    assert wait_done(gidx, started.id).status == "Completed"
    assert gidx.fetch(ids=["d3"], namespace="docs").vectors["d3"].values == [1.0, 3.0]


def test_list_imports_pages_and_cancel(pc: Pinecone, import_root: Path) -> None:
    idx = _new_index(pc, "paged")
    first = idx.start_import(uri=str(import_root / "job"))
    wait_done(idx, first.id)
    second = idx.start_import(uri=str(import_root / "with-bad-rows"), error_mode="continue")
    wait_done(idx, second.id)
    page = idx.list_imports_paginated(limit=1)
    assert [m.id for m in page] == [first.id] and page.pagination is not None
    nxt = idx.list_imports_paginated(limit=1, pagination_token=page.pagination.next)
    assert [m.id for m in nxt] == [second.id]
    idx.cancel_import(first.id)  # finished: no effect
    assert idx.describe_import(first.id).status == "Completed"
    with pytest.raises(PineconeError, match="not found"):
        idx.describe_import("999")
    with pytest.raises(PineconeError, match="not found"):
        idx.cancel_import("999")


@pytest.mark.parametrize(
    ("uri", "refusal"),
    [
        ("/etc", "not under this server's --import-root"),
        ("{root}/../{outside}", "not under this server's --import-root"),
        ("{root}/link-out", "not under this server's --import-root"),
        ("{root}/file-link", "symlink out of --import-root: ns/0.parquet"),
        ("{data}", "own data store"),
        ("gs://bucket/dir", "not supported"),
    ],
)
def test_import_uris_outside_the_root_are_refused(
    pc: Pinecone,
    srv: ServerProcess,
    import_root: Path,
    uri: str,
    refusal: str,
) -> None:
    outside = import_root.parent / "outside"
    if not outside.exists():
        write_parquet(outside / "ns" / "0.parquet", ["o"], [[1.0, 1.0]], "outside")
        (import_root / "link-out").symlink_to(outside)
        (import_root / "file-link" / "ns").mkdir(parents=True)
        (import_root / "file-link" / "ns" / "0.parquet").symlink_to(outside / "ns" / "0.parquet")
    idx = pc.index(name="imported") if "imported" in pc.list_indexes().names() else None
    idx = idx or _new_index(pc, "imported")
    with pytest.raises(PineconeError, match=refusal):
        idx.start_import(uri=uri.format(root=import_root, data=srv.data, outside="outside"))


def test_local_paths_are_refused_without_an_import_root(
    server: ServerProcess, import_root: Path
) -> None:
    with Pinecone(api_key=server.api_key, host=server.url) as pc:
        idx = _new_index(pc, "no-root")
        with pytest.raises(PineconeError, match="--import-root"):
            idx.start_import(uri=str(import_root / "job"))
        assert list(idx.list_imports()) == []
