"""Rows to text: a ``str.format`` template over columns, chunking, metadata and checksums.

``TextTemplate("{name}: {description}")`` renders a row (NULL becomes ``""``) and knows
the columns it reads, so triggers fire only when one of them changes. Long text is cut
into chunks of at most ``chunk_chars`` characters at whitespace; chunk ``n`` of key ``k``
is stored as vector ``k#n``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import string
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from slabdb.core.errors import InvalidArgumentError

CHUNK_SEPARATOR = "#"


def vector_id(key: str, chunk: int) -> str:
    """The vector id of chunk ``chunk`` of row ``key``."""
    return f"{key}{CHUNK_SEPARATOR}{chunk}"


class TextTemplate:
    """A ``str.format`` template whose fields are column names."""

    def __init__(self, template: str) -> None:
        self.template = template
        fields: list[str] = []
        try:
            for _, name, _, _ in string.Formatter().parse(template):
                if name is None:
                    continue
                column = name.split(".")[0].split("[")[0]
                if not column:
                    raise InvalidArgumentError("template fields must name columns: use {column}")
                if column not in fields:
                    fields.append(column)
        except ValueError as exc:
            raise InvalidArgumentError(f"bad text template {template!r}: {exc}") from exc
        if not fields:
            raise InvalidArgumentError("the text template must use at least one {column}")
        self.columns: tuple[str, ...] = tuple(fields)

    def render(self, row: Mapping[str, Any]) -> str:
        values = {c: ("" if row.get(c) is None else row[c]) for c in self.columns}
        return self.template.format_map(values)


def chunk_text(text: str, max_chars: int, overlap_chars: int = 0) -> list[str]:
    """Cut ``text`` into pieces of at most ``max_chars``, preferring whitespace boundaries.

    Always returns at least one chunk (``[""]`` for empty text). Consecutive chunks share
    about ``overlap_chars`` characters.
    """
    text = text.strip()
    if len(text) <= max_chars:
        return [text]
    chunks: list[str] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + max_chars)
        if end < len(text):
            cut = text.rfind(" ", start + max_chars // 2, end)
            if cut > start:
                end = cut
        piece = text[start:end].strip()
        if piece:
            chunks.append(piece)
        if end >= len(text):
            break
        nxt = end - overlap_chars if overlap_chars else end
        if overlap_chars:
            space = text.find(" ", nxt, end)
            nxt = space + 1 if space != -1 else nxt
        start = max(nxt, start + 1)
    return chunks or [""]


def metadata_value(value: Any) -> Any:
    """A Postgres value as Pinecone metadata (None means: leave the field out)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v is not None]
    return str(value)


def row_metadata(
    row: Mapping[str, Any],
    key_column: str,
    columns: Sequence[str],
    text_field: str,
    chunk: int,
    chunk_text_value: str,
) -> dict[str, Any]:
    """Metadata of one chunk: the key, the chosen columns, the chunk number and text."""
    out: dict[str, Any] = {}
    for column in (key_column, *columns):
        value = metadata_value(row.get(column))
        if value is not None:
            out[column] = value
    out["chunk"] = chunk
    if text_field:
        out[text_field] = chunk_text_value
    return out


def checksum(*parts: object) -> str:
    """A stable hex digest of JSON-serialisable parts."""
    payload = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
