"""Record reads of one index: query, fetch, fetch by metadata, list and stats."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

import numpy as np

from slabdb.client import requests, validation
from slabdb.client.context import IndexContext
from slabdb.client.pagination import decode_token, encode_token
from slabdb.client.responses import (
    DescribeIndexStatsResponse,
    FetchByMetadataResponse,
    FetchResponse,
    ListItem,
    ListResponse,
    NamespaceSummary,
    Pagination,
    QueryResponse,
    ScoredVector,
    SparseValues,
    Usage,
    Vector,
)
from slabdb.core import limits, naming
from slabdb.core.errors import InvalidArgumentError
from slabdb.core.values import F32, RecordVersion, SparseVector
from slabdb.engine.freshness import caught_up
from slabdb.engine.view import Hit, NamespaceView
from slabdb.filters import parse_filter


def _sparse_out(sv: SparseVector | None) -> SparseValues | None:
    if sv is None:
        return None
    idx, vals = sv.to_lists()
    return SparseValues(indices=idx, values=vals)


def _values_out(vec: Any) -> list[float]:
    if vec is None:
        return []
    return vec.tolist() if isinstance(vec, np.ndarray) else [float(x) for x in vec]


def _vector_out(v: RecordVersion) -> Vector:
    return Vector(
        id=v.id,
        values=_values_out(v.vector),
        metadata=dict(v.metadata) if v.metadata else None,
        sparse_values=_sparse_out(v.sparse),
    )


def _scored(hit: Hit, include_values: bool, include_metadata: bool) -> ScoredVector:
    v = hit.version
    return ScoredVector(
        id=hit.id,
        score=hit.score,
        values=_values_out(v.vector) if include_values else [],
        sparse_values=_sparse_out(v.sparse) if include_values else None,
        metadata=(dict(v.metadata) if v.metadata else {}) if include_metadata else None,
    )


def _response(
    hits: list[Hit], namespace: str, lsn: int | None, include_values: bool, include_metadata: bool
) -> QueryResponse:
    if include_values or include_metadata:
        matches = [_scored(h, include_values, include_metadata) for h in hits]
    else:  # the common query: ids and scores only (positional: keywords cost ~0.1 µs each)
        matches = [ScoredVector(h.id, h.score) for h in hits]
    return QueryResponse(matches, namespace, Usage(max(1, len(hits) // 10)), lsn)


class RecordReads:
    """Reads from one consistent view of a namespace per call."""

    def __init__(self, ctx: IndexContext) -> None:
        self._ctx = ctx

    def _view(self, namespace: str | None, min_lsn: int | None = None) -> NamespaceView | None:
        """A view of ``namespace`` that holds every write up to ``min_lsn`` (if given)."""
        ns = caught_up(lambda: self._ctx.namespace(namespace), min_lsn)
        return None if ns is None else ns.view()

    @staticmethod
    def _current(view: NamespaceView, ids: list[str]) -> dict[str, Vector]:
        """The current versions of ``ids`` in ``view``; absent or deleted ids are left out."""
        out: dict[str, Vector] = {}
        for rid in ids:
            v = view.current(rid)
            if v is not None:
                out[rid] = _vector_out(v)
        return out

    def _query_vectors(
        self, vector: Any, id: Any, sparse_vector: Any, view: NamespaceView | None
    ) -> tuple[F32 | None, SparseVector | None, bool]:
        """(dense query, sparse query, found): by ``id`` the record's own vectors."""
        cfg = self._ctx.config
        sv = validation.sparse(sparse_vector, "sparse_vector")
        if sv is not None and cfg.metric != "dotproduct":
            raise InvalidArgumentError("sparse_vector needs an index with metric 'dotproduct'")
        if vector is not None and id is not None:
            raise InvalidArgumentError("query takes either vector or id, not both")
        if sparse_vector is not None and id is not None:
            raise InvalidArgumentError("query takes either sparse_vector or id, not both")
        q = None
        if id is not None:
            current = None if view is None else view.current(validation.record_id(id))
            if current is None:
                return None, None, False
            q, sv = current.vector, current.sparse if cfg.vector_type == "sparse" else sv
        elif vector is not None and len(vector) > 0:
            q = validation.dense(vector, cfg.dimension, cfg.metric, "vector")
        if cfg.vector_type == "dense" and q is None:
            raise InvalidArgumentError("query needs a vector or an id")
        if cfg.vector_type == "sparse" and (sv is None or len(sv.indices) == 0):
            raise InvalidArgumentError("a sparse index is queried with sparse_vector (or an id)")
        return q, sv, True

    def query(
        self,
        top_k: int,
        vector: Sequence[float] | None,
        id: str | None,
        namespace: str | None,
        filter: dict[str, Any] | None,
        include_values: bool,
        include_metadata: bool,
        sparse_vector: Any,
        min_lsn: int | None = None,
    ) -> QueryResponse:
        k = validation.top_k(top_k)
        expr = parse_filter(filter)
        ns_name = validation.namespace(namespace)
        view = self._view(namespace, min_lsn)
        q, sv, found = self._query_vectors(vector, id, sparse_vector, view)
        if view is None or not found:
            return QueryResponse(matches=[], namespace=ns_name, usage=Usage(read_units=1))
        with self._ctx.search_slots:  # after the wait for min_lsn, never during it
            hits = view.query(
                vector=q,
                sparse=sv,
                metric=self._ctx.config.metric,
                top_k=k,
                expr=expr,
                executor=self._ctx.executor,
            )
        return _response(hits, ns_name, view.applied_lsn, include_values, include_metadata)

    def query_batch(
        self,
        vectors: Any,
        top_k: int,
        namespace: str | None,
        filter: dict[str, Any] | None,
        include_values: bool,
        include_metadata: bool,
    ) -> list[QueryResponse]:
        """One response per dense query vector (a list of vectors or an (n, d) array),
        all from one view, searched together (:meth:`NamespaceView.query_batch`)."""
        k = validation.top_k(top_k)
        cfg = self._ctx.config
        if cfg.vector_type != "dense":
            raise InvalidArgumentError("query_batch needs a dense index")
        matrix = self._query_matrix(vectors)
        expr = parse_filter(filter)
        ns_name = validation.namespace(namespace)
        view = self._view(namespace)
        if view is None:
            return [_response([], ns_name, None, False, False) for _ in range(len(matrix))]
        with self._ctx.search_slots:
            batch = view.query_batch(
                vectors=matrix, metric=cfg.metric, top_k=k, expr=expr, executor=self._ctx.executor
            )
        lsn = view.applied_lsn
        return [_response(h, ns_name, lsn, include_values, include_metadata) for h in batch]

    def _query_matrix(self, vectors: Any) -> F32:
        """The query vectors as one checked (n, d) float32 matrix (an array that passes
        every check in one pass; else row by row, so an error names the bad row)."""
        cfg = self._ctx.config
        dim = cfg.dimension or 0
        if isinstance(vectors, str | bytes) or not hasattr(vectors, "__len__"):
            raise InvalidArgumentError("vectors must be a list of query vectors")
        if (
            isinstance(vectors, np.ndarray)
            and vectors.dtype.kind == "f"
            and vectors.shape[1:] == (dim,)
        ):
            with np.errstate(over="ignore"):
                matrix = np.ascontiguousarray(vectors, dtype=np.float32)
            if validation.rows_pass(matrix, cfg.metric):
                return matrix
        rows = [
            validation.dense(v, cfg.dimension, cfg.metric, f"vectors[{i}]")
            for i, v in enumerate(vectors)
        ]
        return np.stack(rows) if rows else np.empty((0, dim), dtype=np.float32)

    def fetch(
        self, ids: Sequence[str], namespace: str | None, min_lsn: int | None = None
    ) -> FetchResponse:
        id_list = validation.ids_list(ids, limits.MAX_FETCH_IDS, "fetch")
        ns_name = validation.namespace(namespace)
        view = self._view(namespace, min_lsn)
        out: dict[str, Vector] = {}
        if view is not None:
            out = self._current(view, id_list)
        return FetchResponse(vectors=out, namespace=ns_name, usage=Usage(read_units=1))

    def fetch_by_metadata(
        self,
        filter: dict[str, Any],
        namespace: str | None,
        limit: int | None,
        pagination_token: str | None,
        min_lsn: int | None = None,
    ) -> FetchByMetadataResponse:
        expr = parse_filter(filter)
        size = requests.page_limit(limit, limits.MAX_FETCH_BY_METADATA_LIMIT)
        after = decode_token("fetch_by_metadata", pagination_token)
        ns_name = validation.namespace(namespace)
        view = self._view(namespace, min_lsn)
        ids = [] if view is None else view.matching_ids(expr)
        start = bisect.bisect_right(ids, after) if after is not None else 0
        page = ids[start : start + size]
        more = start + size < len(ids)
        next_page = encode_token("fetch_by_metadata", page[-1]) if more and page else None
        return FetchByMetadataResponse(
            vectors={} if view is None else self._current(view, page),
            namespace=ns_name,
            pagination=Pagination(next=next_page) if next_page else None,
            usage=Usage(read_units=1),
        )

    def list_paginated(
        self,
        prefix: str | None,
        limit: int | None,
        pagination_token: str | None,
        namespace: str | None,
        min_lsn: int | None = None,
    ) -> ListResponse:
        size = requests.page_limit(limit, limits.MAX_LIST_LIMIT)
        after = decode_token("list", pagination_token)
        ns_name = validation.namespace(namespace)
        view = self._view(namespace, min_lsn)
        ids = [] if view is None else view.sorted_ids
        start = bisect.bisect_right(ids, after) if after is not None else 0
        if prefix:
            start = max(start, bisect.bisect_left(ids, prefix))
        end = start
        while end < len(ids) and end - start < size:
            if prefix and not ids[end].startswith(prefix):
                break
            end += 1
        page = ids[start:end]
        more = end < len(ids) and (not prefix or ids[end].startswith(prefix))
        next_page = encode_token("list", page[-1]) if more and page else None
        return ListResponse(
            vectors=[ListItem(id=r) for r in page],
            namespace=ns_name,
            pagination=Pagination(next=next_page) if next_page else None,
            usage=Usage(read_units=1),
        )

    def describe_index_stats(self, filter: dict[str, Any] | None) -> DescribeIndexStatsResponse:
        cfg = self._ctx.config
        expr = parse_filter(filter)
        namespaces: dict[str, NamespaceSummary] = {}
        for name in self._ctx.catalog.namespaces(cfg):
            view = self._view(name)
            if view is None:
                continue
            count = view.count if expr is None else len(view.matching_ids(expr))
            if count:
                namespaces[naming.listed_name(name)] = NamespaceSummary(vector_count=count)
        return DescribeIndexStatsResponse(
            namespaces=namespaces,
            dimension=cfg.dimension,
            index_fullness=0.0,
            total_vector_count=sum(s.vector_count for s in namespaces.values()),
            metric=cfg.metric,
            vector_type=cfg.vector_type,
        )
