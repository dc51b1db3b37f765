"""The arguments of each data-plane operation, as plain values (no transport types).

REST builds them from its pydantic bodies and query strings, gRPC from protobuf
messages. Absent optional fields are ``None``; namespaces are as the request named them
(``None``, ``""`` or ``"__default__"`` for the default one: see :mod:`slabdb.core.naming`); sparse
vectors are ``{"indices": [...], "values": [...]}`` dicts; filters and metadata are dicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

JsonObject = dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class UpsertInput:
    vectors: Sequence[JsonObject]
    """Records as ``{"id", "values", "sparse_values", "metadata"}`` dicts (servers pass a
    :class:`slabdb.client.batch.RecordBatch`, the same records as columns)."""
    namespace: str | None = None


@dataclass(frozen=True, kw_only=True)
class QueryInput:
    top_k: int
    namespace: str | None = None
    filter: JsonObject | None = None
    include_values: bool = False
    include_metadata: bool = False
    vector: list[float] | None = None
    sparse_vector: JsonObject | None = None
    id: str | None = None
    queries_sent: bool = False
    """The request used the deprecated multi-vector ``queries`` field."""
    scan_factor: float | None = None
    max_candidates: int | None = None


@dataclass(frozen=True, kw_only=True)
class FetchInput:
    ids: list[str]
    namespace: str | None = None


@dataclass(frozen=True, kw_only=True)
class FetchByMetadataInput:
    filter: JsonObject | None = None
    namespace: str | None = None
    limit: int | None = None
    pagination_token: str | None = None


@dataclass(frozen=True, kw_only=True)
class UpdateInput:
    id: str | None = None
    values: list[float] | None = None
    sparse_values: JsonObject | None = None
    set_metadata: JsonObject | None = None
    namespace: str | None = None
    filter: JsonObject | None = None
    dry_run: bool = False


@dataclass(frozen=True, kw_only=True)
class DeleteInput:
    ids: list[str] | None = None
    delete_all: bool = False
    namespace: str | None = None
    filter: JsonObject | None = None


@dataclass(frozen=True, kw_only=True)
class ListInput:
    prefix: str | None = None
    limit: int | None = None
    pagination_token: str | None = None
    namespace: str | None = None


@dataclass(frozen=True, kw_only=True)
class StatsInput:
    filter: JsonObject | None = None


@dataclass(frozen=True, kw_only=True)
class ListNamespacesInput:
    limit: int | None = None
    pagination_token: str | None = None
    prefix: str | None = None


@dataclass(frozen=True, kw_only=True)
class CreateNamespaceInput:
    name: str
    schema: JsonObject | None = None


@dataclass(frozen=True, kw_only=True)
class UpsertRecordsInput:
    namespace: str
    records: list[Any]
    """Records as sent (each should be an object with ``_id`` and the text field)."""


@dataclass(frozen=True, kw_only=True)
class SearchRecordsInput:
    namespace: str
    query: JsonObject
    fields: list[str] | None = None
    rerank: JsonObject | None = None
