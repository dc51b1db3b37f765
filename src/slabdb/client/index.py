"""The data plane of one index, with the official SDK's ``Index`` method signatures.

:class:`Index` is a facade: each method keeps the SDK's keyword arguments and hands them
to one of the operation objects it composes (record writes, record reads, namespace
operations, the integrated-embedding records API).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from slabdb.client.catalog import IndexConfig
from slabdb.client.context import IndexContext
from slabdb.client.namespaces import NamespaceOps
from slabdb.client.reads import RecordReads
from slabdb.client.records import IntegratedRecords
from slabdb.client.responses import (
    DeleteResponse,
    DescribeIndexStatsResponse,
    FetchByMetadataResponse,
    FetchResponse,
    ListNamespacesResponse,
    ListResponse,
    NamespaceDescription,
    QueryResponse,
    SearchRecordsResponse,
    UpdateResponse,
    UpsertResponse,
)
from slabdb.client.writes import RecordWrites
from slabdb.core import limits
from slabdb.core.values import IndexSpec

if TYPE_CHECKING:
    from slabdb.bulk import BulkImports, ImportList, ImportModel, StartImportResponse


class Index:
    """Upsert, query, fetch, update, delete and list records of one index."""

    def __init__(self, ctx: IndexContext) -> None:
        self._ctx = ctx
        self._writes = RecordWrites(ctx)
        self._reads = RecordReads(ctx)
        self._namespace_ops = NamespaceOps(ctx)
        self._records = IntegratedRecords(ctx, self._writes, self._reads)
        self._imports: BulkImports | None = None

    @property
    def config(self) -> IndexConfig:
        return self._ctx.config

    # --- writes ---------------------------------------------------------------------------------
    def upsert(
        self,
        vectors: Sequence[Any],
        namespace: str | None = None,
        batch_size: int | None = None,
        show_progress: bool = True,
        **_: Any,
    ) -> UpsertResponse:
        """Insert or replace records given as dicts, tuples or Vector objects (at most 1000
        per request unless ``batch_size`` is given)."""
        return self._writes.upsert(vectors, namespace, batch_size, show_progress)

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
        return self._writes.upsert_arrays(
            ids, vectors, metadata, namespace, batch_size, show_progress
        )

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
        return self._writes.update(
            id, values, set_metadata, namespace, sparse_values, filter, dry_run
        )

    def delete(
        self,
        ids: Sequence[str] | None = None,
        delete_all: bool | None = None,
        namespace: str | None = None,
        filter: dict[str, Any] | None = None,
        **_: Any,
    ) -> DeleteResponse:
        """Delete by ids, by filter, or everything in the namespace."""
        return self._writes.delete(ids, delete_all, namespace, filter)

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
        min_lsn: int | None = None,
        **_: Any,
    ) -> QueryResponse:
        """The ``top_k`` most similar current records, best first.

        SlabDB extra on every read: ``min_lsn`` (the ``lsn`` a write returned, perhaps
        through another node) makes the read see every write of the namespace up to it,
        catching up from the store first (:mod:`slabdb.engine.freshness`; at most 5 s,
        then ``LsnNotReachedError``)."""
        return self._reads.query(
            top_k, vector, id, namespace, filter, include_values, include_metadata,
            sparse_vector, min_lsn,
        )  # fmt: skip

    def query_batch(
        self,
        *,
        vectors: Sequence[Sequence[float]] | np.ndarray,
        top_k: int,
        namespace: str | None = None,
        filter: dict[str, Any] | None = None,
        include_values: bool = False,
        include_metadata: bool = False,
    ) -> builtins.list[QueryResponse]:
        """SlabDB extra: one :meth:`query` response per dense vector, in order, all from one
        view of the namespace (the filter parsed once)."""
        return self._reads.query_batch(
            vectors, top_k, namespace, filter, include_values, include_metadata
        )

    def fetch(
        self,
        ids: Sequence[str],
        namespace: str | None = None,
        min_lsn: int | None = None,
        **_: Any,
    ) -> FetchResponse:
        """Current versions of ``ids``; absent or deleted ids are left out (``min_lsn``:
        as in :meth:`query`)."""
        return self._reads.fetch(ids, namespace, min_lsn)

    def fetch_by_metadata(
        self,
        filter: dict[str, Any],
        namespace: str | None = None,
        limit: int | None = None,
        pagination_token: str | None = None,
        min_lsn: int | None = None,
        **_: Any,
    ) -> FetchByMetadataResponse:
        """Current records whose metadata matches ``filter``, in id order, paginated
        (``min_lsn``: as in :meth:`query`)."""
        return self._reads.fetch_by_metadata(filter, namespace, limit, pagination_token, min_lsn)

    def list_paginated(
        self,
        prefix: str | None = None,
        limit: int | None = None,
        pagination_token: str | None = None,
        namespace: str | None = None,
        min_lsn: int | None = None,
        **_: Any,
    ) -> ListResponse:
        """One page of ids in ascending order; ``pagination.next`` continues it
        (``min_lsn``: as in :meth:`query`)."""
        return self._reads.list_paginated(prefix, limit, pagination_token, namespace, min_lsn)

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
        """Record counts per namespace (of records matching ``filter``, if given)."""
        return self._reads.describe_index_stats(filter)

    # --- namespaces -----------------------------------------------------------------------------
    def list_namespaces_paginated(
        self,
        limit: int | None = None,
        pagination_token: str | None = None,
        prefix: str | None = None,
    ) -> ListNamespacesResponse:
        return self._namespace_ops.list_namespaces_paginated(limit, pagination_token, prefix)

    def list_namespaces(self, **kwargs: Any) -> Iterator[NamespaceDescription]:
        return self._namespace_ops.list_namespaces(**kwargs)

    def namespace_names(self, prefix: str | None = None) -> builtins.list[str]:
        """Names of the namespaces of this index ('' is the default), without opening them."""
        return self._namespace_ops.namespace_names(prefix)

    def describe_namespace(self, namespace: str) -> NamespaceDescription:
        return self._namespace_ops.describe_namespace(namespace)

    def create_namespace(self, name: str) -> NamespaceDescription:
        return self._namespace_ops.create_namespace(name)

    def delete_namespace(self, namespace: str) -> dict[str, Any]:
        return self._namespace_ops.delete_namespace(namespace)

    # --- integrated embedding -------------------------------------------------------------------
    def upsert_records(self, namespace: str, records: Sequence[dict[str, Any]]) -> UpsertResponse:
        """Embed and store records: each a dict with ``_id`` (or ``id``) and the index's text
        field (``embed.field_map["text"]``); all other fields become metadata. At most 96."""
        return self._records.upsert_records(namespace, records)

    def search(
        self,
        namespace: str,
        query: Any = None,
        rerank: Any = None,
        fields: Sequence[str] | None = None,
        *,
        top_k: int | None = None,
        inputs: Mapping[str, Any] | None = None,
        vector: Any = None,
        id: str | None = None,
        filter: Mapping[str, Any] | None = None,
        match_terms: Any = None,
        **_: Any,
    ) -> SearchRecordsResponse:
        """Search by ``inputs={"text": ...}`` (integrated indexes), ``vector`` or ``id``; the
        query goes in ``query={...}`` or as keywords. ``fields`` picks the returned fields
        (default: all). Returns ``result.hits`` of ``{_id, _score, fields}``."""
        extra = {"top_k": top_k, "inputs": inputs, "vector": vector, "id": id}
        extra.update({"filter": filter, "match_terms": match_terms})
        return self._records.search(namespace, query, rerank, fields, extra)

    def search_records(self, *args: Any, **kwargs: Any) -> SearchRecordsResponse:
        """Alias of :meth:`search`."""
        return self.search(*args, **kwargs)

    # --- bulk import (needs the ``bulk`` extra: pyarrow) -------------------------------------------
    def start_import(
        self, uri: str, *, error_mode: str | None = None, integration_id: str | None = None
    ) -> StartImportResponse:
        """Import the Parquet files under ``uri`` (``s3://bucket/dir`` or a local directory,
        one sub-directory per namespace) in a background thread; poll ``describe_import``.
        ``integration_id`` is accepted for SDK compatibility (credentials come from the
        environment)."""
        return self.bulk_imports().start(uri, error_mode)

    def describe_import(self, id: str | int) -> ImportModel:
        return self.bulk_imports().describe(str(id))

    def list_imports(
        self, *, limit: int | None = None, pagination_token: str | None = None
    ) -> Iterator[ImportModel]:
        """Every import of this index, oldest first, following pagination."""
        token = pagination_token
        while True:
            page = self.bulk_imports().list_paginated(limit, token)
            yield from page
            if page.pagination is None:
                return
            token = page.pagination.next

    def list_imports_paginated(
        self, *, limit: int | None = None, pagination_token: str | None = None
    ) -> ImportList:
        return self.bulk_imports().list_paginated(limit, pagination_token)

    def cancel_import(self, id: str | int) -> None:
        """Stop an import after its current chunk (no effect once it finished)."""
        self.bulk_imports().cancel(str(id))

    def bulk_imports(self) -> BulkImports:
        """SlabDB extra: this index's import runner (resume, wait, run in the foreground)."""
        if self._imports is None:
            from slabdb.bulk import BulkImports, ImportRecords, ImportTarget

            cfg = self._ctx.config
            target = ImportTarget(
                records=ImportRecords(self._ctx.handles._store, cfg.name, cfg.incarnation),
                spec=IndexSpec(cfg.dimension, cfg.metric, cfg.vector_type),
                open_namespace=lambda ns, create: self._ctx.namespace(ns, create=create),
                ann=self._ctx.handles._config.ann,
            )
            self._imports = BulkImports(target)
        return self._imports

    # --- maintenance (SlabDB extras) ------------------------------------------------------------------
    def flush(self, namespace: str | None = None) -> None:
        """Write the namespace's memtable to an L0 slab now."""
        ns = self._ctx.namespace(namespace)
        if ns is not None:
            ns.flush()

    def compact(self, namespace: str | None = None) -> int:
        """Run compaction until the planner has nothing left; returns tasks run."""
        from slabdb.engine.maintenance import compact_until_idle

        ns = self._ctx.namespace(namespace)
        return 0 if ns is None else compact_until_idle(ns)

    def close(self) -> None:
        """Handles hold no resources of their own; the client owns them."""

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
