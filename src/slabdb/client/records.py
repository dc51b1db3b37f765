"""The records API of integrated-embedding indexes: ``upsert_records`` and ``search``.

How an index gets its embed config is in :mod:`slabdb.client.embedding`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from slabdb.client import validation
from slabdb.client.context import IndexContext
from slabdb.client.embedding import MAX_UPSERT_RECORDS, as_dict
from slabdb.client.reads import RecordReads
from slabdb.client.responses import (
    Hit,
    QueryResponse,
    SearchRecordsResponse,
    SearchResult,
    SearchUsage,
    UpsertResponse,
)
from slabdb.client.writes import RecordWrites
from slabdb.core import naming
from slabdb.core.errors import InvalidArgumentError, LimitExceededError


def _tokens(texts: Sequence[str]) -> int:
    return sum(len(t.split()) for t in texts)


def _record_rows(
    embed: dict[str, Any], records: Sequence[Any]
) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """(ids, texts, metadata) of ``upsert_records`` input, validated."""
    if isinstance(records, str | bytes | Mapping) or not isinstance(records, Sequence):
        raise InvalidArgumentError("records must be a list of objects")
    if len(records) > MAX_UPSERT_RECORDS:
        raise LimitExceededError(
            f"upsert_records takes at most {MAX_UPSERT_RECORDS} records per request with "
            f"integrated embedding, got {len(records)}; send them in batches"
        )
    text_field = embed["field_map"]["text"]
    ids: list[str] = []
    texts: list[str] = []
    metadata: list[dict[str, Any]] = []
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise InvalidArgumentError(f"records[{i}] must be an object")
        rid = record.get("_id", record.get("id"))
        if rid is None:
            raise InvalidArgumentError(f"records[{i}] has no '_id' (or 'id') field")
        rid = validation.record_id(rid, f"records[{i}]._id")
        text = record.get(text_field)
        if not isinstance(text, str) or not text.strip():
            raise InvalidArgumentError(
                f"records[{i}] ({rid!r}) needs a non-empty string field {text_field!r}, the "
                "text this index embeds (its embed.field_map)"
            )
        ids.append(rid)
        texts.append(text)
        metadata.append({k: v for k, v in record.items() if k not in ("_id", "id")})
    return ids, texts, metadata


def _query_dict(query: Any, extra: dict[str, Any]) -> dict[str, Any]:
    q = as_dict(query, "query")
    for key, value in extra.items():
        if value is not None:
            q[key] = value
    return q


def _sparse_of(vector: Mapping[str, Any]) -> dict[str, Any] | None:
    indices, values = vector.get("sparse_indices"), vector.get("sparse_values")
    if indices is None and values is None:
        return None
    return {"indices": indices or [], "values": values or []}


def _fields(fields: Any) -> list[str] | None:
    if fields is None:
        return None
    if isinstance(fields, str) or not isinstance(fields, Sequence):
        raise InvalidArgumentError("fields must be a list of field names")
    names = list(fields)
    if not all(isinstance(f, str) for f in names):
        raise InvalidArgumentError("fields must be a list of field names")
    return None if "*" in names else names


def _search_query(query: Any, rerank: Any, extra: dict[str, Any]) -> dict[str, Any]:
    """The validated search query: exactly one of inputs, vector or id, and top_k."""
    q = _query_dict(query, extra)
    if rerank:
        raise InvalidArgumentError(
            "rerank is not supported: SlabDB has no reranking models; leave 'rerank' out"
        )
    if q.get("match_terms") is not None:
        raise InvalidArgumentError(
            "match_terms is not supported (it needs a sparse embedding model)"
        )
    unknown = set(q) - {"top_k", "filter", "inputs", "vector", "id", "match_terms"}
    if unknown:
        raise InvalidArgumentError(f"unknown query field(s): {', '.join(sorted(unknown))}")
    if "top_k" not in q:
        raise InvalidArgumentError("query.top_k is required")
    validation.top_k(q["top_k"])
    sources = [k for k in ("inputs", "vector", "id") if q.get(k) is not None]
    if len(sources) != 1:
        raise InvalidArgumentError(
            "a search query takes exactly one of inputs (text), vector or id"
        )
    filter_ = q.get("filter")
    if filter_ is not None and not isinstance(filter_, Mapping):
        raise InvalidArgumentError("query.filter must be an object")
    return q


def _response(
    res: QueryResponse, wanted: list[str] | None, tokens: int | None
) -> SearchRecordsResponse:
    hits = []
    for m in res.matches:
        md = m.metadata or {}
        out = dict(md) if wanted is None else {k: md[k] for k in wanted if k in md}
        hits.append(Hit(_id=m.id, _score=m.score, fields=out))
    usage = SearchUsage(
        read_units=res.usage.read_units if res.usage else 1, embed_total_tokens=tokens
    )
    return SearchRecordsResponse(
        result=SearchResult(hits=hits),
        usage=usage,
        namespace=naming.listed_name(res.namespace or ""),
    )


class IntegratedRecords:
    """``upsert_records`` and ``search`` of one index (the embedding runs in-process)."""

    def __init__(self, ctx: IndexContext, writes: RecordWrites, reads: RecordReads) -> None:
        self._ctx = ctx
        self._writes = writes
        self._reads = reads

    def _embed_config(self, what: str) -> dict[str, Any]:
        cfg = self._ctx.config
        if not cfg.embed:
            raise InvalidArgumentError(
                f"{what} needs an index with integrated embedding (made by "
                f"create_index_for_model); index {cfg.name!r} takes vectors: use upsert/query"
            )
        return cfg.embed

    def _embed(self, embed: dict[str, Any], texts: list[str], read: bool) -> np.ndarray:
        embedder = self._ctx.embed_models.embedder(embed["embedder"], int(embed["dimension"]))
        params = embed["read_parameters" if read else "write_parameters"] or {}
        if params.get("input_type") == "query":
            return embedder.embed_queries(texts)
        return embedder.embed_documents(texts)

    def upsert_records(self, namespace: str, records: Sequence[Any]) -> UpsertResponse:
        embed = self._embed_config("upsert_records")
        ids, texts, metadata = _record_rows(embed, records)
        if not ids:
            return UpsertResponse(upserted_count=0)
        vectors = self._embed(embed, texts, read=False)
        rows = [
            {"id": rid, "values": vectors[i], "metadata": metadata[i]} for i, rid in enumerate(ids)
        ]
        return self._writes.upsert(rows, namespace, None, False)

    def _query_vector(self, q: dict[str, Any]) -> tuple[Any, Any, int | None]:
        """(dense vector, sparse vector, embed tokens) of a validated search query."""
        if q.get("inputs") is not None:
            embed = self._embed_config("a text query (inputs)")
            text = as_dict(q["inputs"], "query.inputs").get("text")
            if not isinstance(text, str) or not text.strip():
                raise InvalidArgumentError("query.inputs.text must be a non-empty string")
            return self._embed(embed, [text], read=True)[0], None, _tokens([text])
        raw = q.get("vector")
        if raw is None:
            return None, None, None
        if isinstance(raw, Mapping):
            return raw.get("values"), _sparse_of(raw), None
        if isinstance(raw, Sequence) and not isinstance(raw, str):
            return raw, None, None
        raise InvalidArgumentError("query.vector must be a list of floats or an object")

    def search(
        self, namespace: str, query: Any, rerank: Any, fields: Any, extra: dict[str, Any]
    ) -> SearchRecordsResponse:
        q = _search_query(query, rerank, extra)
        wanted = _fields(fields)
        vector, sparse, tokens = self._query_vector(q)
        filter_ = q.get("filter")
        res = self._reads.query(
            top_k=q["top_k"],
            vector=vector,
            id=q.get("id"),
            namespace=namespace,
            filter=dict(filter_) if filter_ is not None else None,
            include_values=False,
            include_metadata=True,
            sparse_vector=sparse,
        )
        return _response(res, wanted, tokens)
