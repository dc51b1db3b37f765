"""Import routes (``/bulk/imports``, Pinecone's 2026-07 data plane): parse, call
:class:`~slabdb.api.service.bulk_service.ImportService`, render camelCase JSON.

SDK 10's ``GrpcIndex`` sends its import calls over REST to the same host, so these
routes serve both SDK clients (the gRPC proto has no import methods)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from starlette.responses import Response

from slabdb.api.rest.deps import JSON, Ctx, DataIndex
from slabdb.api.service.bulk_service import ImportService

if TYPE_CHECKING:
    from slabdb.bulk import ImportModel

router = APIRouter(tags=["bulk import"])


class ErrorModeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    onError: StrictStr | None = None


class StartImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    uri: StrictStr
    error_mode: ErrorModeIn | None = Field(default=None, alias="errorMode")
    integration_id: StrictStr | None = Field(default=None, alias="integrationId", max_length=1000)
    """Accepted for SDK compatibility: the server reads S3 with its own credentials."""


async def import_service(index: DataIndex, ctx: Ctx) -> ImportService:
    return ImportService(index, ctx.import_policy)


Imports = Annotated[ImportService, Depends(import_service)]


def render_import(model: ImportModel) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": model.id,
        "uri": model.uri,
        "status": model.status,
        "createdAt": model.created_at,
        "percentComplete": model.percent_complete,
        "recordsImported": model.records_imported,
    }
    if model.finished_at is not None:
        out["finishedAt"] = model.finished_at
        out["validationResult"] = {
            "importSuccesses": model.records_imported,
            "importErrors": model.records_failed,
        }
    if model.error is not None:
        out["error"] = model.error
    return out


@router.post("/bulk/imports")
def start_import(body: StartImportRequest, imports: Imports) -> Response:
    mode = body.error_mode.onError if body.error_mode is not None else None
    reply = imports.start(body.uri, mode)
    return JSON({"id": reply.result.id})


@router.get("/bulk/imports")
def list_imports(
    imports: Imports,
    limit: Annotated[int | None, Query()] = None,
    paginationToken: Annotated[str | None, Query()] = None,
) -> Response:
    page = imports.list(limit, paginationToken).result
    body: dict[str, Any] = {"data": [render_import(m) for m in page]}
    if page.pagination is not None:
        body["pagination"] = {"next": page.pagination.next}
    return JSON(body)


@router.get("/bulk/imports/{import_id}")
def describe_import(import_id: str, imports: Imports) -> Response:
    return JSON(render_import(imports.describe(import_id).result))


@router.delete("/bulk/imports/{import_id}")
def cancel_import(import_id: str, imports: Imports) -> Response:
    imports.cancel(import_id)
    return JSON({})
