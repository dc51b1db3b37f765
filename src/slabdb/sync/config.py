"""What one sync is: a table, its key, a text template, metadata columns and a target index.

A :class:`SyncConfig` is stored in ``slabdb_sync.config`` by ``sync init`` so every worker,
on any machine, needs only the DSN and the sync's name. Defaults are named constants.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from slabdb.core.errors import InvalidArgumentError, NotFoundError

SCHEMA = "slabdb_sync"
"""Every table, view and function the pipeline installs lives in this schema."""
NOTIFY_CHANNEL_PREFIX = "slabdb_sync_"
"""Workers LISTEN on ``slabdb_sync_<name>``; triggers send an empty wake-up payload."""

DEFAULT_CHUNK_CHARS = 1000
"""Longest chunk of rendered text (≈ 250 tokens, MiniLM's window)."""
DEFAULT_CHUNK_OVERLAP_CHARS = 0
DEFAULT_TEXT_FIELD = "text"
"""Metadata field holding the chunk's text ('' stores none)."""
DEFAULT_EMBEDDER = "minilm"

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_STORE_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://|(memory|s3|file):)", re.IGNORECASE)
"""``memory://``, ``s3://...``, ``file:///...`` (and scheme typos the store rejects)."""


class SyncNotFoundError(NotFoundError):
    """No sync of that name is installed in the database."""


def check_sync_name(name: str) -> str:
    """Sync names become parts of trigger and channel names: ``[a-z][a-z0-9_]{0,39}``."""
    if not _NAME.match(name):
        raise InvalidArgumentError(
            f"invalid sync name {name!r}: use lowercase letters, digits and _ (max 40)"
        )
    return name


def absolute_location(data: str) -> str:
    """``data`` as it is stored in a sync's config: a directory made absolute (resolved
    against the current directory), so workers started anywhere find the index; store
    URLs and ``""`` unchanged."""
    if not data or _STORE_URL.match(data):
        return data
    return str(Path(data).expanduser().resolve())


@dataclass(frozen=True)
class SyncConfig:
    """Everything a worker needs to turn rows of one table into vectors."""

    name: str
    table_schema: str
    table_name: str
    key_column: str
    key_type: str
    """SQL type of the key (``format_type``), used to cast text keys back."""
    template: str
    metadata_columns: tuple[str, ...]
    index: str
    embedder: str = DEFAULT_EMBEDDER
    embedder_options: dict[str, Any] = field(default_factory=dict)
    data: str = ""
    """The SlabDB store URL or absolute directory (see :func:`absolute_location`; a worker
    may override it). Configs stored before that may hold a relative path, which is then
    resolved against the worker's current directory."""
    target_url: str = ""
    """A Pinecone-API control plane (``slabdb serve`` or Pinecone); wins over ``data``."""
    api_key_env: str = ""
    """Name of the environment variable holding the remote API key (never the key)."""
    chunk_chars: int = DEFAULT_CHUNK_CHARS
    chunk_overlap_chars: int = DEFAULT_CHUNK_OVERLAP_CHARS
    text_field: str = DEFAULT_TEXT_FIELD

    def __post_init__(self) -> None:
        check_sync_name(self.name)
        if self.chunk_chars < 16:
            raise InvalidArgumentError("chunk_chars must be at least 16")
        if not 0 <= self.chunk_overlap_chars < self.chunk_chars // 2:
            raise InvalidArgumentError("chunk_overlap_chars must be in [0, chunk_chars / 2)")

    @property
    def location(self) -> str:
        """Where the vectors go, for messages."""
        return self.target_url or self.data

    @property
    def channel(self) -> str:
        return NOTIFY_CHANNEL_PREFIX + self.name

    @property
    def qualified_table(self) -> str:
        return f"{self.table_schema}.{self.table_name}"

    def to_json(self) -> str:
        data = asdict(self)
        data["metadata_columns"] = list(self.metadata_columns)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | dict[str, Any]) -> SyncConfig:
        data = json.loads(raw) if isinstance(raw, str) else dict(raw)
        data["metadata_columns"] = tuple(data.get("metadata_columns") or ())
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})
