"""open_store: URL forms, environment, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from obstore.store import S3Store

from slabdb.core.errors import InvalidArgumentError, StorageError
from slabdb.storage import ObstoreObjectStore, open_store
from slabdb.testing.s3 import MotoS3Server


def test_memory_stores_are_fresh() -> None:
    a, b = open_store("memory://"), open_store("memory://")
    assert isinstance(a, ObstoreObjectStore) and a.url == "memory://"
    a.put("k", b"1")
    assert list(b.list("")) == []


def test_plain_path_is_created(tmp_path: Path) -> None:
    root = tmp_path / "deep" / "er"
    store = open_store(str(root))
    assert root.is_dir()
    assert store.url == root.resolve().as_uri()
    store.put("x/y", b"1")
    assert (root / "x" / "y").read_bytes() == b"1"


def test_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("./data")
    assert store.url == (tmp_path / "data").resolve().as_uri()
    assert (tmp_path / "data").is_dir()


def test_file_url(tmp_path: Path) -> None:
    root = tmp_path / "with space"
    store = open_store(root.as_uri())  # file:///.../with%20space
    store.put("k", b"v")
    assert (root / "k").read_bytes() == b"v"
    assert open_store(f"file://localhost{root}").get("k").data == b"v"
    # two handles on one directory see each other's writes
    assert open_store(f"file://{root}").get("k").data == b"v"


@pytest.mark.parametrize("url", ["file://relative/path", "file:relative"])
def test_bad_file_urls(url: str) -> None:
    with pytest.raises(InvalidArgumentError):
        open_store(url)


def test_path_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"")
    with pytest.raises(StorageError):
        open_store(str(tmp_path / "f"))


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "gs://bucket/x",
        "http://example.com/x",
        "s3://",
        "s3:///prefix",
        "s3://user:pw@bucket/x",
        "s3://bucket/a//b",
        "s3://bucket/x?versionId=1",
    ],
)
def test_invalid_urls(url: str) -> None:
    with pytest.raises(InvalidArgumentError):
        open_store(url)


@pytest.mark.s3
def test_s3_from_environment(s3_url: str) -> None:
    store = open_store(s3_url)
    assert store.url == s3_url
    store.put("k", b"v")
    assert open_store(s3_url).get("k").data == b"v"


@pytest.mark.s3
def test_s3_prefix_isolates_keys(s3_server: MotoS3Server, s3_url: str) -> None:
    inner = open_store(s3_url + "/inner")
    inner.put("k", b"v")
    assert [m.key for m in open_store(s3_url).list("")] == ["inner/k"]
    assert [m.key for m in inner.list("")] == ["k"]
    bucket_root = open_store(f"s3://{s3_server.bucket}")
    assert bucket_root.url == f"s3://{s3_server.bucket}"
    assert any(m.key.endswith("/inner/k") for m in bucket_root.list(""))


@pytest.mark.s3
def test_s3_explicit_overrides(s3_server: MotoS3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "SLABDB_S3_ENDPOINT",
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
    ):
        monkeypatch.delenv(name, raising=False)
    url = s3_server.unique_url("explicit")
    store = open_store(url, **s3_server.store_kwargs)
    store.put("k", b"v")
    assert store.get("k").data == b"v"
    # SLABDB_S3_ENDPOINT wins over AWS_ENDPOINT_URL
    monkeypatch.setenv("SLABDB_S3_ENDPOINT", s3_server.endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    kwargs = {k: v for k, v in s3_server.store_kwargs.items() if k != "endpoint"}
    assert open_store(url, **kwargs).get("k").data == b"v"


@pytest.mark.s3
def test_s3_url_hides_credentials(s3_server: MotoS3Server) -> None:
    kwargs = dict(s3_server.store_kwargs, secret_access_key="sekrit-value")
    store = open_store(s3_server.unique_url(), **kwargs)
    assert "sekrit" not in store.url and "sekrit" not in repr(store)


def test_s3_unreachable_endpoint_is_a_storage_error() -> None:
    inner = S3Store(
        "bucket",
        prefix="p",
        endpoint="http://127.0.0.1:9",
        region="us-east-1",
        access_key_id="a",
        secret_access_key="sekrit-value",
        client_options={"allow_http": True},
        retry_config={"max_retries": 0},
    )
    store = ObstoreObjectStore(inner)
    assert store.url == "s3://bucket/p"
    with pytest.raises(StorageError) as info:
        store.head("k")
    assert "sekrit" not in str(info.value)
    assert "s3://bucket/p/k" in str(info.value)
