"""Request bodies of the REST API, with Pinecone's camelCase names.

Unknown fields are refused (400, naming the field) so typos never pass silently; the
engine validates values (dimensions, limits, filters) with its own clear messages. Each
data-plane body turns itself into the service's transport-neutral input (``to_input``).
"""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

from slabdb.api.rest.upsert_body import simple_batch
from slabdb.api.service.inputs import (
    CreateNamespaceInput,
    DeleteInput,
    FetchByMetadataInput,
    QueryInput,
    StatsInput,
    UpdateInput,
    UpsertInput,
)
from slabdb.client.batch import RecordBatch


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


Values = list[StrictFloat]
"""Vector values: JSON numbers only (numeric strings and booleans are refused)."""


class SparseValuesIn(_Body):
    indices: list[StrictInt]
    values: Values


def _sparse(sv: SparseValuesIn | None) -> dict[str, Any] | None:
    return None if sv is None else sv.model_dump()


class VectorIn(_Body):
    id: StrictStr
    values: Values | None = None
    sparse_values: SparseValuesIn | None = Field(default=None, alias="sparseValues")
    metadata: dict[str, Any] | None = None


class UpsertRequest(_Body):
    vectors: list[VectorIn]
    namespace: StrictStr | None = None
    _batch: RecordBatch | None = PrivateAttr(default=None)
    """The records when the body had the usual shape (:func:`.upsert_body.simple_batch`);
    ``vectors`` is then left empty."""

    @model_validator(mode="wrap")
    @classmethod
    def _usual_shape(cls, data: Any, validate: ModelWrapValidatorHandler[UpsertRequest]) -> Any:
        batch = simple_batch(data)
        if batch is None:
            return validate(data)
        body = cls.model_construct(vectors=[], namespace=data.get("namespace"))
        body._batch = batch
        return body

    def to_input(self) -> UpsertInput:
        """The records as columns (values stacked by numpy, validated per batch)."""
        if self._batch is not None:
            return UpsertInput(vectors=self._batch, namespace=self.namespace)
        vs = self.vectors
        batch = RecordBatch.from_rows(
            [v.id for v in vs],
            [v.values if v.values is not None else [] for v in vs],
            [v.metadata for v in vs],
            [_sparse(v.sparse_values) for v in vs],
        )
        return UpsertInput(vectors=batch, namespace=self.namespace)


class QueryRequest(_Body):
    top_k: StrictInt = Field(alias="topK")
    namespace: StrictStr | None = None
    filter: dict[str, Any] | None = None
    include_values: StrictBool = Field(default=False, alias="includeValues")
    include_metadata: StrictBool = Field(default=False, alias="includeMetadata")
    vector: Values | None = None
    sparse_vector: SparseValuesIn | None = Field(default=None, alias="sparseVector")
    id: StrictStr | None = None
    queries: list[Any] | None = None
    scan_factor: float | None = Field(default=None, alias="scanFactor")
    max_candidates: StrictInt | None = Field(default=None, alias="maxCandidates")

    def to_input(self) -> QueryInput:
        return QueryInput(
            top_k=self.top_k,
            namespace=self.namespace,
            filter=self.filter,
            include_values=self.include_values,
            include_metadata=self.include_metadata,
            vector=self.vector,
            sparse_vector=_sparse(self.sparse_vector),
            id=self.id,
            queries_sent=bool(self.queries),
            scan_factor=self.scan_factor,
            max_candidates=self.max_candidates,
        )


class UpdateRequest(_Body):
    id: StrictStr | None = None
    values: Values | None = None
    sparse_values: SparseValuesIn | None = Field(default=None, alias="sparseValues")
    set_metadata: dict[str, Any] | None = Field(default=None, alias="setMetadata")
    namespace: StrictStr | None = None
    filter: dict[str, Any] | None = None
    dry_run: StrictBool | None = Field(default=None, alias="dryRun")

    def to_input(self) -> UpdateInput:
        return UpdateInput(
            id=self.id,
            values=self.values,
            sparse_values=_sparse(self.sparse_values),
            set_metadata=self.set_metadata,
            namespace=self.namespace,
            filter=self.filter,
            dry_run=bool(self.dry_run),
        )


class DeleteRequest(_Body):
    ids: list[StrictStr] | None = None
    delete_all: StrictBool | None = Field(default=None, alias="deleteAll")
    namespace: StrictStr | None = None
    filter: dict[str, Any] | None = None

    def to_input(self) -> DeleteInput:
        return DeleteInput(
            ids=self.ids,
            delete_all=bool(self.delete_all),
            namespace=self.namespace,
            filter=self.filter,
        )


class FetchByMetadataRequest(_Body):
    namespace: StrictStr | None = None
    filter: dict[str, Any] | None = None
    limit: StrictInt | None = None
    pagination_token: StrictStr | None = Field(default=None, alias="paginationToken")

    def to_input(self) -> FetchByMetadataInput:
        return FetchByMetadataInput(
            filter=self.filter,
            namespace=self.namespace,
            limit=self.limit,
            pagination_token=self.pagination_token,
        )


class DescribeIndexStatsRequest(_Body):
    filter: dict[str, Any] | None = None

    def to_input(self) -> StatsInput:
        return StatsInput(filter=self.filter)


class CreateNamespaceRequest(_Body):
    name: StrictStr
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")

    def to_input(self) -> CreateNamespaceInput:
        return CreateNamespaceInput(name=self.name, schema=self.schema_)


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
