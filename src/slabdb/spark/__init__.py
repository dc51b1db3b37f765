"""Write a PySpark DataFrame to a SlabDB index: batched upserts or Parquet plus a bulk import.

::

    from slabdb.spark import EmbeddedIndex, write_dataframe
    write_dataframe(df, EmbeddedIndex("s3://bucket/db", "docs"), namespace="films")

* :mod:`slabdb.spark.writer` - ``write_dataframe`` and its options (the driver's part);
* :mod:`slabdb.spark.columns` - which columns hold what, the canonical row;
* :mod:`slabdb.spark.executors` - what runs in the tasks (embed, upsert, write Parquet);
* :mod:`slabdb.spark.batches` - upsert requests under 2 MB and 1,000 records;
* :mod:`slabdb.spark.targets` - the index written to (embedded, or served via the SDK).

Needs the ``spark`` extra (pyspark, pyarrow, pandas, pinecone); pyspark is imported only
in this package.  See ``docs/design/spark.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slabdb.spark.columns import REST, Columns, TextEmbedding
    from slabdb.spark.targets import EmbeddedIndex, ImportState, IndexTarget, ServerIndex
    from slabdb.spark.writer import ImportOptions, UpsertOptions, WriteResult, write_dataframe

_LAZY = {
    "REST": "slabdb.spark.columns",
    "Columns": "slabdb.spark.columns",
    "TextEmbedding": "slabdb.spark.columns",
    "EmbeddedIndex": "slabdb.spark.targets",
    "ImportState": "slabdb.spark.targets",
    "IndexTarget": "slabdb.spark.targets",
    "ServerIndex": "slabdb.spark.targets",
    "ImportOptions": "slabdb.spark.writer",
    "UpsertOptions": "slabdb.spark.writer",
    "WriteResult": "slabdb.spark.writer",
    "write_dataframe": "slabdb.spark.writer",
}
__all__ = [
    "REST",
    "Columns",
    "EmbeddedIndex",
    "ImportOptions",
    "ImportState",
    "IndexTarget",
    "ServerIndex",
    "TextEmbedding",
    "UpsertOptions",
    "WriteResult",
    "write_dataframe",
]


def __getattr__(name: str) -> Any:
    """Exports load on first use: a task unpickling an executor step imports
    :mod:`slabdb.spark.executors` without the driver's modules (writer, bulk import)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'slabdb.spark' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
