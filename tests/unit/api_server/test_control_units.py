"""Unit tests of the control plane pieces: keys, catalog, prefixed store, API shapes."""

from __future__ import annotations

import contextlib
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from slabdb.api import versions
from slabdb.api.auth import Authenticator
from slabdb.control.catalog_db import ControlCatalog
from slabdb.control.keys import key_id_of, matches, new_key
from slabdb.control.prefixed_store import PrefixedStore
from slabdb.control.sql import redact_url
from slabdb.core.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    NotFoundError,
    StorageError,
    UnauthenticatedError,
)
from slabdb.storage import open_store


def test_keys_hash_and_match() -> None:
    key = new_key()
    assert key.plaintext.startswith(f"sdb-{key.key_id}-")
    assert key_id_of(key.plaintext) == key.key_id
    assert matches(key.plaintext, key.key_hash)
    assert not matches(key.plaintext + "x", key.key_hash)
    assert key.key_hash not in key.plaintext and key_id_of("nope") is None


def test_catalog_auth_and_slots(catalog_url: str) -> None:
    cat = ControlCatalog(catalog_url)
    cat.create_project("default", "")
    cat.create_project("b", "projects/b/")
    with pytest.raises(AlreadyExistsError):
        cat.create_project("b", "x/")
    ka, kb = new_key(), new_key()
    cat.add_key(ka.key_id, "default", ka.key_hash)
    cat.add_key(kb.key_id, "b", kb.key_hash)
    auth = Authenticator(cat)
    assert auth.project_for(ka.plaintext) == "default"
    assert auth.project_for(kb.plaintext) == "b"
    for bad in (None, "", "junk", kb.plaintext[:-1] + "Z"):
        with pytest.raises(UnauthenticatedError):
            auth.project_for(bad)
    assert Authenticator(cat, insecure_dev=True).project_for("anything") == "default"
    cat.revoke_key(kb.key_id)
    with pytest.raises(UnauthenticatedError):
        Authenticator(cat).project_for(kb.plaintext)
    s1 = cat.claim_slot("default", "i1", {"cloud": "aws"})
    s2 = cat.claim_slot("b", "i1", {})
    assert (s1.slot, s2.slot) == (1, 2)
    with pytest.raises(AlreadyExistsError):
        cat.claim_slot("b", "i1", {})
    cat.release_slot("default", "i1")
    assert cat.claim_slot("b", "i2", {}).slot == 1  # lowest free slot is reused
    assert cat.slot_by_number(2) is not None and cat.slot_by_number(2).project == "b"  # type: ignore[union-attr]
    cat.close()


def test_catalog_errors_and_reopen(catalog_url: str) -> None:
    cat = ControlCatalog(catalog_url)
    cat.create_project("p", "projects/p/")
    key = new_key()
    cat.add_key(key.key_id, "p", key.key_hash)
    with pytest.raises(AlreadyExistsError):  # unique key id
        cat.add_key(key.key_id, "p", key.key_hash)
    with pytest.raises(NotFoundError):
        cat.add_key(new_key().key_id, "nope", "h")
    with pytest.raises(NotFoundError):
        cat.revoke_key("ffffffff")
    with pytest.raises(NotFoundError):
        cat.get_project("nope")
    assert cat.get_key("ffffffff") is None
    s = cat.claim_slot("p", "i", {"cloud": "gcp", "nested": {"a": [1, 2]}})
    assert not cat.release_slot("p", "i", older_than=s.created_at - 1)  # too young
    again = ControlCatalog(catalog_url)  # schema creation is idempotent; data survives
    got = again.get_slot("p", "i")
    assert got is not None and (got.slot, got.meta) == (s.slot, s.meta)
    assert [k.key_id for k in again.list_keys("p")] == [key.key_id]
    assert again.release_slot("p", "i", older_than=s.created_at + 1)
    assert cat.get_slot("p", "i") is None and cat.all_slots() == []
    again.close()
    cat.close()


def test_catalog_concurrent_open_and_claims(catalog_url: str) -> None:
    """Catalogs opened at once (separate connections, as separate processes have) create
    the schema once and never hand out one slot twice."""
    workers, per_worker = 6, 8
    barrier = threading.Barrier(workers)

    def work(n: int) -> list[int]:
        barrier.wait()
        cat = ControlCatalog(catalog_url)
        try:
            with contextlib.suppress(AlreadyExistsError):
                cat.create_project("p", "projects/p/")
            return [cat.claim_slot("p", f"w{n}-{i}", {}).slot for i in range(per_worker)]
        finally:
            cat.close()

    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(work, range(workers)))
    slots = sorted(s for r in results for s in r)
    assert slots == list(range(1, workers * per_worker + 1))
    cat = ControlCatalog(catalog_url)
    assert [p.name for p in cat.list_projects()] == ["p"]
    with pytest.raises(AlreadyExistsError):
        cat.claim_slot("p", "w0-0", {})
    cat.close()


def test_catalog_url_redaction() -> None:
    url = "postgresql://slabdb:s3cret%21@db.example:5432/cat?sslmode=require"
    assert redact_url(url) == "postgresql://slabdb:***@db.example:5432/cat?sslmode=require"
    assert "pw" not in redact_url("postgresql://h/db?user=u&password=pw")
    assert redact_url("host=h password=pw dbname=x") == "host=h password=*** dbname=x"
    assert redact_url("/data/_control/catalog.sqlite3") == "/data/_control/catalog.sqlite3"


def test_unreachable_postgres_hides_password() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed
    url = f"postgresql://slabdb:hunter2-secret@127.0.0.1:{port}/x?connect_timeout=2"
    with pytest.raises(StorageError) as err:
        ControlCatalog(url)
    assert "hunter2" not in str(err.value) and "***" in str(err.value)


def test_prefixed_store_isolates(tmp_path: Path) -> None:
    base = open_store(str(tmp_path))
    a, b = PrefixedStore(base, "projects/a/"), PrefixedStore(base, "projects/b/")
    a.put("catalog/x", b"1")
    assert [m.key for m in a.list("catalog/")] == ["catalog/x"]
    assert list(b.list("catalog/")) == []
    assert base.get("projects/a/catalog/x").data == b"1"
    a.close()
    assert base.get("projects/a/catalog/x").data == b"1"  # the base stays open
    with pytest.raises(InvalidArgumentError):
        PrefixedStore(base, "/bad")


def test_a_projects_slabs_on_a_local_directory_are_memory_mapped(tmp_path: Path) -> None:
    from slabdb import EngineConfig
    from slabdb.client import Client
    from slabdb.slab.backing_mapped import MappedBacking

    store = PrefixedStore(open_store(str(tmp_path)), "projects/a/")
    store.put("x", b"1")
    assert store.local_path("x") == tmp_path / "projects" / "a" / "x"
    assert store.local_path("missing") is None
    assert PrefixedStore(open_store("memory://"), "p/").local_path("x") is None
    db = Client(store, EngineConfig(background=False))
    db.create_index(name="m", dimension=2, metric="cosine")
    db.Index("m").upsert(vectors=[("a", [1.0, 0.0])])
    db.Index("m").flush()
    ((_i, _n, ns),) = db.open_namespace_entries()
    (reader,) = ns.readers().values()
    assert isinstance(reader._backing, MappedBacking)  # not ranged GETs through the cache
    db.close()


def test_create_body_shapes() -> None:
    kwargs, meta = versions.parse_create(
        {
            "name": "x",
            "dimension": 3,
            "metric": "euclidean",
            "spec": {"serverless": {"cloud": "gcp", "region": "eu"}},
        }
    )
    assert (kwargs["dimension"], kwargs["metric"], meta["cloud"]) == (3, "euclidean", "gcp")
    kwargs, meta = versions.parse_create(
        {
            "name": "y",
            "schema": {
                "fields": {
                    "_values": {"type": "dense_vector", "dimension": 4, "metric": "dotproduct"},
                    "_sparse_values": {"type": "sparse_vector"},
                }
            },
        }
    )
    assert kwargs["vector_type"] == "dense" and meta["hybrid"] is True
    kwargs, _ = versions.parse_create(
        {"name": "z", "schema": {"fields": {"_sparse_values": {"type": "sparse_vector"}}}}
    )
    assert kwargs["vector_type"] == "sparse" and kwargs["dimension"] is None
    for bad in (
        {
            "name": "d",
            "schema": {"fields": {"embedding": {"type": "dense_vector", "dimension": 3}}},
        },
        {"name": "d", "schema": {"fields": {}}},
        {"name": "d", "schema": "nope"},
        {"name": "d", "spec": {"pod": {}}},
        {"name": "d", "dimension": 3, "tags": {"a": 1}},
    ):
        with pytest.raises(InvalidArgumentError):
            versions.parse_create(bad)
    assert versions.api_version(None) == versions.NEWEST
    with pytest.raises(InvalidArgumentError):
        versions.api_version("latest")
