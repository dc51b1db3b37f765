"""Damage to small metadata objects is detected, never silently loses data.

Each case of issue 8 is reproduced by damaging the real objects, on a local directory
(the files) and on S3 (moto, through boto3): opening refuses with a CorruptionError
naming the object, and ``slabdb check`` reports it (exit status 1).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

import slabdb
from slabdb import EngineConfig
from slabdb.cli.main import app
from slabdb.core.errors import CorruptionError
from slabdb.engine.maintenance import collect_garbage
from slabdb.storage.keys import manifest_key, wal_key
from slabdb.testing.s3 import MotoS3Server
from unit.api_server.api_wires import served_index

MANUAL = EngineConfig(background=False, flush_records=100_000)


@dataclass
class Raw:
    """The store's objects, reached around SlabDB: files on disk, or S3 through boto3."""

    url: str
    root: Path | None = None
    s3: Any = None
    bucket: str = ""
    prefix: str = ""

    def read(self, key: str) -> bytes:
        if self.root is not None:
            return (self.root / key).read_bytes()
        return bytes(self.s3.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read())

    def write(self, key: str, data: bytes) -> None:
        if self.root is not None:
            (self.root / key).write_bytes(data)
        else:
            self.s3.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)

    def delete(self, key: str) -> None:
        if self.root is not None:
            (self.root / key).unlink()
        else:
            self.s3.delete_object(Bucket=self.bucket, Key=self.prefix + key)

    def keys(self, under: str) -> list[str]:
        if self.root is not None:
            base = self.root / under
            return sorted(str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file())
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + under
        )
        return sorted(o["Key"][len(self.prefix) :] for p in pages for o in p.get("Contents", []))

    def flip_bit(self, key: str, at: int, bit: int = 0) -> None:
        data = bytearray(self.read(key))
        data[at] ^= 1 << bit
        self.write(key, bytes(data))


@pytest.fixture(params=["local", "s3"])
def raw(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Raw]:
    if request.param == "local":
        yield Raw(url=str(tmp_path / "db"), root=tmp_path / "db")
        return
    import boto3

    url: str = request.getfixturevalue("s3_url")
    server: MotoS3Server = request.getfixturevalue("s3_server")
    parts = urlsplit(url)
    client = boto3.client("s3", endpoint_url=server.endpoint, **_boto_credentials(server))
    yield Raw(url=url, s3=client, bucket=parts.netloc, prefix=parts.path.strip("/") + "/")


def _boto_credentials(server: MotoS3Server) -> dict[str, str]:
    kwargs = server.store_kwargs
    return {
        "region_name": kwargs["region"],
        "aws_access_key_id": kwargs["access_key_id"],
        "aws_secret_access_key": kwargs["secret_access_key"],
    }


def _ingest(url: str, flushed: int = 30, after: int = 10, per_entry: int = 10) -> str:
    """``flushed`` one-record entries, flushed (checkpoint ``flushed``), then ``after``
    entries of ``per_entry`` records left in the log; returns the namespace prefix."""
    db = slabdb.connect(url, config=MANUAL)
    db.create_index(name="c", dimension=2, metric="euclidean")
    index = db.Index("c")
    for i in range(flushed):
        index.upsert(vectors=[(f"f{i}", [float(i), 1.0])])
    index.flush()
    for e in range(after):
        index.upsert(vectors=[(f"r{e}-{j}", [float(j), 2.0]) for j in range(per_entry)])
    prefix = db.open_namespaces()[0].prefix
    db.close(flush=False)
    return prefix


def _refused(url: str, naming: str) -> CorruptionError:
    db = slabdb.connect(url, config=MANUAL)
    try:
        with pytest.raises(CorruptionError) as caught:
            db.Index("c").fetch(ids=["f0", "r0-0"])
        assert naming in caught.value.message, caught.value.message
        return caught.value
    finally:
        db.close(flush=False)


def _checked(url: str, naming: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["check", "--data", url, "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    found = [f for f in report["findings"] if f["severity"] == "error" and naming in f["key"]]
    assert found, report
    return dict(found[0])


def test_intact_store_opens_and_checks_clean(raw: Raw) -> None:
    _ingest(raw.url)
    db = slabdb.connect(raw.url, config=MANUAL)
    assert db.Index("c").describe_index_stats().total_vector_count == 130
    db.close(flush=False)
    result = CliRunner().invoke(app, ["check", "--data", raw.url, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["findings"] == []


def test_checkpoint_30_to_31_in_the_manifest_is_refused(raw: Raw) -> None:
    prefix = _ingest(raw.url)
    key = manifest_key(prefix)
    edited = raw.read(key).replace(b'"checkpoint_lsn":30', b'"checkpoint_lsn":31')
    assert json.loads(edited)  # still valid JSON
    raw.write(key, edited)
    _refused(raw.url, key)
    assert "checksum mismatch" in _checked(raw.url, key)["problem"]


def test_one_bit_in_the_index_catalog_entry_is_refused(raw: Raw) -> None:
    _ingest(raw.url)
    key = "catalog/indexes/c.json"
    data = raw.read(key)
    raw.flip_bit(key, data.index(b'"name":"c","dimension"') + len('"name":"'))  # c -> b
    assert b'"name":"b"' in raw.read(key)
    _refused(raw.url, key)
    _checked(raw.url, key)


def test_one_bit_in_the_namespace_marker_is_refused_and_nothing_is_orphaned(raw: Raw) -> None:
    prefix = _ingest(raw.url)
    (marker,) = raw.keys("catalog/namespaces/")
    data = raw.read(marker)
    raw.flip_bit(marker, data.index(b'"incarnation":"') + len('"incarnation":"'))
    _refused(raw.url, marker)
    db = slabdb.connect(raw.url, config=MANUAL)
    with pytest.raises(CorruptionError, match=marker):  # no write goes to a fresh location
        db.Index("c").upsert(vectors=[("new", [1.0, 1.0])])
    db.close(flush=False)
    namespaces = {"/".join(k.split("/")[:4]) + "/" for k in raw.keys("data/")}
    assert namespaces == {prefix}
    _checked(raw.url, marker)


def test_manifest_deleted_after_wal_gc_is_refused(raw: Raw) -> None:
    prefix = _ingest(raw.url, after=0)
    db = slabdb.connect(raw.url, config=MANUAL)
    db.Index("c").fetch(ids=["f0"])
    collect_garbage(db.open_namespaces()[0], grace_seconds=0.0)  # removes LSNs 1..30
    db.Index("c").upsert(vectors=[("late", [1.0, 1.0])])  # LSN 31
    db.close(flush=False)
    assert [k for k in raw.keys(f"{prefix}wal/")] == [wal_key(prefix, 31)]
    raw.delete(manifest_key(prefix))
    _refused(raw.url, manifest_key(prefix))
    assert "checkpoint is lost" in _checked(raw.url, manifest_key(prefix))["problem"]


def test_wal_entry_deleted_mid_log_is_refused_naming_it(raw: Raw) -> None:
    prefix = _ingest(raw.url)
    missing = wal_key(prefix, 35)
    raw.delete(missing)
    error = _refused(raw.url, missing)
    assert wal_key(prefix, 36) in error.message
    _checked(raw.url, missing)


def test_rest_and_grpc_answer_data_loss_naming_the_object(tmp_path: Path) -> None:
    with served_index(tmp_path) as wires:
        db = slabdb.connect(str(tmp_path / "store"), config=MANUAL)
        db.Index("t").upsert(vectors=[("a", [1.0, 0.0])], namespace="other")
        db.Index("t").flush(namespace="other")
        prefix = db.open_namespaces()[0].prefix
        db.close(flush=False)
        path = tmp_path / "store" / manifest_key(prefix)
        path.write_bytes(path.read_bytes().replace(b'"checkpoint_lsn":1', b'"checkpoint_lsn":2'))
        rest = wires["rest"].fetch(["a"], namespace="other")
        assert rest.status == "500" and rest.body["code"] == 15, rest
        assert manifest_key(prefix) in rest.message
        grpc = wires["grpc"].fetch(["a"], namespace="other")
        assert grpc.status == "DATA_LOSS" and manifest_key(prefix) in grpc.message, grpc
