"""Turn a set of keys into index changes: read the current rows, render, chunk, skip what
is unchanged, embed in batches, write, and record checksums.

The :class:`KeyProcessor` knows nothing about queues: the outbox worker and the SQS
consumer both hand it keys (under their per-key locks) and get back, per key, either
success or the exception that stopped it. One key's failure never fails another key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from slabdb.embed.base import Embedder, FloatMatrix
from slabdb.sync.checksums import EMPTY_STATE, ChecksumStore, KeyState
from slabdb.sync.config import SyncConfig
from slabdb.sync.target import SyncTarget, TargetBatch
from slabdb.sync.text import TextTemplate, checksum, chunk_text, row_metadata, vector_id

logger = logging.getLogger(__name__)

KEY_ALIAS = "__slabdb_key"


@dataclass
class _Plan:
    key: str
    state: KeyState
    row: dict[str, Any] | None
    chunks: list[str] = field(default_factory=list)
    metadata: list[dict[str, Any]] = field(default_factory=list)
    text_sum: str = ""
    meta_sum: str = ""
    action: str = "skip"  # skip | delete | embed | metadata
    vectors: FloatMatrix | None = None


@dataclass
class ProcessResult:
    """Per-key outcome of one batch plus counters for metrics."""

    failed: dict[str, BaseException] = field(default_factory=dict)
    succeeded: list[str] = field(default_factory=list)
    embedded_texts: int = 0
    upserted: int = 0
    deleted_keys: int = 0
    skipped: int = 0
    metadata_only: int = 0


class KeyProcessor:
    """Brings the index in line with the current rows of some keys."""

    def __init__(
        self,
        cfg: SyncConfig,
        embedder: Embedder,
        target: SyncTarget,
        *,
        before_write: Callable[[dict[str, int]], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.embedder = embedder
        self.target = target
        self.template = TextTemplate(cfg.template)
        self.checksums = ChecksumStore(cfg.name)
        self.before_write = before_write
        """Called with chunk bounds to commit before the write (see :mod:`.checksums`)."""
        columns: list[str] = []
        for c in (cfg.key_column, *self.template.columns, *cfg.metadata_columns):
            if c not in columns:
                columns.append(c)
        self._select = sql.SQL(
            "SELECT {key}::text AS {alias}, {cols} FROM {table} WHERE {key} = ANY(%s::{ktype}[])"
        ).format(
            key=sql.Identifier(cfg.key_column),
            alias=sql.Identifier(KEY_ALIAS),
            cols=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
            table=sql.Identifier(cfg.table_schema, cfg.table_name),
            ktype=sql.SQL(cfg.key_type),
        )
        self._model_sum = checksum(
            embedder.name, embedder.model, cfg.template, cfg.chunk_chars, cfg.chunk_overlap_chars
        )

    def read_rows(self, conn: psycopg.Connection, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(self._select, (list(keys),))
            return {row.pop(KEY_ALIAS): row for row in cur.fetchall()}

    def render(self, row: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]], str, str]:
        """Chunks, per-chunk metadata and the two checksums of one row."""
        text = self.template.render(row)
        chunks = chunk_text(text, self.cfg.chunk_chars, self.cfg.chunk_overlap_chars)
        metadata = [
            row_metadata(
                row, self.cfg.key_column, self.cfg.metadata_columns, self.cfg.text_field, i, c
            )
            for i, c in enumerate(chunks)
        ]
        return chunks, metadata, checksum(self._model_sum, chunks), checksum(metadata)

    # -- the batch -----------------------------------------------------------------------

    def process(self, conn: psycopg.Connection, keys: Sequence[str]) -> ProcessResult:
        """Sync ``keys`` (the caller holds their locks; runs in its transaction).

        The index is written before this returns; the caller commits afterwards.
        """
        result = ProcessResult()
        rows = self.read_rows(conn, keys)
        states = self.checksums.get(conn, keys)
        plans = [self._plan(k, rows.get(k), states.get(k, EMPTY_STATE), result) for k in keys]
        self._embed(plans, result)
        self._refresh_metadata(plans, result)
        live = [p for p in plans if p.key not in result.failed]
        batch = TargetBatch()
        bounds: dict[str, int] = {}
        for p in live:
            if p.action == "skip":
                continue
            old_bound = max(p.state.max_chunks, p.state.chunks, 1)
            new_count = len(p.chunks) if p.action != "delete" else 0
            batch.delete_ids.extend(vector_id(p.key, i) for i in range(new_count, old_bound))
            if new_count > old_bound:
                bounds[p.key] = new_count
            if p.action in ("embed", "metadata") and p.vectors is not None:
                for i, meta in enumerate(p.metadata):
                    batch.add(vector_id(p.key, i), p.vectors[i], meta)
        if bounds and self.before_write is not None:
            self.before_write(bounds)
        if batch:
            self.target.write(batch)
        result.upserted = len(batch.upsert_ids)
        self.checksums.put(
            conn,
            [
                (p.key, p.text_sum, p.meta_sum, len(p.chunks))
                for p in live
                if p.action in ("embed", "metadata")
            ],
        )
        self.checksums.forget(conn, [p.key for p in live if p.action == "delete"])
        result.succeeded = [p.key for p in live]
        return result

    def _plan(
        self, key: str, row: dict[str, Any] | None, state: KeyState, result: ProcessResult
    ) -> _Plan:
        plan = _Plan(key, state, row)
        if row is None:
            plan.action = "delete"
            result.deleted_keys += 1
            return plan
        try:
            plan.chunks, plan.metadata, plan.text_sum, plan.meta_sum = self.render(row)
        except Exception as exc:  # a template over a column the row cannot format
            result.failed[key] = exc
            return plan
        if plan.text_sum == state.text_checksum and len(plan.chunks) == state.chunks:
            if plan.meta_sum == state.meta_checksum:
                result.skipped += 1
                plan.action = "skip"
            else:
                result.metadata_only += 1
                plan.action = "metadata"
        else:
            plan.action = "embed"
        return plan

    def _refresh_metadata(self, plans: list[_Plan], result: ProcessResult) -> None:
        """Text unchanged, metadata changed: re-write the stored vectors (fall back to
        embedding when any chunk is missing from the index)."""
        wanted = [p for p in plans if p.action == "metadata"]
        if not wanted:
            return
        stored = self.target.fetch(
            [vector_id(p.key, i) for p in wanted for i in range(len(p.chunks))]
        )
        missing: list[_Plan] = []
        for p in wanted:
            ids = [vector_id(p.key, i) for i in range(len(p.chunks))]
            if all(i in stored for i in ids):
                p.vectors = np.stack([stored[i][0] for i in ids])
            else:
                p.action = "embed"
                missing.append(p)
        if missing:
            self._embed(missing, result)

    def _embed(self, plans: list[_Plan], result: ProcessResult) -> None:
        todo = [p for p in plans if p.action == "embed" and p.key not in result.failed]
        if not todo:
            return
        texts = [c for p in todo for c in p.chunks]
        try:
            vectors = self.embedder.embed_documents(texts)
        except Exception as exc:
            if len(todo) == 1:
                result.failed[todo[0].key] = exc
                return
            logger.info("batch of %d texts failed (%s); embedding key by key", len(texts), exc)
            for p in todo:
                try:
                    p.vectors = self.embedder.embed_documents(p.chunks)
                    result.embedded_texts += len(p.chunks)
                except Exception as one:
                    result.failed[p.key] = one
            return
        result.embedded_texts += len(texts)
        offset = 0
        for p in todo:
            p.vectors = vectors[offset : offset + len(p.chunks)]
            offset += len(p.chunks)
