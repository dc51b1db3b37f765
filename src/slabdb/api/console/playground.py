"""The console's query playground and record browser, over one index of the project.

A query is text (embedded by the index's own model when it has integrated embedding,
else by the server's local model of the index's dimension, e.g. MiniLM for 384), or the
id of a stored record (its vector is the query); with an optional filter (JSON, the
Pinecone filter language) and ``top_k``. Browsing lists ids by prefix, one page at a
time, with their metadata.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from slabdb.client import Client
from slabdb.core import limits
from slabdb.core.errors import InvalidArgumentError
from slabdb.embed.models import LOCAL_MODELS, EmbedModels

BROWSE_PAGE = 20
QUERY_KINDS = ("text", "id")
TEXT_PREVIEW_CHARS = 160


@dataclass(frozen=True)
class Row:
    id: str
    score: float | None
    metadata: dict[str, Any]

    def metadata_items(self) -> list[tuple[str, str]]:
        """Metadata for display: long strings cut to a preview."""
        out = []
        for key, value in sorted(self.metadata.items()):
            text = value if isinstance(value, str) else json.dumps(value)
            if len(text) > TEXT_PREVIEW_CHARS:
                text = text[:TEXT_PREVIEW_CHARS] + "…"
            out.append((key, text))
        return out


@dataclass
class Answer:
    rows: list[Row] = field(default_factory=list)
    note: str = ""
    """How the query was run (which model embedded the text)."""
    next_token: str | None = None


def parse_filter(text: str) -> dict[str, Any] | None:
    """The filter box: empty means none; otherwise a JSON object."""
    if not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgumentError(
            f"the filter is not JSON: {exc.msg} (column {exc.colno})"
        ) from None
    if not isinstance(value, dict):
        raise InvalidArgumentError('the filter must be a JSON object, e.g. {"section": "web"}')
    return value


def text_model(client: Client, models: EmbedModels, index: str) -> tuple[str, int]:
    """(model, dimension) that embeds text queries for ``index``."""
    cfg = client.Index(index).config
    if cfg.embed:
        return str(cfg.embed["embedder"]), int(cfg.embed["dimension"])
    dimension = cfg.dimension
    for name in models.allowed:
        spec = LOCAL_MODELS[name]
        if spec.default_dimension == dimension or (
            spec.dimensions and dimension in spec.dimensions
        ):
            return name, int(dimension)
    raise InvalidArgumentError(
        f"no local embedding model makes {dimension}-d vectors: query by record id instead"
    )


def run_query(
    client: Client,
    models: EmbedModels,
    index: str,
    namespace: str,
    *,
    kind: str,
    query: str,
    filter_text: str = "",
    top_k: int = 10,
) -> Answer:
    if kind not in QUERY_KINDS:
        raise InvalidArgumentError(f"query kind must be one of {', '.join(QUERY_KINDS)}")
    if not query.strip():
        raise InvalidArgumentError("type a query text or a record id")
    if not 1 <= top_k <= limits.MAX_TOP_K:
        raise InvalidArgumentError(f"top_k must be between 1 and {limits.MAX_TOP_K}")
    handle = client.Index(index)
    flt = parse_filter(filter_text)
    if kind == "id":
        res = handle.query(
            id=query.strip(), top_k=top_k, filter=flt, namespace=namespace, include_metadata=True
        )
        note = f"nearest to the vector of record {query.strip()!r}"
    else:
        model, dimension = text_model(client, models, index)
        vector = models.embedder(model, dimension).embed_query(query).tolist()
        res = handle.query(
            vector=vector, top_k=top_k, filter=flt, namespace=namespace, include_metadata=True
        )
        note = f"text embedded by {model} ({dimension}-d)"
    rows = [Row(m.id, m.score, dict(m.metadata or {})) for m in res.matches]
    return Answer(rows, note)


def browse(
    client: Client, index: str, namespace: str, prefix: str = "", token: str | None = None
) -> Answer:
    """One page of records whose id starts with ``prefix``, in id order."""
    handle = client.Index(index)
    page = handle.list_paginated(
        prefix=prefix or None, limit=BROWSE_PAGE, pagination_token=token or None,
        namespace=namespace,
    )  # fmt: skip
    ids = [v.id for v in page.vectors]
    fetched = handle.fetch(ids, namespace=namespace).vectors if ids else {}
    rows = [Row(i, None, dict(fetched[i].metadata or {})) for i in ids if i in fetched]
    return Answer(rows, next_token=page.pagination.next if page.pagination else None)
