"""``VectorService`` over :mod:`slabdb.api.service`: one servicer per index slot.

Each method gets its request decoded by :mod:`.handlers` (register the servicer with
:func:`~.handlers.add_servicer`), parses it (:mod:`.parse`), calls the transport-neutral
service and renders the result (:mod:`.render`). Authentication reads the ``api-key``
metadata; the initial metadata carries ``x-pinecone-request-id`` and the reply's LSN
keys; errors become the gRPC status that :mod:`slabdb.core.errors` names, with the same
messages as REST.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeAlias, TypeVar

import grpc

from slabdb.api import versions
from slabdb.api.auth import Authenticator
from slabdb.api.errors import as_slabdb_error
from slabdb.api.grpc import parse, render
from slabdb.api.grpc.gen import db_data_pb2 as pb
from slabdb.api.grpc.gen import db_data_pb2_grpc as pb_grpc
from slabdb.api.grpc.handlers import Parsed
from slabdb.api.metrics import ApiMetrics
from slabdb.api.service import MIN_LSN, IndexService, Reply, min_lsn
from slabdb.control.projects import Projects
from slabdb.core.errors import UnauthenticatedError

Context: TypeAlias = grpc.ServicerContext

access_log = logging.getLogger("slabdb.access")
_STATUS = {code.value[0]: code for code in grpc.StatusCode}
R = TypeVar("R")
M = TypeVar("M")


class VectorServicer(pb_grpc.VectorServiceServicer):
    def __init__(
        self, projects: Projects, auth: Authenticator, metrics: ApiMetrics, slot: int
    ) -> None:
        self._projects = projects
        self._auth = auth
        self._metrics = metrics
        self._slot = slot

    def _project(self, api_key: str | None, version: str) -> str:
        try:
            return self._auth.project_for(api_key)
        except UnauthenticatedError as err:
            raise versions.data_plane_key_error(version, err, bool(api_key)) from None

    def _call(
        self,
        method: str,
        context: Context,
        request: Parsed,
        op: Callable[[IndexService], Reply[R]],
        render_result: Callable[[R], M],
    ) -> M:
        md = {k: v for k, v in context.invocation_metadata()}
        request_id = str(md.get("x-request-id") or md.get("request_id") or uuid.uuid4().hex)
        started = time.perf_counter()
        status = "OK"
        project = None
        try:
            version = versions.api_version(_str(md.get("x-pinecone-api-version")))
            project = self._project(_str(md.get("api-key")), version)
            if request.error is not None:
                raise request.error
            index = self._projects.index_for_slot(self._slot, project)
            reply = op(IndexService(index, version, min_lsn(_str(md.get(MIN_LSN)))))
            out = render_result(reply.result)
            context.send_initial_metadata(
                (("x-pinecone-request-id", request_id), *reply.lsn_headers.items())
            )
            return out
        except Exception as exc:
            err = as_slabdb_error(exc)
            status = _STATUS[err.grpc_code].name
            context.send_initial_metadata((("x-pinecone-request-id", request_id),))
            context.abort(_STATUS[err.grpc_code], err.message)
            raise  # unreachable: abort raises
        finally:
            self._observe(method, request_id, project, status, time.perf_counter() - started)

    def _observe(
        self, method: str, request_id: str, project: str | None, status: str, seconds: float
    ) -> None:
        route = f"/VectorService/{method}"
        self._metrics.observe(route, "POST", status, seconds, "grpc")
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(
                json.dumps(
                    {
                        "event": "request",
                        "request_id": request_id,
                        "transport": "grpc",
                        "route": route,
                        "slot": self._slot,
                        "project": project,
                        "status": status,
                        "ms": round(seconds * 1000, 3),
                    }
                )
            )

    # --- writes ---------------------------------------------------------------------------
    # Each method gets a :class:`Parsed` (see :mod:`.handlers`), not the bare message.
    def Upsert(self, request: Parsed, context: Context) -> pb.UpsertResponse:
        return self._call(
            "Upsert", context, request, lambda s: s.upsert(parse.upsert(request)), render.upsert
        )

    def Update(self, request: Parsed, context: Context) -> pb.UpdateResponse:
        return self._call(
            "Update", context, request, lambda s: s.update(parse.update(request)), render.update
        )

    def Delete(self, request: Parsed, context: Context) -> pb.DeleteResponse:
        return self._call(
            "Delete", context, request, lambda s: s.delete(parse.delete(request)), render.delete
        )

    # --- reads ----------------------------------------------------------------------------
    def Query(self, request: Parsed, context: Context) -> pb.QueryResponse:
        return self._call(
            "Query", context, request, lambda s: s.query(parse.query(request)), render.query
        )

    def Fetch(self, request: Parsed, context: Context) -> pb.FetchResponse:
        return self._call(
            "Fetch", context, request, lambda s: s.fetch(parse.fetch(request)), render.fetch
        )

    def FetchByMetadata(self, request: Parsed, context: Context) -> pb.FetchByMetadataResponse:
        return self._call(
            "FetchByMetadata",
            context,
            request,
            lambda s: s.fetch_by_metadata(parse.fetch_by_metadata(request)),
            render.fetch_by_metadata,
        )

    def List(self, request: Parsed, context: Context) -> pb.ListResponse:
        return self._call(
            "List",
            context,
            request,
            lambda s: s.list_vectors(parse.list_vectors(request)),
            render.listing,
        )

    def DescribeIndexStats(
        self, request: Parsed, context: Context
    ) -> pb.DescribeIndexStatsResponse:
        return self._call(
            "DescribeIndexStats",
            context,
            request,
            lambda s: s.describe_index_stats(parse.describe_index_stats(request)),
            render.stats,
        )

    # --- namespaces -------------------------------------------------------------------------
    def ListNamespaces(self, request: Parsed, context: Context) -> pb.ListNamespacesResponse:
        return self._call(
            "ListNamespaces",
            context,
            request,
            lambda s: s.list_namespaces(parse.list_namespaces(request)),
            render.namespaces,
        )

    def DescribeNamespace(self, request: Parsed, context: Context) -> pb.NamespaceDescription:
        return self._call(
            "DescribeNamespace",
            context,
            request,
            lambda s: s.describe_namespace(request.message.namespace),
            render.namespace,
        )

    def CreateNamespace(self, request: Parsed, context: Context) -> pb.NamespaceDescription:
        return self._call(
            "CreateNamespace",
            context,
            request,
            lambda s: s.create_namespace(parse.create_namespace(request)),
            render.namespace,
        )

    def DeleteNamespace(self, request: Parsed, context: Context) -> pb.DeleteResponse:
        return self._call(
            "DeleteNamespace",
            context,
            request,
            lambda s: s.delete_namespace(request.message.namespace),
            render.delete,
        )


def _str(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
