"""The data plane of one index, with the official SDK's ``Index`` method signatures."""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from slabdb.client import validation
from slabdb.client.catalog import IndexConfig
from slabdb.client.namespaces import NamespacesMixin
from slabdb.client.progress import progress
from slabdb.client.records import RecordsMixin
from slabdb.client.responses import (
    DeleteResponse,
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
    UpdateResponse,
    UpsertResponse,
    Usage,
    Vector,
)
from slabdb.core import limits
from slabdb.core.errors import (
    InvalidArgumentError,
    LimitExceededError,
    StaleNamespaceError,
)
from slabdb.core.ops import (
    DeleteAllOp,
    DeleteByFilterOp,
    DeleteOp,
    Op,
    SparseVector,
    UpdateByFilterOp,
    UpdateOp,
    UpsertOp,
)
from slabdb.engine.namespace import Namespace
from slabdb.engine.view import Hit
from slabdb.filters import parse_filter

if TYPE_CHECKING:
    from slabdb.client.client import Client


def _sparse_out(sv: SparseVector | None) -> SparseValues | None:
    if sv is None:
        return None
    idx, vals = sv.to_lists()
    return SparseValues(indices=idx, values=vals)


def _values_out(vec: Any) -> list[float]:
    return [] if vec is None else [float(x) for x in vec]


class Index(RecordsMixin, NamespacesMixin):
    """Upsert, query, fetch, update, delete and list records of one index."""

    def __init__(self, client: Client, cfg: IndexConfig) -> None:
        self._client = client
        self.config = cfg

    # --- helpers ----------------------------------------------------------------------------
    def _ns(self, namespace: str | None, create: bool = False) -> Namespace | None:
        return self._client.namespace(self.config, validation.namespace(namespace), create)

    def _writer(self, namespace: str | None) -> Namespace:
        ns = self._ns(namespace, create=True)
        assert ns is not None
        return ns

    def _write(
        self, namespace: str | None, ops: list[Op], create: bool = True
    ) -> tuple[int | None, list[Any]]:
        """Write ``ops``: (LSN, one result per op).  If the open namespace turns out
        deleted elsewhere, reopen it and write again.

        With ``create=False`` (deletes) a namespace that does not exist is left alone
        (LSN None).
        """
        for attempt in range(2):
            ns = self._ns(namespace, create=create)
            if ns is None:
                return None, [0] * len(ops)
            try:
                return ns.write_lsn(ops)
            except StaleNamespaceError:
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    # --- writes ---------------------------------------------------------------------------------
    def upsert(
        self,
        vectors: Sequence[Any],
        namespace: str | None = None,
        batch_size: int | None = None,
        show_progress: bool = True,
        **_: Any,
    ) -> UpsertResponse:
        """Insert or replace records given as dicts, tuples or Vector objects."""
        if isinstance(vectors, str | bytes) or not isinstance(vectors, Sequence):
            raise InvalidArgumentError("vectors must be a list of records")
        if batch_size is not None:
            if batch_size < 1:
                raise InvalidArgumentError("batch_size must be at least 1")
            total, lsn = 0, None
            with progress(len(vectors), "upsert", show_progress) as advance:
                for start in range(0, len(vectors), batch_size):
                    batch = vectors[start : start + batch_size]
                    res = self.upsert(batch, namespace)
                    total, lsn = total + res.upserted_count, res.lsn
                    advance(len(batch))
            return UpsertResponse(upserted_count=total, lsn=lsn)
        if len(vectors) > limits.MAX_UPSERT_RECORDS:
            raise LimitExceededError(
                f"upsert takes at most {limits.MAX_UPSERT_RECORDS} records per request, got {len(vectors)}; "
                "pass batch_size= or use upsert_arrays"
            )
        if not vectors:
            return UpsertResponse(upserted_count=0)
        op = self._upsert_op(vectors)
        lsn, _results = self._write(namespace, [op])
        return UpsertResponse(upserted_count=len(op.ids), lsn=lsn)

    def _upsert_op(self, vectors: Sequence[Any]) -> UpsertOp:
        cfg = self.config
        ids: list[str] = []
        rows: list[np.ndarray] = []
        mds: list[dict[str, Any] | None] = []
        sps: list[SparseVector | None] = []
        md_bytes = 0
        for i, item in enumerate(vectors):
            rid, values, md, sp = validation.split_record(item, i)
            ids.append(validation.record_id(rid, f"vectors[{i}].id"))
            sv = validation.sparse(sp, f"vectors[{i}].sparse_values")
            if cfg.vector_type == "dense":
                rows.append(
                    validation.dense(values, cfg.dimension, cfg.metric, f"vectors[{i}].values")
                )
                if sv is not None and cfg.metric != "dotproduct":
                    raise InvalidArgumentError(
                        f"vectors[{i}]: sparse values need an index with metric 'dotproduct'"
                    )
            else:
                if values:
                    raise InvalidArgumentError(
                        f"vectors[{i}]: a sparse index takes no dense values"
                    )
                if sv is None or len(sv.indices) == 0:
                    raise InvalidArgumentError(f"vectors[{i}]: a sparse index needs sparse_values")
            sps.append(sv)
            clean, size = validation.metadata_sized(md, f"vectors[{i}].metadata")
            mds.append(clean)
            md_bytes += size
        nnz = sum(0 if s is None else len(s.indices) for s in sps)
        n_values = 0 if not rows else len(rows) * len(rows[0])
        validation.check_request_size(validation.estimate_bytes(n_values, ids, md_bytes, nnz))
        matrix = np.stack(rows) if rows else None
        return UpsertOp(
            ids=ids,
            vectors=matrix,
            metadata=mds,
            sparse=sps if any(s is not None for s in sps) else None,
        )

    def upsert_arrays(
        self,
        ids: Sequence[str] | np.ndarray,
        vectors: np.ndarray,
        metadata: Sequence[dict[str, Any] | None] | None = None,
        namespace: str | None = None,
        batch_size: int = limits.MAX_UPSERT_RECORDS,
        show_progress: bool = True,
    ) -> UpsertResponse:
        """Bulk path: ids and an (n, d) matrix (plus optional metadata), no per-record dicts.

        Writes batches of ``batch_size`` (one WAL entry each); a progress bar is drawn
        on a terminal when there is more than one batch.
        """
        cfg = self.config
        if cfg.vector_type != "dense":
            raise InvalidArgumentError("upsert_arrays needs a dense index")
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] != cfg.dimension:
            raise InvalidArgumentError(
                f"vectors must be an (n, {cfg.dimension}) array, got shape {matrix.shape}"
            )
        id_list = [
            validation.record_id(str(r) if isinstance(r, np.str_) else r, f"ids[{i}]")
            for i, r in enumerate(ids)
        ]
        if len(id_list) != len(matrix):
            raise InvalidArgumentError(f"{len(id_list)} ids but {len(matrix)} vectors")
        if metadata is not None and len(metadata) != len(id_list):
            raise InvalidArgumentError(f"{len(id_list)} ids but {len(metadata)} metadata entries")
        if not np.all(np.isfinite(matrix)):
            raise InvalidArgumentError("vectors contain NaN or infinity")
        if cfg.metric == "cosine" and not np.all(np.any(matrix, axis=1)):
            raise InvalidArgumentError("a cosine index cannot take an all-zero vector")
        mds = [
            validation.metadata(m, f"metadata[{i}]")
            for i, m in enumerate(metadata or [None] * len(id_list))
        ]
        batch_size = max(1, min(batch_size, limits.MAX_UPSERT_RECORDS))
        many = len(id_list) > batch_size
        lsn = None
        with progress(len(id_list), "upsert", show_progress and many) as advance:
            for start in range(0, len(id_list), batch_size):
                end = start + batch_size
                lsn, _results = self._write(
                    namespace,
                    [
                        UpsertOp(
                            ids=id_list[start:end],
                            vectors=matrix[start:end],
                            metadata=mds[start:end],
                        )
                    ],
                )
                advance(len(id_list[start:end]))
        return UpsertResponse(upserted_count=len(id_list), lsn=lsn)

    def update(
        self,
        id: str | None = None,
        values: Sequence[float] | None = None,
        set_metadata: dict[str, Any] | None = None,
        namespace: str | None = None,
        sparse_values: Any = None,
        filter: dict[str, Any] | None = None,
        dry_run: bool = False,
        **_: Any,
    ) -> UpdateResponse:
        """Update one record by id, or set metadata on every record matching ``filter``."""
        cfg = self.config
        if filter is not None:
            if id is not None:
                raise InvalidArgumentError("update takes either id or filter, not both")
            if values is not None or sparse_values is not None:
                raise InvalidArgumentError("update by filter can only set metadata")
            expr = parse_filter(filter)
            md = validation.metadata(set_metadata or {}, "set_metadata") or {}
            if dry_run:
                ns = self._ns(namespace)
                matched = 0 if ns is None else len(ns.view().matching_ids(expr))
                return UpdateResponse(matched_records=matched)
            lsn, [matched] = self._write(
                namespace, [UpdateByFilterOp(filter=filter, set_metadata=md)]
            )
            return UpdateResponse(matched_records=matched, lsn=lsn)
        if id is None:
            raise InvalidArgumentError("update needs an id or a filter")
        rid = validation.record_id(id)
        vec = None
        if values is not None and len(values) > 0:
            vec = validation.dense(values, cfg.dimension, cfg.metric)
        sv = validation.sparse(sparse_values)
        new_md = validation.metadata(set_metadata, "set_metadata") if set_metadata else None
        if vec is None and sv is None and new_md is None:
            raise InvalidArgumentError("update needs values, sparse_values or set_metadata")
        lsn, [matched] = self._write(
            namespace, [UpdateOp(id=rid, values=vec, set_metadata=new_md, sparse=sv)]
        )
        return UpdateResponse(matched_records=matched, lsn=lsn)

    def delete(
        self,
        ids: Sequence[str] | None = None,
        delete_all: bool | None = None,
        namespace: str | None = None,
        filter: dict[str, Any] | None = None,
        **_: Any,
    ) -> DeleteResponse:
        """Delete by ids, by filter, or everything in the namespace."""
        chosen = sum(x is not None and x is not False for x in (ids, filter, delete_all or None))
        if chosen != 1:
            raise InvalidArgumentError("delete takes exactly one of ids, filter or delete_all=True")
        if ids is not None:
            op: Op = DeleteOp(ids=validation.ids_list(ids, limits.MAX_DELETE_IDS, "delete"))
        elif filter is not None:
            parse_filter(filter)
            op = DeleteByFilterOp(filter=filter)
        else:
            op = DeleteAllOp()
        lsn, _results = self._write(namespace, [op], create=False)
        return DeleteResponse(lsn)

    # --- reads ----------------------------------------------------------------------------------
    def query(
        self,
        *,
        top_k: int,
        vector: Sequence[float] | None = None,
        id: str | None = None,
        namespace: str | None = None,
        filter: dict[str, Any] | None = None,
        include_values: bool = False,
        include_metadata: bool = False,
        sparse_vector: Any = None,
        **_: Any,
    ) -> QueryResponse:
        """The ``top_k`` most similar current records (exact), best first."""
        cfg = self.config
        k = validation.top_k(top_k)
        expr = parse_filter(filter)
        sv = validation.sparse(sparse_vector, "sparse_vector")
        if sv is not None and cfg.metric != "dotproduct":
            raise InvalidArgumentError("sparse_vector needs an index with metric 'dotproduct'")
        if vector is not None and id is not None:
            raise InvalidArgumentError("query takes either vector or id, not both")
        ns_name = validation.namespace(namespace)
        ns = self._ns(namespace)
        q = None
        if id is not None:
            rid = validation.record_id(id)
            current = None if ns is None else ns.view().current(rid)
            if current is None:
                return QueryResponse(matches=[], namespace=ns_name, usage=Usage(read_units=1))
            q, sv = current.vector, current.sparse if cfg.vector_type == "sparse" else sv
        elif vector is not None and len(vector) > 0:
            q = validation.dense(vector, cfg.dimension, cfg.metric, "vector")
        if cfg.vector_type == "dense" and q is None:
            raise InvalidArgumentError("query needs a vector or an id")
        if cfg.vector_type == "sparse" and (sv is None or len(sv.indices) == 0):
            raise InvalidArgumentError("a sparse index is queried with sparse_vector (or an id)")
        if ns is None:
            return QueryResponse(matches=[], namespace=ns_name, usage=Usage(read_units=1))
        view = ns.view()
        hits = view.query(
            vector=q,
            sparse=sv,
            metric=cfg.metric,
            top_k=k,
            expr=expr,
            executor=self._client.executor,
        )
        return QueryResponse(
            matches=[self._scored(h, include_values, include_metadata) for h in hits],
            namespace=ns_name,
            usage=Usage(read_units=max(1, len(hits) // 10)),
            lsn=view.applied_lsn,
        )

    @staticmethod
    def _scored(hit: Hit, include_values: bool, include_metadata: bool) -> ScoredVector:
        v = hit.version
        return ScoredVector(
            id=v.id,
            score=hit.score,
            values=_values_out(v.vector) if include_values else [],
            sparse_values=_sparse_out(v.sparse) if include_values else None,
            metadata=(dict(v.metadata) if v.metadata else {}) if include_metadata else None,
        )

    def fetch(self, ids: Sequence[str], namespace: str | None = None, **_: Any) -> FetchResponse:
        """Current versions of ``ids``; absent or deleted ids are left out."""
        id_list = validation.ids_list(ids, limits.MAX_FETCH_IDS, "fetch")
        ns_name = validation.namespace(namespace)
        ns = self._ns(namespace)
        out: dict[str, Vector] = {}
        if ns is not None:
            view = ns.view()
            for rid in id_list:
                v = view.current(rid)
                if v is not None:
                    out[rid] = Vector(
                        id=rid,
                        values=_values_out(v.vector),
                        metadata=dict(v.metadata) if v.metadata else None,
                        sparse_values=_sparse_out(v.sparse),
                    )
        return FetchResponse(vectors=out, namespace=ns_name, usage=Usage(read_units=1))

    def fetch_by_metadata(
        self,
        filter: dict[str, Any],
        namespace: str | None = None,
        limit: int | None = None,
        pagination_token: str | None = None,
        **_: Any,
    ) -> FetchByMetadataResponse:
        """Current records whose metadata matches ``filter``, in id order, paginated."""
        expr = parse_filter(filter)
        if limit is None:
            limit = limits.DEFAULT_LIST_LIMIT
        if (
            isinstance(limit, bool)
            or not isinstance(limit, int)
            or not 1 <= limit <= limits.MAX_FETCH_IDS
        ):
            raise InvalidArgumentError(f"limit must be between 1 and {limits.MAX_FETCH_IDS}")
        ns_name = validation.namespace(namespace)
        ns = self._ns(namespace)
        ids = [] if ns is None else ns.view().matching_ids(expr)
        start = bisect.bisect_right(ids, pagination_token) if pagination_token else 0
        page = ids[start : start + limit]
        more = start + limit < len(ids)
        fetched = self.fetch(ids=page, namespace=namespace).vectors if page else {}
        return FetchByMetadataResponse(
            vectors=fetched,
            namespace=ns_name,
            pagination=Pagination(next=page[-1]) if more and page else None,
            usage=Usage(read_units=1),
        )

    def list_paginated(
        self,
        prefix: str | None = None,
        limit: int | None = None,
        pagination_token: str | None = None,
        namespace: str | None = None,
        **_: Any,
    ) -> ListResponse:
        """One page of ids in ascending order; ``pagination.next`` continues it."""
        if limit is None:
            limit = limits.DEFAULT_LIST_LIMIT
        if (
            isinstance(limit, bool)
            or not isinstance(limit, int)
            or not 1 <= limit <= limits.MAX_LIST_LIMIT
        ):
            raise InvalidArgumentError(f"limit must be between 1 and {limits.MAX_LIST_LIMIT}")
        ns_name = validation.namespace(namespace)
        ns = self._ns(namespace)
        ids = [] if ns is None else ns.view().sorted_ids
        start = bisect.bisect_right(ids, pagination_token) if pagination_token else 0
        if prefix:
            start = max(start, bisect.bisect_left(ids, prefix))
        page: list[str] = []
        i = start
        while i < len(ids) and len(page) < limit:
            if prefix and not ids[i].startswith(prefix):
                break
            page.append(ids[i])
            i += 1
        more = i < len(ids) and (not prefix or ids[i].startswith(prefix))
        return ListResponse(
            vectors=[ListItem(id=r) for r in page],
            namespace=ns_name,
            pagination=Pagination(next=page[-1]) if more and page else None,
            usage=Usage(read_units=1),
        )

    def list(self, **kwargs: Any) -> Iterator[list[str]]:
        """Yield pages of ids (all of them, following pagination)."""
        token = kwargs.pop("pagination_token", None)
        while True:
            page = self.list_paginated(pagination_token=token, **kwargs)
            if page.vectors:
                yield [v.id for v in page.vectors]
            if page.pagination is None:
                return
            token = page.pagination.next

    def describe_index_stats(
        self, filter: dict[str, Any] | None = None, **_: Any
    ) -> DescribeIndexStatsResponse:
        expr = parse_filter(filter)
        namespaces: dict[str, NamespaceSummary] = {}
        for name in self._client.catalog.namespaces(self.config):
            ns = self._ns(name)
            if ns is None:
                continue
            view = ns.view()
            count = view.count if expr is None else len(view.matching_ids(expr))
            if count:
                namespaces[name] = NamespaceSummary(vector_count=count)
        return DescribeIndexStatsResponse(
            namespaces=namespaces,
            dimension=self.config.dimension,
            index_fullness=0.0,
            total_vector_count=sum(s.vector_count for s in namespaces.values()),
            metric=self.config.metric,
            vector_type=self.config.vector_type,
        )

    # --- maintenance (SlabDB extras) ------------------------------------------------------------------
    def flush(self, namespace: str | None = None) -> None:
        """Write the namespace's memtable to an L0 slab now."""
        ns = self._ns(namespace)
        if ns is not None:
            ns.flush()

    def compact(self, namespace: str | None = None) -> int:
        """Run compaction until the planner has nothing left; returns tasks run."""
        from slabdb.engine.maintenance import compact_until_idle

        ns = self._ns(namespace)
        return 0 if ns is None else compact_until_idle(ns)

    def close(self) -> None:
        """Handles hold no resources of their own; the client owns them."""

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
