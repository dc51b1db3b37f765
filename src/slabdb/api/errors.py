"""Translate errors into Pinecone's wire shapes (the statuses come from slabdb.core.errors).

Control plane: ``{"error": {"code": "NOT_FOUND", "message": ...}, "status": 404}``.
Data plane: ``{"code": 5, "message": ..., "details": []}`` (gRPC code, HTTP status).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from starlette.responses import JSONResponse

from slabdb.core.errors import NotFoundError, SlabDBError

log = logging.getLogger("slabdb.api")


class MethodNotAllowedError(NotFoundError):
    """No such route for this HTTP method (answered like Pinecone: 404/405 in its shape)."""

    http_status = 405


def as_slabdb_error(exc: BaseException) -> SlabDBError:
    """Any exception as a SlabDBError (unexpected ones become a logged 500)."""
    if isinstance(exc, SlabDBError):
        return exc
    log.exception("unexpected error", exc_info=exc)
    return SlabDBError("internal error; see the server log")


def error_response(exc: BaseException, data_plane: bool) -> JSONResponse:
    err = as_slabdb_error(exc)
    body = err.to_data_plane() if data_plane else err.to_control_plane()
    return JSONResponse(body, status_code=err.http_status)


def validation_message(errors: Sequence[Any]) -> str:
    """One readable sentence from pydantic/FastAPI validation errors."""
    parts = []
    for e in list(errors)[:5]:
        loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
        msg = e.get("msg", "invalid")
        if e.get("type") == "json_invalid":
            parts.append("the request body is not valid JSON")
        elif e.get("type") == "extra_forbidden":
            parts.append(f"unknown field '{loc}'")
        else:
            parts.append(f"{loc or 'body'}: {msg}")
    more = len(errors) - 5
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")
