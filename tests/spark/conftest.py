"""A local[2] SparkSession for the whole session (no UI, bound to 127.0.0.1), and the
source rows the writer tests load, generated inside Spark (no Python-side data)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from spark_rows import DIM, GENRES, PRIME, ROWS, Source

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    pytest.importorskip("pandas")  # pyspark's mapInArrow requires it
    sql = pytest.importorskip("pyspark.sql")
    if shutil.which("java") is None:
        pytest.skip("pyspark needs Java 17+ (openjdk-17-jre-headless)")
    with pytest.MonkeyPatch.context() as env:
        # the executors' Python must be this venv's (slabdb, pyarrow), not the system's
        env.setenv("PYSPARK_PYTHON", sys.executable)
        env.setenv("SPARK_LOCAL_IP", "127.0.0.1")
        session = _local_session(sql.SparkSession)
        session.sparkContext.setLogLevel("ERROR")
        yield session
        session.stop()


def _local_session(builder_of: Any) -> SparkSession:
    return (
        builder_of.builder.master("local[2]")
        .appName("slabdb-spark-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.pyspark.python", sys.executable)
        # short jobs: the C1 JIT alone halves the JVM's start-up and first-job time here
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        .getOrCreate()
    )


@pytest.fixture(scope="session")
def source(spark: SparkSession) -> Source:
    """ROWS rows in 2 partitions, generated inside Spark (no Python data is shipped)."""
    df = spark.range(0, ROWS, numPartitions=2).selectExpr(
        "concat('doc-', cast(id as string)) as id",
        f"transform(sequence(0, {DIM - 1}),"
        f" j -> cast(cast((id * {DIM} + j) % {PRIME} as double) / {PRIME}D as float)) as vector",
        "named_struct('indices', array(id % 7, 100 + id % 5),"
        " 'values', array(cast(0.5 as float), cast(cast(id as double) / 1024D as float))) as sparse",
        f"element_at(array{GENRES!r}, cast(id % 3 + 1 as int)) as genre",
        "cast(1950 + id % 70 as int) as year",
        "cast(id as double) / 8D as score",
        "array(concat('t', cast(id % 4 as string)), 'all') as tags",
    )
    df = df.selectExpr("*", "named_struct('genre', genre, 'year', year) as meta")
    grid = np.arange(ROWS)[:, None] * DIM + np.arange(DIM)[None, :]
    dense = ((grid % PRIME).astype(np.float64) / PRIME).astype(np.float32)
    vectors = {f"doc-{i}": dense[i] for i in range(ROWS)}
    rows = {
        f"doc-{i}": {
            "genre": GENRES[i % 3], "year": 1950 + i % 70, "score": i / 8,
            "tags": [f"t{i % 4}", "all"],
            "sparse": {"indices": [i % 7, 100 + i % 5], "values": [0.5, i / 1024]},
        }
        for i in range(ROWS)
    }  # fmt: skip
    return Source(df=df, vectors=vectors, rows=rows)
