"""The import plan: chunks span files up to the size target, within the memory bound, and
a resumed import (new or old plan format) builds exactly the planned chunks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import slabdb
from slabdb import EngineConfig
from slabdb.bulk.plan import Chunk, ChunkPart, SlabSize, cut_chunks
from slabdb.bulk.progress import ImportProgress
from slabdb.bulk.rows import read_chunk
from slabdb.bulk.runner import ImportRunner
from slabdb.bulk.source import open_source
from slabdb.core.config import AnnConfig
from slabdb.core.values import IndexSpec

from .parquet_files import vectors_for, write_file, write_namespace

DIM = 8


def _groups(*files: tuple[int, ...]) -> list[tuple[str, int, int]]:
    """Row groups of files ``0.parquet``, ``1.parquet``, … with the given row counts."""
    return [(f"ns/{f}.parquet", g, n) for f, sizes in enumerate(files) for g, n in enumerate(sizes)]


def _shape(chunks: list[Chunk]) -> list[list[tuple[str, tuple[int, ...]]]]:
    return [[(p.key[3], p.row_groups) for p in c.parts] for c in chunks]


def test_a_chunk_spans_files_until_its_rows_reach_the_target() -> None:
    chunks = cut_chunks(_groups((40,), (40,), (40,), (40,), (40,), (40,)), SlabSize(100, 1000))
    assert [c.rows for c in chunks] == [120, 120]
    assert _shape(chunks) == [
        [("0", (0,)), ("1", (0,)), ("2", (0,))],
        [("3", (0,)), ("4", (0,)), ("5", (0,))],
    ]


def test_a_chunk_is_cut_at_a_row_group_boundary_inside_a_file() -> None:
    chunks = cut_chunks(_groups((60, 60, 60), (30,)), SlabSize(100, 130))
    assert _shape(chunks) == [[("0", (0, 1))], [("0", (2,)), ("1", (0,))]]


def test_a_row_group_that_would_pass_the_limit_starts_the_next_chunk() -> None:
    chunks = cut_chunks(_groups((60,), (60,), (60,)), SlabSize(150, 130))
    assert [c.rows for c in chunks] == [120, 60]
    alone = cut_chunks(_groups((10,), (500,)), SlabSize(100, 200))
    assert [c.rows for c in alone] == [10, 500], "a row group larger than the limit is whole"


def test_a_short_last_chunk_joins_the_one_before_only_within_the_limit() -> None:
    joined = cut_chunks(_groups((100,), (30,)), SlabSize(100, 130))
    assert [c.rows for c in joined] == [130]
    apart = cut_chunks(_groups((100,), (31,)), SlabSize(100, 130))
    assert [c.rows for c in apart] == [100, 31]


def test_a_cut_that_leaves_a_short_chunk_is_balanced_when_every_chunk_then_fits() -> None:
    size = SlabSize.of(384, True, AnnConfig())
    files = _groups(*[(50_000, 50_000, 25_000)] * 8)  # 1M rows, 125k a file
    assert [c.rows for c in cut_chunks(files, size)] == [250_000] * 4
    assert all(c.rows >= AnnConfig().ivf_min_rows for c in cut_chunks(files, size))
    whole = _groups(*[(125_000,)] * 8)
    assert [c.rows for c in cut_chunks(whole, size)] == [250_000] * 4
    odd = _groups((100,), (31,))  # 131 rows cannot make two chunks of >= 100
    assert [c.rows for c in cut_chunks(odd, SlabSize(100, 130))] == [100, 31]


def test_slab_size_reaches_the_ivf_threshold_within_the_memory_bound() -> None:
    ann = AnnConfig()
    assert SlabSize.of(384, True, ann) == SlabSize(200_000, 349_525), "307 MB of 384-d"
    assert SlabSize.of(384, True, AnnConfig(enabled=False)).target == 174_762, "256 MB"
    assert SlabSize.of(384, True, None).target == 174_762
    assert SlabSize.of(1536, True, ann) == SlabSize(87_381, 87_381), "capped at 512 MB"
    assert SlabSize.of(None, False, ann).target == 1_048_576, "no IVF for sparse"


def test_the_index_passes_the_engines_ann_settings_to_the_plan(tmp_path: Path) -> None:
    for ann, target in ((AnnConfig(), 200_000), (AnnConfig(enabled=False), 174_762)):
        client = slabdb.connect("memory://", config=EngineConfig(background=False, ann=ann))
        client.create_index(name="big", dimension=384, metric="cosine")
        assert client.Index("big").bulk_imports().target.slab_size().target == target
        client.close(flush=False)


def test_plan_round_trips_and_reads_the_old_one_key_per_chunk_format() -> None:
    chunk = Chunk((ChunkPart("ns/0.parquet", (2,), 5), ChunkPart("ns/1.parquet", (0, 1), 7)))
    assert Chunk.from_dict(json.loads(json.dumps(chunk.to_dict()))) == chunk
    old = {"key": "ns/3.parquet", "row_groups": [0, 1], "rows": 200}
    assert Chunk.from_dict(old) == Chunk((ChunkPart("ns/3.parquet", (0, 1), 200),))


@pytest.fixture
def db():
    client = slabdb.connect("memory://", config=EngineConfig(background=False))
    client.create_index(name="idx", dimension=DIM, metric="cosine")
    yield client
    client.close(flush=False)


class _Crash(Exception):
    pass


def _new_import(imports, uri: str) -> str:
    return imports.target.records.create(
        lambda i: ImportProgress(id=i, uri=uri, error_mode="abort", created_at="now")
    )[0].id


def test_resumed_import_builds_the_planned_spanning_chunks(db, tmp_path: Path) -> None:
    src = tmp_path / "src"
    expected = write_namespace(src, "ns", files=5, rows=60, dim=DIM)
    index = db.Index("idx")
    imports = index.bulk_imports()
    imports.target.rows_per_slab = 100  # 60 + 60 | 60 + 60 + 60 (the short last one joins)
    import_id = _new_import(imports, str(src))

    def crash(p) -> None:
        if p.rows_done == 120:
            raise _Crash

    with pytest.raises(_Crash):
        ImportRunner(imports.target, import_id, crash, lease_seconds=5).run()
    assert imports.describe(import_id).percent_complete == 40.0
    late = [f"late-{i}" for i in range(60)]
    write_file(src / "ns" / "009.parquet", late, vectors_for(late, DIM))  # not in the plan
    imports.target.rows_per_slab = 1000  # a fresh plan would cut one chunk
    imports.resume(import_id, background=False)
    model = imports.describe(import_id)
    assert model.status == "Completed" and model.records_imported == len(expected)
    ns = db.open_namespaces()[0]
    assert [s.count for s in ns.manifest.slabs] == [120, 180]
    assert index.fetch(ids=late[:5], namespace="ns").vectors == {}


def test_an_import_planned_in_the_old_format_resumes(db, tmp_path: Path) -> None:
    src = tmp_path / "src"
    expected = write_namespace(src, "ns", files=3, rows=100, dim=DIM)
    index = db.Index("idx")
    imports = index.bulk_imports()
    import_id = _new_import(imports, str(src))
    progress, etag = imports.target.records.load(import_id)
    raw = json.loads(progress.to_bytes())
    raw["plan"] = [
        {
            "namespace": "ns",
            "chunks": [
                {"key": f"ns/{f:03d}.parquet", "row_groups": [0], "rows": 100} for f in range(3)
            ],
        }
    ]
    raw["status"], raw["total_rows"] = "InProgress", 300
    imports.target.records.save(ImportProgress.from_bytes(json.dumps(raw).encode()), etag)
    imports.target.rows_per_slab = 1000  # a fresh plan would cut one chunk
    imports.resume(import_id, background=False)
    model = imports.describe(import_id)
    assert model.status == "Completed" and model.records_imported == len(expected)
    ns = db.open_namespaces()[0]
    assert [s.count for s in ns.manifest.slabs] == [100, 100, 100], "one slab per old chunk"


def test_a_file_grown_since_the_plan_is_read_whole(tmp_path: Path) -> None:
    ids = [f"g{i}" for i in range(150)]
    vecs = vectors_for(ids, DIM)
    write_file(tmp_path / "ns" / "0.parquet", ids, vecs, row_group_size=1000)
    planned = Chunk((ChunkPart("ns/0.parquet", (0,), 100),))  # its footer said 100 rows
    spec = IndexSpec(DIM, "cosine", "dense")
    rows = read_chunk(open_source(str(tmp_path)), planned, spec)
    assert rows.ids == ids and rows.vectors is not None
    assert np.array_equal(rows.vectors, vecs)
