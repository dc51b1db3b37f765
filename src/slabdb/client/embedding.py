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

from collections.abc import Mapping
from typing import Any

from slabdb.client import validation
from slabdb.core.errors import InvalidArgumentError
from slabdb.embed.models import DEFAULT_MODEL, EmbedModels

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


def as_dict(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if hasattr(value, "to_dict") and not isinstance(value, Mapping):
        value = value.to_dict()
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(f"{where} must be an object")
    return dict(value)


def _parameters(value: Any, where: str, default: dict[str, str]) -> dict[str, Any]:
    params = {**default, **as_dict(value, where)}
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
    raw = as_dict(embed, "embed")
    if not raw:
        raise InvalidArgumentError("embed is required: {'model': ..., 'field_map': {'text': ...}}")
    name = raw.get("model", DEFAULT_MODEL)
    local = models.resolve(name)
    field_map = as_dict(raw.get("field_map"), "embed.field_map")
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


HOSTED_DIMENSIONS = {"llama-text-embed-v2": 1024, "multilingual-e5-large": 1024}
"""Default dimensions of Pinecone's hosted models that operators commonly alias."""


def public_embed(embed: dict[str, Any] | None) -> dict[str, Any] | None:
    """The ``embed`` block describe_index shows (the catalog form without internals),
    plus ``local_model`` when the model asked for is an alias of a local one: which
    model serves it, at which dimension, and what differs from the hosted model."""
    if not embed:
        return None
    out = {k: embed[k] for k in PUBLIC_KEYS if k in embed}
    local = embed.get("embedder")
    if local and local != str(embed.get("model", "")).strip().lower():
        out["local_model"] = local_model(embed)
    return out


def local_model(embed: dict[str, Any]) -> dict[str, Any]:
    """``{"name", "dimension", "note"}`` of the local model serving an aliased one."""
    model, local, dim = embed.get("model"), embed["embedder"], embed.get("dimension")
    note = f"SlabDB serves {model!r} with its local model {local!r} ({dim} dimensions)"
    hosted = HOSTED_DIMENSIONS.get(str(model).strip().lower())
    if hosted is not None and hosted != dim:
        note += f"; Pinecone's hosted {model} makes {hosted}-dimension vectors by default"
    return {"name": local, "dimension": dim, "note": note}
