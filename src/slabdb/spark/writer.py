"""``write_dataframe``: a PySpark DataFrame into a SlabDB (or Pinecone) index.

Two modes, one canonical row (:mod:`slabdb.spark.columns`):

* ``"upsert"``: every task sends its rows as upsert requests (under 2 MB and 1,000
  records each), retried with backoff and jitter by the one retry policy;
* ``"import"``: every task writes its rows as Parquet files in Pinecone's import layout
  under ``ImportOptions.uri`` (``<uri>/<namespace or __default__>/*.parquet``); then the
  driver starts one bulk import of that directory and polls it to the end, reporting each
  change of progress.

The driver only plans: it reads the schema, builds the Spark plan and, in import mode,
checks the directory is empty and starts and polls the import.  The rows never pass
through it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from slabdb.bulk.imports import absolute_uri
from slabdb.bulk.source import DEFAULT_NAMESPACE_DIR
from slabdb.core import limits
from slabdb.core.errors import InvalidArgumentError, SlabDBError
from slabdb.core.retry import RetryPolicy
from slabdb.spark.columns import Columns, TextEmbedding, canonical, with_embeddings
from slabdb.spark.executors import (
    PARQUET_SUMMARY,
    UPSERT_SUMMARY,
    UpsertBatches,
    WriteParquetFiles,
)
from slabdb.spark.targets import ImportState, IndexConnection, IndexTarget
from slabdb.storage import open_store

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

log = logging.getLogger(__name__)

Mode = Literal["upsert", "import"]


@dataclass(frozen=True)
class UpsertOptions:
    max_batch_bytes: int = limits.MAX_REQUEST_BYTES
    max_batch_records: int = limits.MAX_UPSERT_RECORDS
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    """Per request, on the executors; also used on the driver in import mode."""


@dataclass(frozen=True)
class ImportOptions:
    uri: str
    """An empty (or absent) local directory or ``s3://bucket/prefix`` that the executors
    can write and the index's server can read."""
    error_mode: str = "abort"
    rows_per_file: int = 100_000
    store_options: dict[str, str] = field(default_factory=dict)
    """``open_store`` options (S3 endpoint, keys, region) for the executors' writes."""
    poll_seconds: float = 0.5
    timeout_seconds: float | None = None
    on_progress: Callable[[ImportState], None] | None = None
    """Called on the driver with every change of the import's progress."""


@dataclass(frozen=True)
class WriteResult:
    mode: Mode
    records: int
    """Rows upserted (as acknowledged) or written to Parquet."""
    requests: int = 0
    retries: int = 0
    files: int = 0
    import_state: ImportState | None = None


def write_dataframe(
    df: DataFrame,
    target: IndexTarget,
    *,
    mode: Mode = "upsert",
    namespace: str = "",
    columns: Columns | None = None,
    embedding: TextEmbedding | None = None,
    upsert: UpsertOptions | None = None,
    bulk_import: ImportOptions | None = None,
) -> WriteResult:
    """Write ``df`` into ``target``'s ``namespace`` (see the module docstring)."""
    columns = columns or Columns()
    if embedding is not None:
        if columns.vector is None:
            raise InvalidArgumentError("text embedding needs Columns.vector to name its output")
        df = with_embeddings(df, embedding, columns.vector)
    rows = canonical(df, columns)
    upsert = upsert or UpsertOptions()
    if mode == "upsert":
        return _upsert(rows, target, namespace, upsert)
    if mode == "import":
        if bulk_import is None:
            raise InvalidArgumentError("mode='import' needs bulk_import=ImportOptions(uri=...)")
        return _import(rows, target, namespace, bulk_import, upsert.retry)
    raise InvalidArgumentError(f"mode must be 'upsert' or 'import', got {mode!r}")


def _upsert(
    rows: DataFrame, target: IndexTarget, namespace: str, opts: UpsertOptions
) -> WriteResult:
    step = UpsertBatches(
        target, namespace, opts.max_batch_bytes, opts.max_batch_records, opts.retry
    )
    summary = rows.mapInArrow(step, UPSERT_SUMMARY).collect()
    return WriteResult(
        mode="upsert",
        records=sum(r["records"] for r in summary),
        requests=sum(r["requests"] for r in summary),
        retries=sum(r["retries"] for r in summary),
    )


def _import(
    rows: DataFrame, target: IndexTarget, namespace: str, opts: ImportOptions, retry: RetryPolicy
) -> WriteResult:
    uri = absolute_uri(opts.uri)  # the server resolves a relative path from its own cwd
    _require_empty(uri, opts.store_options)
    step = WriteParquetFiles(
        uri=uri,
        directory=namespace or DEFAULT_NAMESPACE_DIR,
        job=uuid.uuid4().hex[:12],
        rows_per_file=opts.rows_per_file,
        store_options=dict(opts.store_options),
    )
    summary = rows.mapInArrow(step, PARQUET_SUMMARY).collect()
    files, written = sum(r["files"] for r in summary), sum(r["rows"] for r in summary)
    if files == 0:
        return WriteResult(mode="import", records=0)
    with target.connection() as conn:
        import_id = retry.call(lambda: conn.start_import(uri, opts.error_mode))
        state = _wait_for_import(conn, import_id, opts, retry)
    if state.status != "Completed":
        raise SlabDBError(f"import {import_id} ended {state.status}: {state.error}")
    return WriteResult(mode="import", records=written, files=files, import_state=state)


def _require_empty(uri: str, store_options: dict[str, str]) -> None:
    """The import takes every file under the URI: refuse one that already holds some."""
    store = open_store(uri, **store_options)
    try:
        existing = next(iter(store.list("")), None)
    finally:
        store.close()
    if existing is not None:
        raise InvalidArgumentError(
            f"{uri} already holds {existing.key}: an import reads every file under it"
        )


def _wait_for_import(
    conn: IndexConnection, import_id: str, opts: ImportOptions, retry: RetryPolicy
) -> ImportState:
    report = opts.on_progress or _log_progress
    deadline = None if opts.timeout_seconds is None else time.monotonic() + opts.timeout_seconds
    last: ImportState | None = None
    while True:
        state = retry.call(lambda: conn.describe_import(import_id))
        if state != last:
            report(state)
            last = state
        if state.finished:
            return state
        if deadline is not None and time.monotonic() > deadline:
            raise SlabDBError(f"import {import_id} not finished in {opts.timeout_seconds}s")
        time.sleep(opts.poll_seconds)


def _log_progress(state: ImportState) -> None:
    log.info(
        "import %s: %s, %.0f%%, %d records",
        state.id,
        state.status,
        state.percent_complete,
        state.records_imported,
    )
