"""Pinecone's metadata filter language and metadata rules.

* :func:`parse_filter` turns a filter dict into an immutable :mod:`~slabdb.filters.ast`
  tree (the grammar and meaning are documented in :mod:`slabdb.filters.parse`);
* :func:`matches` evaluates a tree on one record's metadata (memtable);
* :class:`MetadataIndex` + :func:`to_bitmap` evaluate it over a slab's rows;
* :func:`may_match` decides from a slab's :class:`FieldStats` whether to search it at all;
* :func:`validate_metadata` checks metadata on upsert.
"""

from slabdb.filters.ast import And, Cmp, Expr, MatchAll, Or, referenced_fields
from slabdb.filters.bitsets import bitmap_from_rows
from slabdb.filters.evaluate import matches, may_match, to_bitmap
from slabdb.filters.metadata_index import FieldStats, MetadataIndex
from slabdb.filters.parse import MAX_FILTER_DEPTH, MAX_IN_VALUES, parse_filter
from slabdb.filters.validate import (
    MAX_METADATA_BYTES,
    metadata_size,
    validate_metadata,
    validate_metadata_sized,
)

__all__ = [
    "MAX_FILTER_DEPTH",
    "MAX_IN_VALUES",
    "MAX_METADATA_BYTES",
    "And",
    "Cmp",
    "Expr",
    "FieldStats",
    "MatchAll",
    "MetadataIndex",
    "Or",
    "bitmap_from_rows",
    "matches",
    "may_match",
    "metadata_size",
    "parse_filter",
    "referenced_fields",
    "to_bitmap",
    "validate_metadata",
    "validate_metadata_sized",
]
