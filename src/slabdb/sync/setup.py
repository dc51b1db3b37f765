"""Install, open and remove a sync: what ``slabdb sync init/run/uninstall`` call.

cfg = init_sync(dsn, table="products", key="id", template="{name}: {description}",
                index="products", metadata=["category", "price"], data="./data")
with open_sync_worker(dsn, "products") as worker:
    worker.drain()
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from slabdb.core.errors import InvalidArgumentError
from slabdb.embed import registry
from slabdb.embed.base import Embedder
from slabdb.sync import schema
from slabdb.sync.config import (
    DEFAULT_CHUNK_CHARS,
    DEFAULT_CHUNK_OVERLAP_CHARS,
    DEFAULT_EMBEDDER,
    DEFAULT_TEXT_FIELD,
    SyncConfig,
    absolute_location,
    check_sync_name,
)
from slabdb.sync.metrics import SyncMetrics
from slabdb.sync.target import EmbeddedTarget, SyncTarget
from slabdb.sync.text import TextTemplate
from slabdb.sync.worker import SyncWorker, WorkerSettings, connect


def resolve_embedder(name: str, options: dict[str, Any] | None = None) -> Embedder:
    """A registered embedder by name, or any ``package.module:Factory`` reference."""
    options = dict(options or {})
    if ":" in name:
        try:
            return registry.build_embedder(name, **options)
        except TypeError as exc:
            raise InvalidArgumentError(f"cannot build the embedder {name}: {exc}") from None
    return registry.get_embedder(name, **options)


def open_target(
    cfg: SyncConfig,
    data: str | None = None,
    *,
    create: bool = False,
    dimension: int | None = None,
    target_url: str | None = None,
) -> SyncTarget:
    """The index the sync writes into: remote when the config (or ``target_url``) names a
    server, else embedded (``data`` overrides the stored location)."""
    url = target_url or (None if data else cfg.target_url)
    if url:
        from slabdb.sync.remote import DEFAULT_API_KEY_ENV, RemoteTarget

        return RemoteTarget(
            url,
            cfg.index,
            api_key_env=cfg.api_key_env or DEFAULT_API_KEY_ENV,
            dimension=dimension,
            create=create,
        )
    location = data or cfg.data
    if not location:
        raise InvalidArgumentError("no SlabDB location: pass --data or --target-url")
    return EmbeddedTarget(location, cfg.index, dimension=dimension, create=create)


def init_sync(
    dsn: str,
    *,
    table: str,
    key: str,
    template: str,
    index: str,
    metadata: Sequence[str] = (),
    data: str = "",
    target_url: str = "",
    api_key_env: str = "",
    name: str | None = None,
    embedder: str = DEFAULT_EMBEDDER,
    embedder_options: dict[str, Any] | None = None,
    chunk_chars: int = DEFAULT_CHUNK_CHARS,
    chunk_overlap_chars: int = DEFAULT_CHUNK_OVERLAP_CHARS,
    text_field: str = DEFAULT_TEXT_FIELD,
    embedder_instance: Embedder | None = None,
    create_index: bool = True,
) -> SyncConfig:
    """Install (or update) a sync and create its SlabDB index if missing. Idempotent.

    With ``target_url`` the index lives behind a Pinecone-API server whose key is read
    from environment variable ``api_key_env`` (only the variable's name is stored).
    A relative ``data`` directory is stored absolute (resolved against the current
    directory), so workers started in any directory find the index."""
    data, api_key_env = _stored_location(data, target_url, api_key_env)
    sync_name = check_sync_name(name or index.replace("-", "_"))
    tmpl = TextTemplate(template)
    model = embedder_instance or resolve_embedder(embedder, embedder_options)
    with connect(dsn) as conn:
        schema_name, table_name, key_type = _source_table(
            conn, table, key, [*tmpl.columns, *metadata]
        )
        cfg = SyncConfig(
            name=sync_name,
            table_schema=schema_name,
            table_name=table_name,
            key_column=key,
            key_type=key_type,
            template=template,
            metadata_columns=tuple(metadata),
            index=index,
            embedder=embedder,
            embedder_options=dict(embedder_options or {}),
            data=data,
            target_url=target_url,
            api_key_env=api_key_env,
            chunk_chars=chunk_chars,
            chunk_overlap_chars=chunk_overlap_chars,
            text_field=text_field,
        )
        if create_index and (data or target_url):
            open_target(cfg, data, create=True, dimension=model.dimension).close()
        with conn.transaction():
            schema.install(conn, cfg, tmpl.columns)
    return cfg


def _stored_location(data: str, target_url: str, api_key_env: str) -> tuple[str, str]:
    """``(data, api_key_env)`` as stored: ``data`` absolute, or with ``target_url`` no
    data directory and the key variable defaulted."""
    data = absolute_location(data)
    if target_url:
        from slabdb.sync.remote import DEFAULT_API_KEY_ENV

        data, api_key_env = "", api_key_env or DEFAULT_API_KEY_ENV
    return data, api_key_env


def _source_table(
    conn: psycopg.Connection, table: str, key: str, needed: Sequence[str]
) -> tuple[str, str, str]:
    """``(schema, name, key_type)`` of the synced table, which must have every column
    in ``needed`` (the template's and the metadata columns)."""
    schema_name, table_name, key_type, columns = schema.describe_table(conn, table, key)
    missing = [c for c in needed if c not in columns]
    if missing:
        raise InvalidArgumentError(f"table {schema_name}.{table_name} has no column(s) {missing}")
    return schema_name, table_name, key_type


def load_sync(dsn: str, name: str) -> SyncConfig:
    with psycopg.connect(dsn) as conn:
        return schema.load_config(conn, name)


def uninstall_sync(dsn: str, name: str) -> None:
    with connect(dsn) as conn, conn.transaction():
        schema.uninstall(conn, schema.load_config(conn, name))


@contextmanager
def open_sync_worker(
    dsn: str,
    name: str,
    *,
    data: str | None = None,
    embedder: Embedder | None = None,
    target: SyncTarget | None = None,
    settings: WorkerSettings | None = None,
    metrics: SyncMetrics | None = None,
) -> Iterator[SyncWorker]:
    """A worker for sync ``name`` whose embedder and target come from the stored config
    unless given."""
    cfg = load_sync(dsn, name)
    own_target = target is None
    model = embedder or resolve_embedder(cfg.embedder, cfg.embedder_options)
    tgt = target or open_target(cfg, data)
    worker = SyncWorker(dsn, cfg, model, tgt, settings, metrics)
    try:
        yield worker
    finally:
        worker.close()
        if own_target:
            tgt.close()
