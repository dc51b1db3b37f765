"""``write_dataframe`` on local[2]: both modes into an embedded index and into a real
``slabdb serve`` (gRPC upserts, REST import), then every row is read back and compared;
and the text-column path, embedded inside the executors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from spark_rows import DIM, ROWS, Source

import slabdb
from slabdb.core.errors import InvalidArgumentError
from slabdb.spark import (
    REST,
    Columns,
    EmbeddedIndex,
    ImportOptions,
    ImportState,
    IndexTarget,
    ServerIndex,
    TextEmbedding,
    write_dataframe,
)
from slabdb.testing.server import ServerProcess

NAMESPACE = "films"

# a JVM and Python workers: `make test` runs these, `make test-fast` leaves them out
pytestmark = pytest.mark.slow


@dataclass
class Place:
    """Where a test's index lives: a target for the job, a reader for the checks."""

    target: IndexTarget
    reader: Any
    """An object with the SDK's ``fetch`` and ``describe_index_stats``."""
    import_dir: Path


@pytest.fixture(scope="module")
def import_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tmp_path_factory.mktemp("spark-imports"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, import_root: Path) -> Iterator[ServerProcess]:
    data = Path(tmp_path_factory.mktemp("spark-slabdb"))
    with ServerProcess(data=data, extra_args=("--import-root", str(import_root))) as srv:
        yield srv


@pytest.fixture(scope="module")
def pc(server: ServerProcess) -> Iterator[Any]:
    from pinecone import Pinecone, ServerlessSpec

    with Pinecone(api_key=server.api_key, host=server.url, grpc_scheme="http") as client:
        client.spec = ServerlessSpec(cloud="aws", region="us-east-1")
        yield client


def embedded_place(tmp_path: Path, name: str, **index: Any) -> Place:
    db = slabdb.connect(str(tmp_path / "db"))
    db.create_index(name=name, **index)
    db.close()
    reader = slabdb.connect(str(tmp_path / "db")).Index(name)  # opened after the job's writes
    return Place(EmbeddedIndex(str(tmp_path / "db"), name), reader, tmp_path / "parquet")


def server_place(server: ServerProcess, pc: Any, import_root: Path, name: str) -> Place:
    pc.create_index(name=name, dimension=DIM, metric="dotproduct", spec=pc.spec)
    target = ServerIndex(api_key=server.api_key, index=name, host=server.url, grpc=True)
    return Place(target, pc.Index(name), import_root / name)


def expected_metadata(row: dict[str, Any], mode: str) -> dict[str, Any]:
    if mode == "import":  # the struct column 'meta'
        return {"genre": row["genre"], "year": row["year"]}
    return {k: row[k] for k in ("genre", "year", "score", "tags")}  # the remaining columns


def write_and_check(source: Source, place: Place, mode: str) -> None:
    progress: list[ImportState] = []
    if mode == "import":  # metadata from a struct column, rows through Parquet
        df, columns = source.df, Columns(sparse_values="sparse", metadata="meta")
    else:  # metadata from the remaining columns
        df, columns = source.df.drop("meta"), Columns(sparse_values="sparse", metadata=REST)
    bulk = ImportOptions(uri=str(place.import_dir), on_progress=progress.append)
    result = write_dataframe(
        df, place.target, mode=mode, namespace=NAMESPACE, columns=columns,  # type: ignore[arg-type]
        bulk_import=bulk if mode == "import" else None,
    )  # fmt: skip
    assert result.records == ROWS
    if mode == "upsert":
        # 128 floats are ~2.5 kB of JSON: 1,000 records would pass 2 MB, so bytes split them
        assert result.requests > ROWS // 1000
    else:
        assert result.files >= 2  # one per partition at least
        assert progress[-1].status == "Completed" and progress[-1].records_imported == ROWS
        assert [p.name for p in place.import_dir.iterdir() if p.name[0] != "."] == [NAMESPACE]
    assert_every_row_is_there(source, place.reader, mode)


def assert_every_row_is_there(source: Source, reader: Any, mode: str) -> None:
    stats = reader.describe_index_stats()
    assert stats.namespaces[NAMESPACE].vector_count == ROWS
    ids = sorted(source.rows)
    for start in range(0, len(ids), 1000):
        got = reader.fetch(ids=ids[start : start + 1000], namespace=NAMESPACE).vectors
        assert sorted(got) == ids[start : start + 1000]
        for rid, vec in got.items():
            row = source.rows[rid]
            np.testing.assert_array_equal(np.asarray(vec.values, np.float32), source.vectors[rid])
            assert dict(vec.metadata) == expected_metadata(row, mode), rid
            assert list(vec.sparse_values.indices) == row["sparse"]["indices"]
            sparse = np.asarray(vec.sparse_values.values, np.float32)
            np.testing.assert_array_equal(sparse, np.asarray(row["sparse"]["values"], np.float32))


@pytest.mark.parametrize("mode", ["upsert", "import"])
def test_embedded_index(source: Source, tmp_path: Path, mode: str) -> None:
    place = embedded_place(tmp_path, f"emb-{mode}", dimension=DIM, metric="dotproduct")
    write_and_check(source, place, mode)


@pytest.mark.parametrize("mode", ["upsert", "import"])
def test_served_index(
    source: Source, server: ServerProcess, pc: Any, import_root: Path, mode: str
) -> None:
    write_and_check(source, server_place(server, pc, import_root, f"srv-{mode}"), mode)


def test_text_column_is_embedded_in_the_executors(spark: Any, tmp_path: Path) -> None:
    from slabdb.embed import get_embedder
    from slabdb.spark import executors

    texts = spark.range(0, 120, numPartitions=2).selectExpr(
        "cast(id as string) as id",
        "concat('film number ', cast(id as string), ' about ', "
        "element_at(array('ships', 'trains', 'cats'), cast(id % 3 + 1 as int))) as text",
    )
    place = embedded_place(tmp_path, "texts", dimension=384, metric="cosine")
    result = write_dataframe(texts, place.target, embedding=TextEmbedding(column="text"))
    assert result.records == 120
    assert not executors.MODELS._loaded, "the model was loaded on the driver, not the executors"
    rows = {r["id"]: r["text"] for r in texts.collect()}
    ids = sorted(rows)
    expected = get_embedder("minilm").embed_documents([rows[i] for i in ids])
    got = place.reader.fetch(ids=ids, namespace="").vectors
    assert sorted(got) == ids
    stored = np.asarray([got[i].values for i in ids], np.float32)
    np.testing.assert_allclose(stored, expected, atol=1e-5)
    assert {i: got[i].metadata["text"] for i in ids} == rows  # the text is a remaining column


def test_import_refuses_a_directory_that_holds_files(source: Source, tmp_path: Path) -> None:
    place = embedded_place(tmp_path, "busy", dimension=DIM, metric="dotproduct")
    (place.import_dir / NAMESPACE).mkdir(parents=True)
    (place.import_dir / NAMESPACE / "old.parquet").write_bytes(b"not ours")
    with pytest.raises(InvalidArgumentError, match=r"old\.parquet"):
        write_dataframe(
            source.df, place.target, mode="import", columns=Columns(metadata="meta"),
            bulk_import=ImportOptions(uri=str(place.import_dir)),
        )  # fmt: skip


def test_a_served_index_refusing_a_batch_is_not_retried(server: ServerProcess, pc: Any) -> None:
    """The server's 400 (over gRPC) reaches the one rule as permanent: no second attempt."""
    import pyarrow as pa
    from pinecone.errors import ApiError

    from slabdb.core.retry import RetryPolicy
    from slabdb.spark.executors import UpsertBatches

    pc.create_index(name="srv-refuse", dimension=DIM, metric="dotproduct", spec=pc.spec)
    target = ServerIndex(api_key=server.api_key, index="srv-refuse", host=server.url)
    sleeps: list[float] = []
    step = UpsertBatches(target, retry=RetryPolicy(sleep=sleeps.append))
    short = pa.RecordBatch.from_pydict(
        {"id": ["a"], "values": pa.array([[1.0, 2.0]], pa.list_(pa.float32()))}
    )
    with pytest.raises(ApiError) as caught:
        list(step(iter([short])))
    assert caught.value.status_code == 400 and sleeps == []


def test_import_through_s3(source: Source, tmp_path: Path, s3_server: Any, s3_url: str) -> None:
    """The executors write the Parquet files to S3 (moto) through SlabDB's object store;
    the embedded index imports them from there."""
    from slabdb.storage import open_store

    place = embedded_place(tmp_path, "emb-s3", dimension=DIM, metric="dotproduct")
    options = ImportOptions(uri=s3_url, store_options=dict(s3_server.store_kwargs))
    result = write_dataframe(
        source.df, place.target, mode="import", namespace=NAMESPACE, bulk_import=options,
        columns=Columns(sparse_values="sparse", metadata="meta"),
    )  # fmt: skip
    assert result.import_state is not None and result.import_state.records_imported == ROWS
    keys = [m.key for m in open_store(s3_url, **s3_server.store_kwargs).list("")]
    assert len(keys) == result.files and all(k.startswith(f"{NAMESPACE}/part-") for k in keys)
    assert_every_row_is_there(source, place.reader, "import")
