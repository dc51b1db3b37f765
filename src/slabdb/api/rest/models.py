"""Request bodies of the REST API, with Pinecone's camelCase names.

Unknown fields are refused (400, naming the field) so typos never pass silently; the
engine validates values (dimensions, limits, filters) with its own clear messages.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SparseValuesIn(_Body):
    indices: list[StrictInt]
    values: list[float]


class VectorIn(_Body):
    id: StrictStr
    values: list[float] | None = None
    sparse_values: SparseValuesIn | None = Field(default=None, alias="sparseValues")
    metadata: dict[str, Any] | None = None


class UpsertRequest(_Body):
    vectors: list[VectorIn]
    namespace: StrictStr | None = None


class QueryRequest(_Body):
    top_k: StrictInt = Field(alias="topK")
    namespace: StrictStr | None = None
    filter: dict[str, Any] | None = None
    include_values: StrictBool = Field(default=False, alias="includeValues")
    include_metadata: StrictBool = Field(default=False, alias="includeMetadata")
    vector: list[float] | None = None
    sparse_vector: SparseValuesIn | None = Field(default=None, alias="sparseVector")
    id: StrictStr | None = None
    queries: list[Any] | None = None
    scan_factor: float | None = Field(default=None, alias="scanFactor")
    max_candidates: StrictInt | None = Field(default=None, alias="maxCandidates")


class UpdateRequest(_Body):
    id: StrictStr | None = None
    values: list[float] | None = None
    sparse_values: SparseValuesIn | None = Field(default=None, alias="sparseValues")
    set_metadata: dict[str, Any] | None = Field(default=None, alias="setMetadata")
    namespace: StrictStr | None = None
    filter: dict[str, Any] | None = None
    dry_run: StrictBool | None = Field(default=None, alias="dryRun")


class DeleteRequest(_Body):
    ids: list[StrictStr] | None = None
    delete_all: StrictBool | None = Field(default=None, alias="deleteAll")
    namespace: StrictStr | None = None
    filter: dict[str, Any] | None = None


class FetchByMetadataRequest(_Body):
    namespace: StrictStr | None = None
    filter: dict[str, Any] | None = None
    limit: StrictInt | None = None
    pagination_token: StrictStr | None = Field(default=None, alias="paginationToken")


class DescribeIndexStatsRequest(_Body):
    filter: dict[str, Any] | None = None


class CreateNamespaceRequest(_Body):
    name: StrictStr
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")


class CreateIndexRequest(_Body):
    """Both shapes: classic (``dimension``/``metric``/``spec``) and 2026-07 (``schema``)."""

    name: StrictStr
    dimension: StrictInt | None = None
    metric: StrictStr | None = None
    vector_type: StrictStr | None = None
    spec: dict[str, Any] | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    deployment: dict[str, Any] | None = None
    read_capacity: dict[str, Any] | None = None
    deletion_protection: StrictStr | None = None
    tags: dict[str, StrictStr] | None = None
    cmek_id: StrictStr | None = None


class ConfigureIndexRequest(_Body):
    deletion_protection: StrictStr | None = None
    tags: dict[str, StrictStr] | None = None
    spec: dict[str, Any] | None = None
    embed: dict[str, Any] | None = None
    deployment: dict[str, Any] | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    read_capacity: dict[str, Any] | None = None
