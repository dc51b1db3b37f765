"""Record writes of one index: upsert (records or arrays), update and delete."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from slabdb.client import requests, validation
from slabdb.client.context import IndexContext
from slabdb.client.progress import progress
from slabdb.client.responses import DeleteResponse, UpdateResponse, UpsertResponse
from slabdb.core.errors import InvalidArgumentError
from slabdb.core.ops import Op
from slabdb.filters import parse_filter


class RecordWrites:
    """Validates each request into WAL operations, then writes them durably."""

    def __init__(self, ctx: IndexContext) -> None:
        self._ctx = ctx

    def _write(
        self, namespace: str | None, ops: list[Op], create: bool = True
    ) -> tuple[int | None, list[Any]]:
        ns = validation.namespace(namespace)
        return self._ctx.handles.write(self._ctx.config, ns, ops, create)

    def upsert(
        self,
        vectors: Sequence[Any],
        namespace: str | None,
        batch_size: int | None,
        show_progress: bool,
    ) -> UpsertResponse:
        if isinstance(vectors, str | bytes) or not isinstance(vectors, Sequence):
            raise InvalidArgumentError("vectors must be a list of records")
        if batch_size is not None:
            return self._upsert_batched(vectors, namespace, batch_size, show_progress)
        requests.check_upsert_count(len(vectors))
        if not vectors:
            return UpsertResponse(upserted_count=0)
        op = requests.upsert_op(self._ctx.config, vectors)
        lsn, _results = self._write(namespace, [op])
        return UpsertResponse(upserted_count=len(op.ids), lsn=lsn)

    def _upsert_batched(
        self, vectors: Sequence[Any], namespace: str | None, batch_size: int, show: bool
    ) -> UpsertResponse:
        if batch_size < 1:
            raise InvalidArgumentError("batch_size must be at least 1")
        total, lsn = 0, None
        with progress(len(vectors), "upsert", show) as advance:
            for start in range(0, len(vectors), batch_size):
                batch = vectors[start : start + batch_size]
                res = self.upsert(batch, namespace, None, False)
                total, lsn = total + res.upserted_count, res.lsn
                advance(len(batch))
        return UpsertResponse(upserted_count=total, lsn=lsn)

    def upsert_arrays(
        self,
        ids: Sequence[str] | np.ndarray,
        vectors: np.ndarray,
        metadata: Sequence[dict[str, Any] | None] | None,
        namespace: str | None,
        batch_size: int,
        show_progress: bool,
    ) -> UpsertResponse:
        ops = requests.array_upsert_ops(self._ctx.config, ids, vectors, metadata, batch_size)
        total = sum(len(op.ids) for op in ops)
        lsn = None
        with progress(total, "upsert", show_progress and len(ops) > 1) as advance:
            for op in ops:
                lsn, _results = self._write(namespace, [op])
                advance(len(op.ids))
        return UpsertResponse(upserted_count=total, lsn=lsn)

    def update(
        self,
        id: str | None,
        values: Sequence[float] | None,
        set_metadata: dict[str, Any] | None,
        namespace: str | None,
        sparse_values: Any,
        filter: dict[str, Any] | None,
        dry_run: bool,
    ) -> UpdateResponse:
        if filter is None:
            op: Op = requests.update_op(self._ctx.config, id, values, set_metadata, sparse_values)
            lsn, [matched] = self._write(namespace, [op])
            return UpdateResponse(matched_records=matched, lsn=lsn)
        if id is not None:
            raise InvalidArgumentError("update takes either id or filter, not both")
        op = requests.update_by_filter_op(filter, set_metadata, values, sparse_values)
        if dry_run:
            ns = self._ctx.namespace(namespace)
            expr = parse_filter(filter)
            return UpdateResponse(
                matched_records=0 if ns is None else len(ns.view().matching_ids(expr))
            )
        lsn, [matched] = self._write(namespace, [op])
        return UpdateResponse(matched_records=matched, lsn=lsn)

    def delete(
        self,
        ids: Sequence[str] | None,
        delete_all: bool | None,
        namespace: str | None,
        filter: dict[str, Any] | None,
    ) -> DeleteResponse:
        op = requests.delete_op(ids, delete_all, filter)
        lsn, _results = self._write(namespace, [op], create=False)
        return DeleteResponse(lsn)
