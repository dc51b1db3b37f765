"""Pinecone's published limits (checked against the 2026-07 data-plane spec), enforced
with clear 400 errors (413 for bodies), and the bounds SlabDB adds so that whatever it
accepts it can store and serve back."""

from __future__ import annotations

MAX_UPSERT_RECORDS = 1000
MAX_REQUEST_BYTES = 2 * 1024 * 1024
MAX_METADATA_BYTES = 40 * 1024
MAX_ID_LENGTH = 512
MAX_DIMENSION = 20_000
MAX_TOP_K = 10_000
MAX_FETCH_IDS = 1000
MAX_DELETE_IDS = 1000
MAX_FILTER_IN_VALUES = 10_000
MAX_SPARSE_NON_ZEROS = 2048
MAX_SPARSE_INDEX = 2**32 - 1
"""Sparse indices are uint32 on the wire (proto) and in slabs."""
MAX_INDEX_NAME_LENGTH = 45
MAX_NAMESPACE_LENGTH = 512
MAX_LIST_LIMIT = 100
DEFAULT_LIST_LIMIT = 100
MAX_FETCH_BY_METADATA_LIMIT = 10_000
"""``fetch_by_metadata`` ``limit``: 1 to 10,000 (default 100)."""
MAX_FILTER_DEPTH = 20
"""Deepest allowed nesting of ``$and``/``$or`` in a filter (REST and gRPC alike)."""

MIN_METADATA_INT = -(2**63)
MAX_METADATA_INT = 2**64 - 1
"""Integer metadata must fit 64 bits (stored as int64/uint64, compared as float64)."""
MAX_VECTOR_NORM = 2.0**62
"""Dense and sparse vectors must have an L2 norm below this (about 4.6e18), so that every
score (dot products, cosine, squared distances, computed in float32) stays finite:
|q . v| <= |q| |v| < 2^124 and |q - v|^2 < 2^126, both below float32's maximum (~2^128)."""
