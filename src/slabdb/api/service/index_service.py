"""The data plane of one index, once for every transport.

REST handlers and gRPC servicer methods parse their input into :mod:`.inputs`, call the
:class:`IndexService` method of the operation and render its :class:`~.reply.Reply`.
Everything that must not differ between transports lives here: the default-namespace
rule (:mod:`slabdb.core.naming`), the checks the engine does not make (listing limits, options
SlabDB does not serve), and which LSN an answer reports.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TypeVar

from slabdb.api import versions
from slabdb.api.service.inputs import (
    CreateNamespaceInput,
    DeleteInput,
    FetchByMetadataInput,
    FetchInput,
    ListInput,
    ListNamespacesInput,
    QueryInput,
    SearchRecordsInput,
    StatsInput,
    UpdateInput,
    UpsertInput,
    UpsertRecordsInput,
)
from slabdb.api.service.reply import Reply
from slabdb.client.index import Index
from slabdb.client.records import SearchRecordsResponse
from slabdb.client.responses import (
    DeleteResponse,
    DescribeIndexStatsResponse,
    FetchByMetadataResponse,
    FetchResponse,
    ListNamespacesResponse,
    ListResponse,
    NamespaceDescription,
    QueryResponse,
    UpdateResponse,
    UpsertResponse,
    Usage,
)
from slabdb.core import limits, naming
from slabdb.core.errors import InvalidArgumentError, NamespaceNotFoundError

DRN_ONLY_QUERY_OPTIONS = {"scan_factor": "scanFactor", "max_candidates": "maxCandidates"}
"""Query options Pinecone's 2026-07 spec supports only on dedicated read node (DRN)
indexes. SlabDB's indexes are on-demand and searched exactly, so a query that sets one
is refused with 400 rather than silently answered as if it had been applied."""


def _usage(usage: Usage | None) -> Usage:
    return Usage(read_units=0) if usage is None else usage


_Served = TypeVar("_Served", QueryResponse, FetchResponse, FetchByMetadataResponse, ListResponse)


def _served(res: _Served) -> _Served:
    """A read answer as the wire shows it: the served namespace name, usage always set."""
    return replace(res, namespace=naming.served_name(res.namespace), usage=_usage(res.usage))


def _described(desc: NamespaceDescription) -> NamespaceDescription:
    return replace(desc, name=naming.listed_name(desc.name))


@contextmanager
def _names_namespace(requested: str) -> Iterator[None]:
    """A not-found error names the namespace as the request did ('__default__', not '')."""
    try:
        yield
    except NamespaceNotFoundError:
        shown = naming.listed_name(naming.engine_name(requested))
        raise NamespaceNotFoundError(f"namespace {shown!r} not found") from None


class IndexService:
    """One method per data-plane operation of ``index``, answering as ``api_version``
    (the request's ``X-Pinecone-Api-Version``) asks; reads see every write up to
    ``min_lsn`` (the request's ``x-slabdb-min-lsn``, see :mod:`.reply`) when it is set."""

    def __init__(
        self, index: Index, api_version: str = versions.NEWEST, min_lsn: int | None = None
    ) -> None:
        self.index = index
        self.api_version = api_version
        self.min_lsn = min_lsn

    # --- writes: report the LSN they committed at ----------------------------------------------
    def upsert(self, req: UpsertInput) -> Reply[UpsertResponse]:
        res = self.index.upsert(req.vectors, namespace=naming.engine_name(req.namespace))
        return Reply(res, committed_lsn=res.lsn)

    def update(self, req: UpdateInput) -> Reply[UpdateResponse]:
        res = self.index.update(
            id=req.id,
            values=req.values,
            set_metadata=req.set_metadata,
            namespace=naming.engine_name(req.namespace),
            sparse_values=req.sparse_values,
            filter=req.filter,
            dry_run=req.dry_run,
        )
        return Reply(res, committed_lsn=res.lsn)

    def delete(self, req: DeleteInput) -> Reply[DeleteResponse]:
        res = self.index.delete(
            ids=req.ids,
            delete_all=req.delete_all or None,
            namespace=naming.engine_name(req.namespace),
            filter=req.filter,
        )
        return Reply(res, committed_lsn=res.lsn)

    # --- reads ----------------------------------------------------------------------------------
    def query(self, req: QueryInput) -> Reply[QueryResponse]:
        """Reports the LSN of the view that answered (``x-pinecone-max-indexed-lsn``)."""
        if req.queries_sent:
            raise InvalidArgumentError(
                "'queries' is deprecated and not supported: send 'vector' or 'id'"
            )
        for option, wire in DRN_ONLY_QUERY_OPTIONS.items():
            if getattr(req, option) is not None:
                raise InvalidArgumentError(
                    f"{wire} is only supported on dedicated read node (DRN) indexes; SlabDB "
                    "indexes are on-demand and searched exactly: leave it out"
                )
        res = self.index.query(
            top_k=req.top_k,
            vector=req.vector,
            id=req.id,
            namespace=naming.engine_name(req.namespace),
            filter=req.filter,
            include_values=req.include_values,
            include_metadata=req.include_metadata,
            sparse_vector=req.sparse_vector,
            min_lsn=self.min_lsn,
        )
        return Reply(_served(res), reconciled_lsn=res.lsn)

    def fetch(self, req: FetchInput) -> Reply[FetchResponse]:
        res = self.index.fetch(
            req.ids, namespace=naming.engine_name(req.namespace), min_lsn=self.min_lsn
        )
        return Reply(_served(res))

    def fetch_by_metadata(self, req: FetchByMetadataInput) -> Reply[FetchByMetadataResponse]:
        res = self.index.fetch_by_metadata(
            filter=req.filter or {},
            namespace=naming.engine_name(req.namespace),
            limit=req.limit,
            pagination_token=req.pagination_token,
            min_lsn=self.min_lsn,
        )
        return Reply(_served(res))

    def list_vectors(self, req: ListInput) -> Reply[ListResponse]:
        res = self.index.list_paginated(
            prefix=req.prefix,
            limit=req.limit,
            pagination_token=req.pagination_token,
            namespace=naming.engine_name(req.namespace),
            min_lsn=self.min_lsn,
        )
        return Reply(_served(res))

    def describe_index_stats(self, req: StatsInput) -> Reply[DescribeIndexStatsResponse]:
        """Filtered stats only under the versions that allow them (see :mod:`..versions`);
        the default namespace's key depends on the version (:func:`naming.stats_key`)."""
        if req.filter and not versions.filtered_stats_allowed(self.api_version):
            raise versions.filtered_stats_refused()
        res = self.index.describe_index_stats(filter=req.filter)
        named = {naming.stats_key(name, self.api_version): s for name, s in res.namespaces.items()}
        return Reply(replace(res, namespaces=named))

    # --- namespaces -----------------------------------------------------------------------------
    def list_namespaces(self, req: ListNamespacesInput) -> Reply[ListNamespacesResponse]:
        if req.limit is not None and not 1 <= req.limit <= limits.MAX_LIST_LIMIT:
            raise InvalidArgumentError(f"limit must be between 1 and {limits.MAX_LIST_LIMIT}")
        res = self.index.list_namespaces_paginated(
            limit=req.limit, pagination_token=req.pagination_token, prefix=req.prefix
        )
        return Reply(
            replace(
                res,
                namespaces=[_described(d) for d in res.namespaces],
                total_count=res.total_count or 0,
            )
        )

    def describe_namespace(self, name: str) -> Reply[NamespaceDescription]:
        with _names_namespace(name):
            return Reply(_described(self.index.describe_namespace(naming.engine_name(name))))

    def create_namespace(self, req: CreateNamespaceInput) -> Reply[NamespaceDescription]:
        if req.schema is not None:
            raise InvalidArgumentError("namespace schemas are not supported")
        if req.name == "":  # on the wire "" is no name ("__default__" names the default)
            raise InvalidArgumentError("namespace name must not be empty (1-512 characters)")
        return Reply(_described(self.index.create_namespace(naming.engine_name(req.name))))

    def delete_namespace(self, name: str) -> Reply[None]:
        with _names_namespace(name):
            self.index.delete_namespace(naming.engine_name(name))
        return Reply(None)

    # --- records (integrated embedding) ---------------------------------------------------------
    def upsert_records(self, req: UpsertRecordsInput) -> Reply[UpsertResponse]:
        res = self.index.upsert_records(naming.engine_name(req.namespace), req.records)
        return Reply(res, committed_lsn=res.lsn)

    def search_records(self, req: SearchRecordsInput) -> Reply[SearchRecordsResponse]:
        res = self.index.search(
            naming.engine_name(req.namespace), query=req.query, rerank=req.rerank, fields=req.fields
        )
        return Reply(replace(res, namespace=naming.listed_name(res.namespace)))
