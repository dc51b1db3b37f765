"""Which DataFrame columns hold what, and the canonical row both modes write.

Built on the driver as a Spark plan (``select``, ``cast``, ``to_json``); the rows are
computed on the executors.  The canonical columns are those of Pinecone's import layout
(:mod:`slabdb.bulk.rows`): ``id`` string, ``values`` list<float>, ``sparse_values``
struct<indices list<bigint>, values list<float>>, ``metadata`` a JSON object as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from slabdb.core.errors import InvalidArgumentError
from slabdb.embed.models import DEFAULT_MODEL

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

REST = "*"
"""``Columns.metadata`` value: every column not used otherwise becomes a metadata field."""
SPARSE_TYPE = "struct<indices:array<bigint>,values:array<float>>"


@dataclass(frozen=True)
class Columns:
    """Column names. ``vector`` None for a sparse-only index; ``metadata`` a map or struct
    column, a JSON string column, :data:`REST` (the remaining columns) or None."""

    id: str = "id"
    vector: str | None = "vector"
    sparse_values: str | None = None
    metadata: str | None = REST


@dataclass(frozen=True)
class TextEmbedding:
    """Embed ``column`` in the executors with the local :mod:`slabdb.embed` model
    ``model`` (:data:`~slabdb.embed.models.LOCAL_MODELS`: ``minilm``, ``wordllama``) at
    ``dimension`` (None: the model's own); the vectors fill ``Columns.vector``."""

    column: str = "text"
    model: str = DEFAULT_MODEL
    dimension: int | None = None


def with_embeddings(df: DataFrame, embedding: TextEmbedding, vector_column: str) -> DataFrame:
    """``df`` plus ``vector_column``, computed by :class:`~slabdb.spark.executors.EmbedTexts`."""
    from pyspark.sql.types import ArrayType, FloatType, StructField, StructType

    from slabdb.spark.executors import MODELS, EmbedTexts

    if embedding.column not in df.columns:
        raise InvalidArgumentError(f"no text column {embedding.column!r} in the DataFrame")
    if vector_column in df.columns:
        raise InvalidArgumentError(f"the DataFrame already has a {vector_column!r} column")
    schema = StructType([*df.schema.fields, StructField(vector_column, ArrayType(FloatType()))])
    model = MODELS.resolve(embedding.model)  # an unknown model or dimension fails here, at once
    dimension = MODELS.dimension(model, embedding.dimension)
    step = EmbedTexts(embedding.column, vector_column, model, dimension)
    return df.mapInArrow(step, schema)


def canonical(df: DataFrame, columns: Columns) -> DataFrame:
    """``df`` as canonical rows (see the module docstring)."""
    from pyspark.sql import functions as F

    used = [c for c in (columns.id, columns.vector, columns.sparse_values) if c]
    missing = [c for c in used if c not in df.columns]
    if missing:
        raise InvalidArgumentError(f"no such column(s) in the DataFrame: {missing}")
    if columns.vector is None and columns.sparse_values is None:
        raise InvalidArgumentError("name a vector column, a sparse_values column or both")
    out = [F.col(columns.id).cast("string").alias("id")]
    if columns.vector:
        out.append(F.col(columns.vector).cast("array<float>").alias("values"))
    if columns.sparse_values:
        out.append(F.col(columns.sparse_values).cast(SPARSE_TYPE).alias("sparse_values"))
    metadata = _metadata_json(df, columns.metadata, used)
    if metadata is not None:
        out.append(metadata.alias("metadata"))
    return df.select(*out)


def _metadata_json(df: DataFrame, metadata: str | None, used: list[str]) -> Column | None:
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    if metadata is None:
        return None
    if metadata == REST:
        rest = [c for c in df.columns if c not in used]
        return F.to_json(F.struct(*rest)) if rest else None
    if metadata not in df.columns:
        raise InvalidArgumentError(f"no metadata column {metadata!r} in the DataFrame")
    if isinstance(df.schema[metadata].dataType, StringType):
        return F.col(metadata)  # already JSON text
    return F.to_json(F.col(metadata))
