"""Bulk import from Parquet: records land as slabs, atomically per namespace, in LSN order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import slabdb
from slabdb import EngineConfig
from slabdb.bulk.runner import ImportRunner
from slabdb.engine.maintenance import collect_garbage
from slabdb.storage.keys import import_pending_prefix

from .parquet_files import vectors_for, write_file, write_namespace

DIM = 8


@pytest.fixture
def db():
    client = slabdb.connect("memory://", config=EngineConfig(background=False, flush_records=50))
    client.create_index(name="idx", dimension=DIM, metric="cosine")
    yield client
    client.close(flush=False)


def _run(index, uri: str, error_mode: str = "abort", rows_per_slab: int = 150):
    imports = index.bulk_imports()
    imports.target.rows_per_slab = rows_per_slab
    started = imports.start(uri, error_mode, background=False)
    return imports.describe(started.id)


def _fetch_all(index, ids, namespace):
    got = {}
    for start in range(0, len(ids), 1000):
        got.update(index.fetch(ids=ids[start : start + 1000], namespace=namespace).vectors)
    return got


def test_every_record_lands_with_its_values_and_metadata(db, tmp_path: Path) -> None:
    expected = write_namespace(tmp_path / "src", "books", files=3, rows=250, dim=DIM)
    default = write_namespace(tmp_path / "src", "__default__", files=1, rows=40, dim=DIM)
    index = db.Index("idx")
    model = _run(index, str(tmp_path / "src"))
    assert model.status == "Completed" and model.percent_complete == 100.0
    assert model.records_imported == len(expected) + len(default)
    got = _fetch_all(index, sorted(expected), "books")
    assert set(got) == set(expected)
    for rid, (vec, meta) in expected.items():
        assert np.array_equal(np.asarray(got[rid].values, dtype=np.float32), vec)
        assert got[rid].metadata == meta
    assert set(_fetch_all(index, sorted(default), "")) == set(default)
    hits = index.query(top_k=3, vector=expected["books-1-7"][0].tolist(), namespace="books")
    assert hits.matches[0].id == "books-1-7"
    books = next(ns for ns in db.open_namespaces() if ns.prefix.split("/")[2] == "n-books")
    # Chunks span files (3 files of 100 + 100 + 50 rows, cut at >= 150), the short last
    # one joining the one before: 200 | 50 + 100 | 100 + 50 | 100 + 100 + 50.
    assert [s.count for s in books.manifest.slabs] == [200, 150, 150, 250]
    assert {s.level for s in books.manifest.slabs} == {books.config.max_level}


def test_sparse_values_are_imported(tmp_path: Path) -> None:
    client = slabdb.connect("memory://", config=EngineConfig(background=False))
    client.create_index(name="sp", dimension=None, metric="dotproduct", vector_type="sparse")
    sparse = [{"indices": [5, 1], "values": [0.5, 2.0]}, {"indices": [3], "values": [1.0]}]
    write_file(tmp_path / "src" / "ns" / "0.parquet", ["a", "b"], [None, None], sparse=sparse)
    index = client.Index("sp")
    assert _run(index, str(tmp_path / "src")).status == "Completed"
    got = index.fetch(ids=["a"], namespace="ns").vectors["a"]
    assert list(got.sparse_values.indices) == [1, 5]
    assert list(got.sparse_values.values) == [2.0, 0.5]
    client.close(flush=False)


def _bad_rows_file(root: Path) -> list[str]:
    good = [f"g{i}" for i in range(5)]
    vecs = list(vectors_for(good, DIM))
    ids = [*good, "", "short", "nan", "meta"]
    values = [*vecs, vecs[0], [1.0] * 3, [float("nan")] * DIM, vecs[1]]
    meta = [None] * 8 + ["[1, 2]"]
    write_file(root / "ns" / "0.parquet", ids, values, meta)
    return good


def test_continue_skips_invalid_records_and_counts_them(db, tmp_path: Path) -> None:
    good = _bad_rows_file(tmp_path / "src")
    index = db.Index("idx")
    model = _run(index, str(tmp_path / "src"), error_mode="continue")
    assert model.status == "Completed"
    assert (model.records_imported, model.records_failed) == (5, 4)
    assert index.describe_index_stats().total_vector_count == len(good)


def test_abort_fails_at_an_invalid_record_and_publishes_nothing(db, tmp_path: Path) -> None:
    _bad_rows_file(tmp_path / "src")
    index = db.Index("idx")
    model = _run(index, str(tmp_path / "src"), error_mode="abort")
    assert model.status == "Failed" and "invalid record" in (model.error or "")
    assert index.describe_index_stats().total_vector_count == 0
    ns = db.open_namespaces()[0]
    assert list(db.store.list(import_pending_prefix(ns.prefix))) == []


def test_an_id_in_two_files_keeps_the_later_file(db, tmp_path: Path) -> None:
    a, b = vectors_for(["x"], DIM, 1), vectors_for(["x"], DIM, 2)
    write_file(tmp_path / "src" / "ns" / "0.parquet", ["x", "y"], [a[0], a[0]], [{"f": 0}] * 2)
    write_file(tmp_path / "src" / "ns" / "1.parquet", ["x", "x"], [a[0], b[0]], [{"f": 1}] * 2)
    index = db.Index("idx")
    assert _run(index, str(tmp_path / "src"), rows_per_slab=1).status == "Completed"
    got = index.fetch(ids=["x"], namespace="ns").vectors["x"]
    assert np.array_equal(np.asarray(got.values, dtype=np.float32), b[0])
    assert index.describe_index_stats().namespaces["ns"].vector_count == 2


def test_an_id_in_two_files_of_one_chunk_keeps_the_later_file_and_row(db, tmp_path: Path) -> None:
    first, a, b = (vectors_for(["x"], DIM, seed)[0] for seed in (1, 2, 3))
    write_file(tmp_path / "src" / "ns" / "0.parquet", ["x", "y"], [first, first], [{"f": 0}] * 2)
    write_file(
        tmp_path / "src" / "ns" / "1.parquet",
        ["x", "x"],
        [a, b],
        [{"f": 1, "r": 0}, {"f": 1, "r": 1}],
    )
    index = db.Index("idx")
    assert _run(index, str(tmp_path / "src"), rows_per_slab=1000).status == "Completed"
    ns = db.open_namespaces()[0]
    assert [s.count for s in ns.manifest.slabs] == [2], "both files in one chunk, x once"
    got = index.fetch(ids=["x"], namespace="ns").vectors["x"]
    assert np.array_equal(np.asarray(got.values, dtype=np.float32), b)
    assert got.metadata == {"f": 1, "r": 1}


def _chunk_with_a_file_broken_after_planning(db, tmp_path: Path, error_mode: str):
    """Three 40-row files planned into one chunk; the middle one is overwritten with
    bytes that are no Parquet once the plan is stored, so its read fails."""
    for f in range(3):
        ids = [f"f{f}-{i}" for i in range(40)]
        write_file(tmp_path / "src" / "ns" / f"{f}.parquet", ids, vectors_for(ids, DIM, f))
    index = db.Index("idx")
    imports = index.bulk_imports()
    imports.target.rows_per_slab = 1000

    def break_middle(p) -> None:
        if p.plan and p.rows_done == 0:
            (tmp_path / "src" / "ns" / "1.parquet").write_bytes(b"not parquet" * 10)

    started = imports.start(str(tmp_path / "src"), error_mode, False, break_middle)
    return imports.describe(started.id), index


def test_continue_skips_an_unreadable_file_inside_a_chunk(db, tmp_path: Path) -> None:
    model, index = _chunk_with_a_file_broken_after_planning(db, tmp_path, "continue")
    assert model.status == "Completed"
    assert (model.records_imported, model.records_failed) == (80, 40)
    got = index.fetch(ids=["f0-0", "f1-0", "f2-39"], namespace="ns").vectors
    assert set(got) == {"f0-0", "f2-39"}


def test_abort_fails_at_an_unreadable_file_inside_a_chunk(db, tmp_path: Path) -> None:
    model, index = _chunk_with_a_file_broken_after_planning(db, tmp_path, "abort")
    assert model.status == "Failed" and "cannot read ns/1.parquet" in (model.error or "")
    assert index.describe_index_stats().total_vector_count == 0


def test_namespace_that_holds_records_is_refused(db, tmp_path: Path) -> None:
    write_namespace(tmp_path / "src", "ns", files=1, rows=10, dim=DIM)
    index = db.Index("idx")
    index.upsert(vectors=[("old", [1.0] * DIM)], namespace="ns")
    model = _run(index, str(tmp_path / "src"))
    assert model.status == "Failed" and "already holds records" in (model.error or "")
    assert index.describe_index_stats().namespaces["ns"].vector_count == 1


def _import_with_a_write_between_chunks(db, tmp_path: Path, write) -> tuple:
    """Run an import whose second chunk is built after ``write(index)`` was logged."""
    expected = write_namespace(tmp_path / "src", "ns", files=2, rows=100, dim=DIM)
    index = db.Index("idx")
    imports = index.bulk_imports()
    imports.target.rows_per_slab = 100
    started = imports.start(
        str(tmp_path / "src"),
        background=False,
        on_progress=lambda p: (
            write(index)
            if p.rows_done == 100
            and not getattr(write, "done", False)
            and not setattr(write, "done", True)
            else None
        ),
    )
    return imports.describe(started.id), index, expected


def test_write_between_chunks_is_ordered_by_lsn(db, tmp_path: Path) -> None:
    newer = [9.0] + [0.0] * (DIM - 1)

    def write(index) -> None:  # after chunk 0's LSN, before chunk 1's
        index.upsert(vectors=[("ns-0-3", newer), ("ns-1-3", newer)], namespace="ns")

    model, index, expected = _import_with_a_write_between_chunks(db, tmp_path, write)
    assert model.status == "Completed"
    got = index.fetch(ids=["ns-0-3", "ns-1-3"], namespace="ns").vectors
    assert got["ns-0-3"].values == newer, "a write after chunk 0's LSN must win over it"
    assert np.array_equal(np.asarray(got["ns-1-3"].values, np.float32), expected["ns-1-3"][0]), (
        "chunk 1 was reserved after the write: the import's version is newer"
    )


def test_update_during_the_import_makes_the_publish_refuse(db, tmp_path: Path) -> None:
    def write(index) -> None:
        index.update(id="ns-0-3", set_metadata={"x": 1}, namespace="ns")

    model, index, _ = _import_with_a_write_between_chunks(db, tmp_path, write)
    assert model.status == "Failed" and "UpdateOp" in (model.error or "")
    assert index.describe_index_stats().namespaces.get("ns") is None or (
        index.describe_index_stats().namespaces["ns"].vector_count == 0
    )


def test_cancel_stops_before_the_next_chunk_and_publishes_nothing(db, tmp_path: Path) -> None:
    write_namespace(tmp_path / "src", "ns", files=3, rows=100, dim=DIM)
    index = db.Index("idx")
    imports = index.bulk_imports()
    imports.target.rows_per_slab = 100
    ids: list[str] = []
    started = imports.start(
        str(tmp_path / "src"),
        background=False,
        on_progress=lambda p: imports.cancel(p.id) if p.rows_done == 100 else ids.append(p.id),
    )
    model = imports.describe(started.id)
    assert model.status == "Cancelled" and model.records_imported == 100
    assert index.describe_index_stats().total_vector_count == 0
    imports.cancel(started.id)  # no effect once finished
    assert imports.describe(started.id).status == "Cancelled"


class _Crash(Exception):
    pass


def test_interrupted_import_resumes_and_imports_every_record_once(db, tmp_path: Path) -> None:
    expected = write_namespace(tmp_path / "src", "ns", files=4, rows=100, dim=DIM)
    index = db.Index("idx")
    imports = index.bulk_imports()
    imports.target.rows_per_slab = 100
    created = imports.target.records.create(
        lambda i: __import__("slabdb.bulk.progress", fromlist=["x"]).ImportProgress(
            id=i, uri=str(tmp_path / "src"), error_mode="abort", created_at="now"
        )
    )[0]

    def crash(p) -> None:
        if p.rows_done == 200:
            raise _Crash

    with pytest.raises(_Crash):
        ImportRunner(imports.target, created.id, crash, lease_seconds=5).run()
    assert imports.describe(created.id).status == "InProgress"
    assert imports.describe(created.id).percent_complete == 50.0
    assert index.describe_index_stats().total_vector_count == 0, "visible before publish"
    imports.resume(created.id, background=False)
    model = imports.describe(created.id)
    assert model.status == "Completed" and model.records_imported == len(expected)
    assert set(_fetch_all(index, sorted(expected), "ns")) == set(expected)
    ns = db.open_namespaces()[0]
    assert len(ns.manifest.slabs) == 4


def test_gc_keeps_the_slabs_and_log_of_a_running_import(db, tmp_path: Path) -> None:
    write_namespace(tmp_path / "src", "ns", files=2, rows=100, dim=DIM)
    index = db.Index("idx")
    imports = index.bulk_imports()
    imports.target.rows_per_slab = 100
    seen: dict = {}

    def collect(p) -> None:
        ns = db.open_namespaces()[0] if db.open_namespaces() else None
        if ns is not None and p.rows_done == 100 and not seen:
            ns.flush()  # checkpoint past the import's first LSN
            seen["deleted"] = collect_garbage(ns, grace_seconds=-1.0)
            seen["deleted"] += collect_garbage(ns, grace_seconds=-1.0)

    started = imports.start(str(tmp_path / "src"), background=False, on_progress=collect)
    assert imports.describe(started.id).status == "Completed"
    assert seen["deleted"] == 0, "GC removed a slab or log entry the import still needed"
    assert index.describe_index_stats().total_vector_count == 200


def test_imported_slabs_come_first_and_compaction_still_runs(db, tmp_path: Path) -> None:
    write_namespace(tmp_path / "src", "ns", files=1, rows=100, dim=DIM)
    index = db.Index("idx")
    index.upsert(vectors=[("w0", [1.0] * DIM)], namespace="other")
    assert _run(index, str(tmp_path / "src")).status == "Completed"
    for b in range(12):
        index.upsert(
            vectors=[(f"w{b}-{i}", [1.0 + i] + [0.5] * (DIM - 1)) for i in range(60)],
            namespace="ns",
        )
    index.delete(ids=["ns-0-5"], namespace="ns")
    index.flush(namespace="ns")
    assert index.compact(namespace="ns") > 0
    ns = next(n for n in db.open_namespaces() if n.prefix.split("/")[2] == "n-ns")
    assert ns.manifest.slabs[0].id in {s.id for s in ns.manifest.slabs}
    assert ns.manifest.slabs[0].level == ns.config.max_level
    assert index.fetch(ids=["ns-0-5"], namespace="ns").vectors == {}
    assert index.describe_index_stats().namespaces["ns"].vector_count == 99 + 12 * 60


def test_list_imports_pages_oldest_first(db, tmp_path: Path) -> None:
    for n in range(3):
        write_namespace(tmp_path / f"src{n}", f"ns{n}", files=1, rows=5, dim=DIM)
    index = db.Index("idx")
    for n in range(3):
        _run(index, str(tmp_path / f"src{n}"))
    page = index.list_imports_paginated(limit=2)
    assert [m.id for m in page] == ["1", "2"] and page.pagination is not None
    assert [m.id for m in index.list_imports(limit=2)] == ["1", "2", "3"]
    assert index.describe_import(3).status == "Completed"


def test_bad_uri_and_error_mode_are_refused_at_once(db, tmp_path: Path) -> None:
    index = db.Index("idx")
    with pytest.raises(slabdb.core.errors.InvalidArgumentError):
        index.start_import(str(tmp_path / "missing"))
    with pytest.raises(slabdb.core.errors.InvalidArgumentError):
        index.start_import(str(tmp_path), error_mode="explode")
    with pytest.raises(slabdb.core.errors.NotFoundError):
        index.describe_import("42")
