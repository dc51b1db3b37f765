"""What runs inside the Spark executors, one Arrow batch stream per task (``mapInArrow``).

Each step is a frozen dataclass of plain settings with a ``__call__`` taking the task's
``Iterator[pyarrow.RecordBatch]``: Spark pickles it into the task, and the executor builds
what it needs (an embedder, an index connection, an object store) itself, in its own
process.  Nothing here reads driver state, so a task runs the same on ``local[2]`` and on a
cluster, and a retried task redoes exactly its own work:

* :class:`EmbedTexts` adds a vector column from a text column with a local
  :mod:`slabdb.embed` model (loaded once per executor Python process, then reused);
* :class:`UpsertBatches` sends the task's rows as upsert requests under the size limits,
  each retried by the one retry policy; it yields one summary row;
* :class:`WriteParquetFiles` writes the task's rows as Parquet files in the import
  layout, named by job, partition and sequence number (a retried task overwrites its own
  files); it yields one summary row.

The canonical row (built on the driver, :mod:`slabdb.spark.columns`): ``id`` string,
``values`` list<float>, ``sparse_values`` struct<indices, values>, ``metadata`` JSON text.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from slabdb.core import limits
from slabdb.core.retry import RetryPolicy
from slabdb.embed import Embedder
from slabdb.embed.models import EmbedModels
from slabdb.spark.batches import Record, split_batches
from slabdb.spark.targets import IndexConnection, IndexTarget
from slabdb.storage import open_store

Batches = Iterator[pa.RecordBatch]

MODELS = EmbedModels()
"""This process's loaded models: each executor's Python process builds a model on first
use and its later tasks reuse it (Spark reuses Python workers)."""


@dataclass(frozen=True)
class EmbedTexts:
    """Append ``vector_column`` (list<float>): the embedding of ``text_column``."""

    text_column: str
    vector_column: str
    model: str
    dimension: int

    def __call__(self, batches: Batches) -> Batches:
        embedder: Embedder | None = None
        for batch in batches:
            if batch.num_rows == 0:
                continue
            embedder = embedder or MODELS.embedder(self.model, self.dimension)
            texts = [t or "" for t in batch.column(self.text_column).to_pylist()]
            vectors = np.ascontiguousarray(embedder.embed_documents(texts), dtype=np.float32)
            dim = vectors.shape[1]
            column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim)
            column = column.cast(pa.list_(pa.float32()))
            yield pa.RecordBatch.from_arrays(
                [*batch.columns, column], names=[*batch.schema.names, self.vector_column]
            )


def records_of(batches: Batches) -> Iterator[Record]:
    """Upsert records from canonical rows (null fields left out, metadata parsed)."""
    for batch in batches:
        for row in batch.to_pylist():
            record: Record = {"id": row["id"]}
            if row.get("values") is not None:
                record["values"] = row["values"]
            sparse = row.get("sparse_values")
            if sparse and sparse.get("indices"):
                record["sparse_values"] = {"indices": sparse["indices"], "values": sparse["values"]}
            metadata = json.loads(row["metadata"]) if row.get("metadata") else None
            if metadata:
                record["metadata"] = {k: v for k, v in metadata.items() if v is not None}
            yield record


UPSERT_SUMMARY = "records long, requests long, retries long"


@dataclass(frozen=True)
class UpsertBatches:
    """Upsert the task's rows into ``target`` in requests under the limits, retrying each
    request (and the connection) by ``retry`` on retryable errors only."""

    target: IndexTarget
    namespace: str = ""
    max_batch_bytes: int = limits.MAX_REQUEST_BYTES
    max_batch_records: int = limits.MAX_UPSERT_RECORDS
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def _send(self, conn: IndexConnection, batch: list[Record]) -> tuple[int, int]:
        """(records acknowledged, attempts made) for one request."""
        attempts = 0

        def attempt() -> int:
            nonlocal attempts
            attempts += 1
            return conn.upsert(batch, self.namespace)

        return self.retry.call(attempt, what=f"upsert of {len(batch)} records"), attempts

    def __call__(self, batches: Batches) -> Batches:
        records = requests = retries = 0
        conn = None
        try:
            for batch in split_batches(
                records_of(batches),
                namespace=self.namespace,
                max_bytes=self.max_batch_bytes,
                max_records=self.max_batch_records,
            ):
                conn = conn or self.retry.call(self.target.open, what="open the index")
                acknowledged, attempts = self._send(conn, batch)
                records += acknowledged
                requests += 1
                retries += attempts - 1
        finally:
            if conn is not None:
                conn.close()
        yield pa.RecordBatch.from_pydict(
            {"records": [records], "requests": [requests], "retries": [retries]}
        )


PARQUET_SUMMARY = "files long, rows long"


@dataclass(frozen=True)
class WriteParquetFiles:
    """Write the task's rows to ``<uri>/<directory>/part-<partition>-<job>-<seq>.parquet``
    (a new file every ``rows_per_file`` rows) through SlabDB's object store."""

    uri: str
    directory: str
    job: str
    rows_per_file: int = 100_000
    store_options: dict[str, str] = field(default_factory=dict)

    def __call__(self, batches: Batches) -> Batches:
        from pyspark import TaskContext

        context = TaskContext.get()
        partition = context.partitionId() if context is not None else 0
        store = open_store(self.uri, **self.store_options)
        files = rows = pending = 0
        buffer, writer = io.BytesIO(), None
        try:
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                writer = writer or pq.ParquetWriter(buffer, batch.schema)
                writer.write_batch(batch)
                rows += batch.num_rows
                pending += batch.num_rows
                if pending >= self.rows_per_file:
                    writer.close()
                    store.put(self._key(partition, files), buffer.getvalue())
                    files, pending, buffer, writer = files + 1, 0, io.BytesIO(), None
            if writer is not None:
                writer.close()
                store.put(self._key(partition, files), buffer.getvalue())
                files += 1
        finally:
            store.close()
        yield pa.RecordBatch.from_pydict({"files": [files], "rows": [rows]})

    def _key(self, partition: int, seq: int) -> str:
        return f"{self.directory}/part-{partition:05d}-{self.job}-{seq:04d}.parquet"
