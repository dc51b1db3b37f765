"""The ObjectStore contract (see slabdb.storage.base), run on every backend."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from scenarios.waiting import wait_until
from slabdb.core.errors import (
    InvalidArgumentError,
    ObjectExistsError,
    ObjectNotFoundError,
    PreconditionFailedError,
    StorageError,
)
from slabdb.storage import ObjectStore, open_store
from slabdb.storage.obstore_store import SYS_DIR


@pytest.fixture(
    params=["memory", "local", pytest.param("s3", marks=pytest.mark.s3)],
)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    if backend == "memory":
        s = open_store("memory://")
    elif backend == "local":
        s = open_store(str(tmp_path / "store"))
    else:
        s = open_store(request.getfixturevalue("s3_url"))
    yield s
    s.close()


def race(n: int, fn: Callable[[int], object]) -> list[object]:
    """Run fn(0..n-1) on n threads released together; return results or exceptions."""
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


# -- put / get / head -------------------------------------------------------------


def test_put_get_head_and_overwrite(store: ObjectStore) -> None:
    etag1 = store.put("a/b/c.bin", b"hello")
    got = store.get("a/b/c.bin")
    assert got.data == b"hello"
    assert got.etag == etag1 and etag1
    meta = store.head("a/b/c.bin")
    assert (meta.key, meta.size, meta.etag) == ("a/b/c.bin", 5, etag1)
    assert isinstance(meta.last_modified, datetime) and meta.last_modified.tzinfo is not None

    etag2 = store.put("a/b/c.bin", b"world")  # same size, straight after
    assert etag2 != etag1
    assert store.get("a/b/c.bin") == type(got)(data=b"world", etag=etag2)


def test_empty_object(store: ObjectStore) -> None:
    store.put("empty", b"")
    assert store.get("empty").data == b""
    assert store.head("empty").size == 0


def test_missing_object(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFoundError):
        store.get("nope/missing")
    with pytest.raises(ObjectNotFoundError):
        store.head("nope/missing")
    with pytest.raises(ObjectNotFoundError):
        store.get_range("nope/missing", 0, 10)
    with pytest.raises(ObjectNotFoundError):
        store.get_range("nope/missing", 3, 3)


@pytest.mark.parametrize(
    "key", ["", "/abs", "trailing/", "a//b", "a/./b", "a/../b", "..", "ctl\x00", "x/y#12"]
)
def test_invalid_keys(store: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidArgumentError):
        store.put(key, b"x")
    with pytest.raises(InvalidArgumentError):
        store.get(key)


def test_reserved_prefix(store: ObjectStore) -> None:
    with pytest.raises(InvalidArgumentError):
        store.put(f"{SYS_DIR}/locks/x", b"x")
    with pytest.raises(InvalidArgumentError):
        list(store.list(f"{SYS_DIR}/"))


def test_odd_but_valid_keys(store: ObjectStore) -> None:
    keys = ["with space", "ünï/cødé", "a:b=c,d", "x%2Fy", "hash#tag", "dot.file", ".hidden"]
    for k in keys:
        store.put(k, k.encode())
    for k in keys:
        assert store.get(k).data == k.encode()
    assert [m.key for m in store.list("")] == sorted(keys)


def test_large_object(store: ObjectStore) -> None:
    data = random.Random(7).randbytes(6 * 1024 * 1024 + 123)  # > S3 multipart threshold
    etag = store.put("big/blob.bin", data)
    got = store.get("big/blob.bin")
    assert got.data == data and got.etag == etag
    assert store.head("big/blob.bin").size == len(data)
    assert store.get_range("big/blob.bin", 5_000_000, 5_300_000) == data[5_000_000:5_300_000]
    assert store.put_if_absent("big/created.bin", data)
    assert store.get("big/created.bin").data == data


# -- get_range --------------------------------------------------------------------


def test_get_range(store: ObjectStore) -> None:
    data = bytes(range(256)) * 4
    store.put("r", data)
    for start, end in [(0, 1), (0, len(data)), (10, 20), (1000, 1024), (255, 513)]:
        assert store.get_range("r", start, end) == data[start:end]
    assert store.get_range("r", 5, 5) == b""
    assert store.get_range("r", 1000, 5000) == data[1000:]  # clamped like a slice
    assert store.get_range("r", 1024, 1030) == b""
    assert store.get_range("r", 4000, 5000) == b""
    for start, end in [(-1, 3), (5, 4)]:
        with pytest.raises(InvalidArgumentError):
            store.get_range("r", start, end)


# -- put_if_absent ----------------------------------------------------------------


def test_put_if_absent(store: ObjectStore) -> None:
    etag = store.put_if_absent("wal/000001", b"first")
    assert etag and store.get("wal/000001").etag == etag
    with pytest.raises(ObjectExistsError):
        store.put_if_absent("wal/000001", b"second")
    assert store.get("wal/000001").data == b"first"
    store.delete("wal/000001")
    assert store.put_if_absent("wal/000001", b"third")
    assert store.get("wal/000001").data == b"third"


def test_put_if_absent_race(store: ObjectStore) -> None:
    for round_ in range(3):
        key = f"claims/{round_}"
        results = race(8, lambda i, key=key: store.put_if_absent(key, f"writer-{i}".encode()))
        winners = [i for i, r in enumerate(results) if isinstance(r, str)]
        losers = [r for r in results if isinstance(r, ObjectExistsError)]
        assert len(winners) == 1 and len(losers) == 7, results
        assert store.get(key).data == f"writer-{winners[0]}".encode()


# -- put_if_match -----------------------------------------------------------------


def test_put_if_match(store: ObjectStore) -> None:
    e1 = store.put("manifest", b"v1")
    e2 = store.put_if_match("manifest", b"v2", e1)
    assert e2 and e2 != e1
    got = store.get("manifest")
    assert (got.data, got.etag) == (b"v2", e2)
    with pytest.raises(PreconditionFailedError):
        store.put_if_match("manifest", b"v3", e1)  # stale
    assert store.get("manifest").data == b"v2"
    e3 = store.put("manifest", b"v3")  # unconditional overwrite makes e2 stale too
    with pytest.raises(PreconditionFailedError):
        store.put_if_match("manifest", b"v4", e2)
    assert store.put_if_match("manifest", b"v4", e3)


def test_put_if_match_deleted_or_missing(store: ObjectStore) -> None:
    etag = store.put("m", b"v1")
    store.delete("m")
    with pytest.raises(PreconditionFailedError):
        store.put_if_match("m", b"v2", etag)
    with pytest.raises(ObjectNotFoundError):
        store.get("m")  # the failed CAS did not resurrect it
    with pytest.raises(PreconditionFailedError):
        store.put_if_match("never-existed", b"v", etag)
    with pytest.raises(InvalidArgumentError):
        store.put_if_match("m", b"v", "")


def test_etags_never_repeat(store: ObjectStore, backend: str) -> None:
    """Quick same-size rewrites: every ETag is new and every older one stays stale."""
    n = 10 if backend == "s3" else 60
    etags = [store.put("k", b"v-0000")]
    for i in range(1, n):
        etags.append(store.put_if_match("k", f"v-{i:04d}".encode(), etags[-1]) or "")
        store.delete("other") if i % 7 == 0 else store.put("other", b"x")  # churn inodes
    assert len(set(etags)) == n
    for stale in random.Random(1).sample(etags[:-1], 5):
        with pytest.raises(PreconditionFailedError):
            store.put_if_match("k", b"stale", stale)
    assert store.get("k").data == f"v-{n - 1:04d}".encode()


def test_put_if_match_race(store: ObjectStore) -> None:
    etag = store.put("cas", b"start")
    results = race(8, lambda i: store.put_if_match("cas", f"w{i}".encode(), etag))
    winners = [i for i, r in enumerate(results) if isinstance(r, str)]
    assert len(winners) == 1, results
    assert all(isinstance(r, PreconditionFailedError) for r in results if not isinstance(r, str))
    assert store.get("cas").data == f"w{winners[0]}".encode()


def test_cas_counter_threads(store: ObjectStore, backend: str) -> None:
    threads, increments = (4, 4) if backend == "s3" else (4, 15)
    store.put("counter", b"0")

    def work(_: int) -> None:
        for _ in range(increments):
            while True:
                cur = store.get("counter")
                assert cur.etag is not None
                try:
                    store.put_if_match("counter", b"%d" % (int(cur.data) + 1), cur.etag)
                    break
                except PreconditionFailedError:
                    continue

    assert race(threads, work) == [None] * threads
    assert int(store.get("counter").data) == threads * increments


# -- list -------------------------------------------------------------------------

KEYS = ["a", "b/1", "b/10", "b/2", "b/x/y/z", "ba", "c/d/e", "c/da"]


def test_list_order_prefix_and_start_after(store: ObjectStore) -> None:
    shuffled = KEYS[:]
    random.Random(3).shuffle(shuffled)
    for k in shuffled:
        store.put(k, k.encode() * 2)

    def keys(prefix: str, start_after: str | None = None) -> list[str]:
        return [m.key for m in store.list(prefix, start_after)]

    assert keys("") == KEYS
    assert keys("b/") == ["b/1", "b/10", "b/2", "b/x/y/z"]
    assert keys("b") == ["b/1", "b/10", "b/2", "b/x/y/z", "ba"]  # plain string prefix
    assert keys("b/1") == ["b/1", "b/10"]
    assert keys("c/d") == ["c/d/e", "c/da"]
    assert keys("c/d/") == ["c/d/e"]
    assert keys("b/x/y/z") == ["b/x/y/z"]
    assert keys("zzz") == [] and keys("nope/") == []
    assert keys("b/", "b/1") == ["b/10", "b/2", "b/x/y/z"]
    assert keys("b/", "b/15") == ["b/2", "b/x/y/z"]
    assert keys("b/", "a") == ["b/1", "b/10", "b/2", "b/x/y/z"]
    assert keys("b/", "b/x/y/z") == []
    assert keys("", "b/2") == ["b/x/y/z", "ba", "c/d/e", "c/da"]
    assert keys("b/1", "b/1") == ["b/10"]

    meta = {m.key: m for m in store.list("")}
    for k in KEYS:
        head = store.head(k)
        assert (meta[k].size, meta[k].etag) == (head.size, head.etag) == (2 * len(k), head.etag)


def test_list_many_keys_across_pages(store: ObjectStore) -> None:
    keys = [f"p/{i:05d}" for i in range(1, 1203, 7)]
    for k in reversed(keys):
        store.put(k, b"")
    assert [m.key for m in store.list("p/")] == keys
    assert [m.key for m in store.list("p/", keys[100])] == keys[101:]
    assert [m.key for m in store.list("p/006")] == [k for k in keys if k.startswith("p/006")]


# -- delete -----------------------------------------------------------------------


def test_delete_is_idempotent(store: ObjectStore) -> None:
    store.put("d/x", b"1")
    store.delete("d/x")
    store.delete("d/x")
    store.delete("never/was")
    with pytest.raises(ObjectNotFoundError):
        store.get("d/x")
    assert list(store.list("d/")) == []


def test_delete_prefix(store: ObjectStore) -> None:
    for k in KEYS:
        store.put(k, b"x")
    assert store.delete_prefix("b/") == 4
    assert [m.key for m in store.list("")] == ["a", "ba", "c/d/e", "c/da"]
    assert store.delete_prefix("b/") == 0
    assert store.delete_prefix("") == 4
    assert list(store.list("")) == []


def test_key_reusable_after_delete_prefix(store: ObjectStore) -> None:
    store.put("ns/1/x", b"1")
    store.delete_prefix("ns/")
    store.put("ns/1/x", b"2")
    assert store.get("ns/1/x").data == b"2"


# -- local directory only: processes, durability, hidden housekeeping --------------

_WORKER = r"""
import os, sys, time
from slabdb.core.errors import ObjectExistsError, PreconditionFailedError
from slabdb.storage import open_store

root, mode, wid, n, sync_dir = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
store = open_store(root)
open(os.path.join(sync_dir, "ready-" + wid), "w").close()
while not os.path.exists(os.path.join(sync_dir, "go")):
    time.sleep(0.001)
if mode == "create":
    won = []
    for i in range(n):
        try:
            store.put_if_absent(f"claims/{i:04d}", wid.encode())
            won.append(i)
        except ObjectExistsError:
            pass
    print(" ".join(map(str, won)))
else:
    for _ in range(n):
        while True:
            cur = store.get("counter")
            try:
                store.put_if_match("counter", b"%d" % (int(cur.data) + 1), cur.etag)
                break
            except PreconditionFailedError:
                pass
"""


def _run_workers(root: Path, mode: str, workers: int, n: int, tmp_path: Path) -> list[str]:
    sync_dir = tmp_path / f"sync-{mode}"
    sync_dir.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(root), mode, str(w), str(n), str(sync_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(workers)
    ]
    wait_until(lambda: len(list(sync_dir.glob("ready-*"))) == workers, "every worker is ready")
    (sync_dir / "go").touch()
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        outs.append(out)
    return outs


def test_local_cross_process_create_and_cas(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = open_store(str(root))
    workers, claims = 3, 40
    outs = _run_workers(root, "create", workers, claims, tmp_path)
    won = [set(map(int, out.split())) for out in outs]
    assert sum(len(w) for w in won) == claims  # every key claimed exactly once
    for wid, keys in enumerate(won):
        for i in keys:
            assert store.get(f"claims/{i:04d}").data == str(wid).encode()

    store.put("counter", b"0")
    _run_workers(root, "cas", workers, 20, tmp_path)
    assert store.get("counter").data == b"%d" % (workers * 20)


def test_local_put_fsyncs_file_and_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = (tmp_path / "store").resolve()
    store = open_store(str(root))
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    store.put("new/dir/a", b"payload")  # creates two directories
    assert synced[-1] == str(root / "new" / "dir")
    assert {str(root), str(root / "new")} <= set(synced)
    assert any(f"{SYS_DIR}/tmp/" in p for p in synced)  # the data, before the rename
    for op in (
        lambda: store.put_if_absent("new/dir/b", b"payload"),
        lambda: store.put_if_match("new/dir/a", b"2", store.head("new/dir/a").etag or ""),
        lambda: store.delete("new/dir/a"),
    ):
        synced.clear()
        op()
        assert synced[-1] == str(root / "new" / "dir"), synced


def test_local_housekeeping_is_hidden(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = open_store(str(root))
    store.put("x/y", b"1")
    store.put_if_absent("z", b"2")
    assert (root / SYS_DIR / "locks").is_dir()
    assert list((root / SYS_DIR / "tmp").iterdir()) == []  # no temp files left behind
    assert [m.key for m in store.list("")] == ["x/y", "z"]
    assert store.delete_prefix("") == 2
    assert (root / SYS_DIR).is_dir()


def test_local_file_in_the_way_is_a_storage_error(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    store.put("a", b"file")
    with pytest.raises(StorageError):
        store.put("a/b", b"needs a to be a directory")


def test_local_etags_unique_even_with_a_frozen_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Coarse file timestamps + quick inode reuse must not bring an old ETag back."""
    store = open_store(str(tmp_path / "store"))
    monkeypatch.setattr(time, "time_ns", lambda: 1_700_000_000_000_000_000)
    etags = [store.put("k", b"v-00")]
    for i in range(1, 30):
        etags.append(store.put_if_match("k", b"v-%02d" % i, etags[-1]) or "")
    store.delete("k")
    etags.append(store.put_if_absent("k", b"v-00") or "")  # re-created, maybe same inode
    assert len(set(etags)) == len(etags)
    for stale in etags[:-1]:
        with pytest.raises(PreconditionFailedError):
            store.put_if_match("k", b"stale", stale)


def test_local_key_under_a_file_is_missing(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    store.put("a", b"file")
    with pytest.raises(ObjectNotFoundError):
        store.get("a/b")
    with pytest.raises(ObjectNotFoundError):
        store.head("a/b")
    with pytest.raises(PreconditionFailedError):
        store.put_if_match("a/b", b"x", "some-etag")
    store.delete("a/b")
    assert [m.key for m in store.list("a/")] == []
