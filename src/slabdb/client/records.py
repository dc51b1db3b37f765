"""Integrated embedding: indexes that embed text themselves (Pinecone's records API).

``Client.create_index_for_model(name, embed={"model": "minilm", "field_map": {"text":
"chunk_text"}})`` makes a dense index whose catalog entry keeps the embed config::

    {"model": <name as asked>, "embedder": <local model>, "field_map": {"text": <field>},
     "metric": ..., "dimension": ..., "vector_type": "dense",
     "read_parameters": {"input_type": "query", ...},
     "write_parameters": {"input_type": "passage", ...}}

``Index.upsert_records(namespace, records)`` embeds each record's ``field_map["text"]``
field and stores every other field (and the text) as metadata; ``Index.search(namespace,
query={"inputs": {"text": ...}, "top_k": ..., "filter": ...}, fields=[...])`` embeds the
query text and returns ``result.hits`` of ``{_id, _score, fields}``. A ``vector`` or ``id``
query works on any index. Which models exist, and the embedder cache, are in
:mod:`slabdb.embed.models`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from slabdb.client import validation
from slabdb.client.responses import IndexModel, QueryResponse, UpsertResponse, _Model
from slabdb.core.errors import InvalidArgumentError, LimitExceededError
from slabdb.embed.models import DEFAULT_MODEL, EmbedModels

if TYPE_CHECKING:
    from slabdb.client.client import Client
    from slabdb.client.index import Index

MAX_UPSERT_RECORDS = 96
"""Records per ``upsert_records`` call on an integrated-embedding index (as Pinecone)."""
INPUT_TYPES = ("query", "passage", "document")
TRUNCATE = ("END", "START", "NONE")
DEFAULT_READ_PARAMETERS = {"input_type": "query", "truncate": "END"}
DEFAULT_WRITE_PARAMETERS = {"input_type": "passage", "truncate": "END"}
PUBLIC_KEYS = (
    "model", "metric", "dimension", "vector_type", "field_map", "read_parameters",
    "write_parameters",
)  # fmt: skip


# --- response types ------------------------------------------------------------------------------
@dataclass
class Hit(_Model):
    """One search hit: ``hit["_id"]``/``hit.id``, ``hit["_score"]``/``hit.score``, ``fields``."""

    _id: str
    _score: float
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self._id

    @property
    def score(self) -> float:
        return self._score


@dataclass
class SearchResult(_Model):
    hits: list[Hit] = field(default_factory=list)


@dataclass
class SearchUsage(_Model):
    read_units: int = 0
    embed_total_tokens: int | None = None
    rerank_units: int | None = None


@dataclass
class SearchRecordsResponse(_Model):
    result: SearchResult
    usage: SearchUsage
    namespace: str = ""


# --- embed config ------------------------------------------------------------------------------
def _as_dict(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if hasattr(value, "to_dict") and not isinstance(value, Mapping):
        value = value.to_dict()
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(f"{where} must be an object")
    return dict(value)


def _parameters(value: Any, where: str, default: dict[str, str]) -> dict[str, Any]:
    params = {**default, **_as_dict(value, where)}
    if params.get("input_type") not in INPUT_TYPES:
        raise InvalidArgumentError(
            f"{where}.input_type must be one of {', '.join(INPUT_TYPES)}, "
            f"got {params.get('input_type')!r}"
        )
    truncate = params.get("truncate")
    if not isinstance(truncate, str) or truncate.upper() not in TRUNCATE:
        raise InvalidArgumentError(f"{where}.truncate must be one of {', '.join(TRUNCATE)}")
    params["truncate"] = truncate.upper()
    return params


def parse_embed(embed: Any, models: EmbedModels) -> dict[str, Any]:
    """The catalog form of a ``create_index_for_model`` ``embed`` argument (400 if invalid)."""
    raw = _as_dict(embed, "embed")
    if not raw:
        raise InvalidArgumentError("embed is required: {'model': ..., 'field_map': {'text': ...}}")
    name = raw.get("model", DEFAULT_MODEL)
    local = models.resolve(name)
    field_map = _as_dict(raw.get("field_map"), "embed.field_map")
    text_field = field_map.get("text")
    if not isinstance(text_field, str) or not text_field or text_field in ("_id", "id"):
        raise InvalidArgumentError(
            "embed.field_map must name the record field to embed, e.g. {'text': 'chunk_text'}"
        )
    if set(field_map) != {"text"}:
        raise InvalidArgumentError("embed.field_map takes only the 'text' key")
    vector_type = raw.get("vector_type") or "dense"
    if vector_type != "dense":
        raise InvalidArgumentError("SlabDB's embedding models are dense: vector_type 'dense'")
    dimension = models.dimension(local, raw.get("dimension"))
    metric = raw.get("metric") or "cosine"
    _, metric, _ = validation.index_shape(dimension, metric, "dense")
    return {
        "model": str(name),
        "embedder": local,
        "field_map": {"text": text_field},
        "metric": metric,
        "dimension": dimension,
        "vector_type": "dense",
        "read_parameters": _parameters(
            raw.get("read_parameters"), "embed.read_parameters", DEFAULT_READ_PARAMETERS
        ),
        "write_parameters": _parameters(
            raw.get("write_parameters"), "embed.write_parameters", DEFAULT_WRITE_PARAMETERS
        ),
    }


def public_embed(embed: dict[str, Any] | None) -> dict[str, Any] | None:
    """The ``embed`` block describe_index shows (the catalog form without internals)."""
    if not embed:
        return None
    return {k: embed[k] for k in PUBLIC_KEYS if k in embed}


def create_index_for_model(
    client: Client,
    name: str,
    embed: Any,
    deletion_protection: str = "disabled",
    tags: dict[str, str] | None = None,
) -> IndexModel:
    """Create a dense index sized for the embed model (see :meth:`Client.create_index_for_model`)."""
    client._check_open()
    validation.index_name(name)
    cfg = parse_embed(embed, client.embed_models)
    if deletion_protection not in ("enabled", "disabled"):
        raise InvalidArgumentError(
            f"deletion_protection must be 'enabled' or 'disabled', got {deletion_protection!r}"
        )
    created = client.catalog.create(
        name, cfg["dimension"], cfg["metric"], "dense", deletion_protection, tags, embed=cfg
    )
    return client._model(created)


# --- records ---------------------------------------------------------------------------------------
def _embed_config(index: Index, what: str) -> dict[str, Any]:
    embed = index.config.embed
    if not embed:
        raise InvalidArgumentError(
            f"{what} needs an index with integrated embedding (made by create_index_for_model); "
            f"index {index.config.name!r} takes vectors: use upsert/query"
        )
    return embed


def _embed_texts(index: Index, embed: dict[str, Any], texts: list[str], read: bool) -> np.ndarray:
    models: EmbedModels = index._client.embed_models
    embedder = models.embedder(embed["embedder"], int(embed["dimension"]))
    params = embed["read_parameters" if read else "write_parameters"] or {}
    if params.get("input_type") == "query":
        return embedder.embed_queries(texts)
    return embedder.embed_documents(texts)


def _tokens(texts: Sequence[str]) -> int:
    return sum(len(t.split()) for t in texts)


def upsert_records(index: Index, namespace: str, records: Sequence[Any]) -> UpsertResponse:
    """Embed and upsert records (see :meth:`Index.upsert_records`)."""
    embed = _embed_config(index, "upsert_records")
    if isinstance(records, str | bytes | Mapping) or not isinstance(records, Sequence):
        raise InvalidArgumentError("records must be a list of objects")
    if len(records) > MAX_UPSERT_RECORDS:
        raise LimitExceededError(
            f"upsert_records takes at most {MAX_UPSERT_RECORDS} records per request with "
            f"integrated embedding, got {len(records)}; send them in batches"
        )
    if not records:
        return UpsertResponse(upserted_count=0)
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
    vectors = _embed_texts(index, embed, texts, read=False)
    rows = [{"id": rid, "values": vectors[i], "metadata": metadata[i]} for i, rid in enumerate(ids)]
    return index.upsert(rows, namespace=namespace)


def _query_dict(query: Any, extra: dict[str, Any]) -> dict[str, Any]:
    q = _as_dict(query, "query")
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


def search(
    index: Index,
    namespace: str,
    query: Any = None,
    rerank: Any = None,
    fields: Any = None,
    **kwargs: Any,
) -> SearchRecordsResponse:
    """Search by text, vector or id (see :meth:`Index.search`)."""
    q = _query_dict(query, kwargs)
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
    top_k = validation.top_k(q["top_k"])
    wanted = _fields(fields)
    sources = [k for k in ("inputs", "vector", "id") if q.get(k) is not None]
    if len(sources) != 1:
        raise InvalidArgumentError(
            "a search query takes exactly one of inputs (text), vector or id"
        )
    filter_ = q.get("filter")
    if filter_ is not None and not isinstance(filter_, Mapping):
        raise InvalidArgumentError("query.filter must be an object")
    tokens: int | None = None
    vector: Any = None
    sparse: Any = None
    if sources[0] == "inputs":
        embed = _embed_config(index, "a text query (inputs)")
        inputs = _as_dict(q["inputs"], "query.inputs")
        text = inputs.get("text")
        if not isinstance(text, str) or not text.strip():
            raise InvalidArgumentError("query.inputs.text must be a non-empty string")
        vector = _embed_texts(index, embed, [text], read=True)[0]
        tokens = _tokens([text])
    elif sources[0] == "vector":
        raw = q["vector"]
        if isinstance(raw, Mapping):
            vector, sparse = raw.get("values"), _sparse_of(raw)
        elif isinstance(raw, Sequence) and not isinstance(raw, str):
            vector = raw
        else:
            raise InvalidArgumentError("query.vector must be a list of floats or an object")
    res = index.query(
        top_k=top_k,
        vector=vector,
        id=q.get("id"),
        namespace=namespace,
        filter=dict(filter_) if filter_ is not None else None,
        include_metadata=True,
        sparse_vector=sparse,
    )
    return _response(res, wanted, tokens)


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
        result=SearchResult(hits=hits), usage=usage, namespace=res.namespace or "__default__"
    )


class RecordsMixin:
    """The records API of :class:`slabdb.client.index.Index` (SDK method signatures)."""

    def upsert_records(self, namespace: str, records: Sequence[dict[str, Any]]) -> UpsertResponse:
        """Embed and store records: each a dict with ``_id`` (or ``id``) and the index's text
        field (``embed.field_map["text"]``); all other fields become metadata. At most 96."""
        return upsert_records(cast("Index", self), namespace, records)

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
        return search(cast("Index", self), namespace, query, rerank, fields, **extra)

    def search_records(self, *args: Any, **kwargs: Any) -> SearchRecordsResponse:
        """Alias of :meth:`search`."""
        return self.search(*args, **kwargs)
