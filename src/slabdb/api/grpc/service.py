"""``VectorService`` over the embedded API: one servicer per index slot.

Authentication reads the ``api-key`` metadata; errors become the gRPC status that
:mod:`slabdb.core.errors` names, with the same messages as REST.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import grpc

from slabdb.api.auth import Authenticator
from slabdb.api.errors import as_slabdb_error
from slabdb.api.grpc import convert
from slabdb.api.grpc.gen import db_data_pb2 as pb
from slabdb.api.grpc.gen import db_data_pb2_grpc as pb_grpc
from slabdb.api.metrics import ApiMetrics
from slabdb.api.rest.convert import DEFAULT_NAMESPACE
from slabdb.client.index import Index
from slabdb.control.projects import Projects
from slabdb.core.errors import InvalidArgumentError

access_log = logging.getLogger("slabdb.access")
_STATUS = {code.value[0]: code for code in grpc.StatusCode}
T = TypeVar("T")


class VectorServicer(pb_grpc.VectorServiceServicer):
    def __init__(
        self, projects: Projects, auth: Authenticator, metrics: ApiMetrics, slot: int
    ) -> None:
        self._projects = projects
        self._auth = auth
        self._metrics = metrics
        self._slot = slot

    def _call(self, method: str, context: grpc.ServicerContext, fn: Callable[[Index], T]) -> T:
        md = {k: v for k, v in context.invocation_metadata()}
        request_id = str(md.get("x-request-id") or md.get("request_id") or uuid.uuid4().hex)
        context.send_initial_metadata((("x-pinecone-request-id", request_id),))
        started = time.perf_counter()
        status = "OK"
        project = None
        try:
            project = self._auth.project_for(_str(md.get("api-key")))
            return fn(self._projects.index_for_slot(self._slot, project))
        except Exception as exc:
            err = as_slabdb_error(exc)
            status = _STATUS[err.grpc_code].name
            context.abort(_STATUS[err.grpc_code], err.message)
            raise  # unreachable: abort raises
        finally:
            seconds = time.perf_counter() - started
            self._metrics.observe(f"/VectorService/{method}", "POST", status, seconds, "grpc")
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    json.dumps(
                        {
                            "event": "request",
                            "request_id": request_id,
                            "transport": "grpc",
                            "route": f"/VectorService/{method}",
                            "slot": self._slot,
                            "project": project,
                            "status": status,
                            "ms": round(seconds * 1000, 3),
                        }
                    )
                )

    # --- writes ---------------------------------------------------------------------------
    def Upsert(self, request: pb.UpsertRequest, context: grpc.ServicerContext) -> pb.UpsertResponse:
        def run(index: Index) -> pb.UpsertResponse:
            records = [
                {
                    "id": v.id,
                    "values": list(v.values),
                    "metadata": convert.metadata_in(v, "metadata"),
                    "sparse_values": convert.sparse_in(v, "sparse_values"),
                }
                for v in request.vectors
            ]
            res = index.upsert(records, namespace=request.namespace)
            return pb.UpsertResponse(upserted_count=res.upserted_count)

        return self._call("Upsert", context, run)

    def Update(self, request: pb.UpdateRequest, context: grpc.ServicerContext) -> pb.UpdateResponse:
        def run(index: Index) -> pb.UpdateResponse:
            res = index.update(
                id=request.id or None,
                values=list(request.values) or None,
                set_metadata=convert.metadata_in(request, "set_metadata"),
                namespace=request.namespace,
                sparse_values=convert.sparse_in(request, "sparse_values"),
                filter=convert.struct_in(request, "filter"),
                dry_run=request.dry_run,
            )
            out = pb.UpdateResponse()
            if res.matched_records is not None:
                out.matched_records = res.matched_records
            return out

        return self._call("Update", context, run)

    def Delete(self, request: pb.DeleteRequest, context: grpc.ServicerContext) -> pb.DeleteResponse:
        def run(index: Index) -> pb.DeleteResponse:
            flt = convert.struct_in(request, "filter")
            ids = list(request.ids) or None
            index.delete(
                ids=ids,
                delete_all=request.delete_all or None,
                namespace=request.namespace,
                filter=flt,
            )
            return pb.DeleteResponse()

        return self._call("Delete", context, run)

    # --- reads ----------------------------------------------------------------------------
    def Query(self, request: pb.QueryRequest, context: grpc.ServicerContext) -> pb.QueryResponse:
        def run(index: Index) -> pb.QueryResponse:
            if len(request.queries):
                raise InvalidArgumentError("'queries' is deprecated and not supported")
            res = index.query(
                top_k=request.top_k,
                vector=list(request.vector) or None,
                id=request.id or None,
                namespace=request.namespace,
                filter=convert.struct_in(request, "filter"),
                include_values=request.include_values,
                include_metadata=request.include_metadata,
                sparse_vector=convert.sparse_in(request, "sparse_vector"),
            )
            out = pb.QueryResponse(namespace=res.namespace)
            for m in res.matches:
                sv = out.matches.add(id=m.id, score=m.score, values=m.values)
                convert.sparse_out(sv.sparse_values, m.sparse_values)
                convert.struct_out(sv.metadata, m.metadata)
            convert.usage_out(out.usage, res.usage)
            return out

        return self._call("Query", context, run)

    def Fetch(self, request: pb.FetchRequest, context: grpc.ServicerContext) -> pb.FetchResponse:
        def run(index: Index) -> pb.FetchResponse:
            res = index.fetch(list(request.ids), namespace=request.namespace)
            out = pb.FetchResponse(namespace=res.namespace)
            convert.vectors_out(out.vectors, res.vectors)
            convert.usage_out(out.usage, res.usage)
            return out

        return self._call("Fetch", context, run)

    def FetchByMetadata(
        self, request: pb.FetchByMetadataRequest, context: grpc.ServicerContext
    ) -> pb.FetchByMetadataResponse:
        def run(index: Index) -> pb.FetchByMetadataResponse:
            res = index.fetch_by_metadata(
                filter=convert.struct_in(request, "filter") or {},
                namespace=request.namespace,
                limit=request.limit if request.HasField("limit") else None,
                pagination_token=(
                    request.pagination_token if request.HasField("pagination_token") else None
                ),
            )
            out = pb.FetchByMetadataResponse(namespace=res.namespace)
            convert.vectors_out(out.vectors, res.vectors)
            if res.pagination is not None:
                out.pagination.next = res.pagination.next
            convert.usage_out(out.usage, res.usage)
            return out

        return self._call("FetchByMetadata", context, run)

    def List(self, request: pb.ListRequest, context: grpc.ServicerContext) -> pb.ListResponse:
        def run(index: Index) -> pb.ListResponse:
            res = index.list_paginated(
                prefix=request.prefix if request.HasField("prefix") else None,
                limit=request.limit if request.HasField("limit") else None,
                pagination_token=(
                    request.pagination_token if request.HasField("pagination_token") else None
                ),
                namespace=request.namespace,
            )
            out = pb.ListResponse(namespace=res.namespace)
            for v in res.vectors:
                out.vectors.add(id=v.id)
            if res.pagination is not None:
                out.pagination.next = res.pagination.next
            convert.usage_out(out.usage, res.usage)
            return out

        return self._call("List", context, run)

    def DescribeIndexStats(
        self, request: pb.DescribeIndexStatsRequest, context: grpc.ServicerContext
    ) -> pb.DescribeIndexStatsResponse:
        def run(index: Index) -> pb.DescribeIndexStatsResponse:
            res = index.describe_index_stats(filter=convert.struct_in(request, "filter"))
            out = pb.DescribeIndexStatsResponse(
                index_fullness=res.index_fullness,
                total_vector_count=res.total_vector_count,
                metric=res.metric,
                vector_type=res.vector_type,
            )
            if res.dimension is not None:
                out.dimension = res.dimension
            for name, summary in res.namespaces.items():
                out.namespaces[name or DEFAULT_NAMESPACE].vector_count = summary.vector_count
            return out

        return self._call("DescribeIndexStats", context, run)

    # --- namespaces ---------------------------------------------------------------------------
    def ListNamespaces(
        self, request: pb.ListNamespacesRequest, context: grpc.ServicerContext
    ) -> pb.ListNamespacesResponse:
        def run(index: Index) -> pb.ListNamespacesResponse:
            prefix = request.prefix if request.HasField("prefix") else None
            res = index.list_namespaces_paginated(
                limit=request.limit if request.HasField("limit") else None,
                pagination_token=(
                    request.pagination_token if request.HasField("pagination_token") else None
                ),
                prefix=prefix,
            )
            out = pb.ListNamespacesResponse()
            for ns in res.namespaces:
                out.namespaces.add(name=ns.name or DEFAULT_NAMESPACE, record_count=ns.record_count)
            if res.pagination is not None:
                out.pagination.next = res.pagination.next
            out.total_count = res.total_count or 0
            return out

        return self._call("ListNamespaces", context, run)

    def DescribeNamespace(
        self, request: pb.DescribeNamespaceRequest, context: grpc.ServicerContext
    ) -> pb.NamespaceDescription:
        def run(index: Index) -> pb.NamespaceDescription:
            ns = index.describe_namespace(request.namespace)
            return pb.NamespaceDescription(
                name=ns.name or DEFAULT_NAMESPACE, record_count=ns.record_count
            )

        return self._call("DescribeNamespace", context, run)

    def CreateNamespace(
        self, request: pb.CreateNamespaceRequest, context: grpc.ServicerContext
    ) -> pb.NamespaceDescription:
        def run(index: Index) -> pb.NamespaceDescription:
            ns = index.create_namespace(request.name)
            return pb.NamespaceDescription(
                name=ns.name or DEFAULT_NAMESPACE, record_count=ns.record_count
            )

        return self._call("CreateNamespace", context, run)

    def DeleteNamespace(
        self, request: pb.DeleteNamespaceRequest, context: grpc.ServicerContext
    ) -> pb.DeleteResponse:
        def run(index: Index) -> pb.DeleteResponse:
            index.delete_namespace(request.namespace)
            return pb.DeleteResponse()

        return self._call("DeleteNamespace", context, run)


def _str(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
