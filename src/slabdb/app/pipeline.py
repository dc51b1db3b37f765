"""How the product table becomes a hybrid index: the sync, plus BM25 sparse vectors.

``slabdb.sync`` turns rows into dense vectors (``{name}: {summary}`` and the description,
chunked, embedded by MiniLM) and writes them through a :class:`~slabdb.sync.SyncTarget`.
:class:`HybridSyncTarget` is that target for the demo: it adds each chunk's BM25 sparse
vector (from the chunk text the sync stores in metadata) and writes through the app's
:class:`~slabdb.app.index.SearchIndex`, embedded or remote. So the workers must be opened
here (:func:`open_workers`), not by ``slabdb sync run``, which would write dense only.

Order of :func:`setup` (idempotent): table + snapshot, BM25 statistics (fitted on the
catalog's chunks, saved beside the state), a ``dotproduct`` index, ``init_sync`` without
creating an index, and the bootstrap that queues every row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from slabdb.app.catalog import TABLE, Product, ProductStore
from slabdb.app.index import SearchIndex
from slabdb.app.sparse import BM25Encoder
from slabdb.core import limits
from slabdb.embed.base import Embedder
from slabdb.sync import SyncConfig, SyncTarget, SyncWorker, TargetBatch, WorkerPool
from slabdb.sync import bootstrap as bootstrap_sync
from slabdb.sync.config import DEFAULT_CHUNK_CHARS, DEFAULT_TEXT_FIELD
from slabdb.sync.setup import init_sync, load_sync, resolve_embedder
from slabdb.sync.text import TextTemplate, chunk_text, row_metadata, vector_id

logger = logging.getLogger(__name__)

SYNC_NAME = "products"
INDEX_NAME = "products"
TEMPLATE = "{name}: {summary}\n\n{description}"
METADATA_COLUMNS = ("name", "summary", "section", "installed_size", "version")
EMBEDDER = "minilm"
UPSERT_RECORDS_PER_REQUEST = 100
"""Upsert slices: 100 records of 384 floats, sparse pairs and ≤ 1000 chars of text stay
well under the 2 MB request limit."""


@dataclass(frozen=True)
class ProductShape:
    """How one product is rendered into chunks and metadata (the sync's rules)."""

    template: str = TEMPLATE
    metadata_columns: tuple[str, ...] = METADATA_COLUMNS
    chunk_chars: int = DEFAULT_CHUNK_CHARS
    text_field: str = DEFAULT_TEXT_FIELD

    @classmethod
    def of(cls, cfg: SyncConfig) -> ProductShape:
        return cls(cfg.template, cfg.metadata_columns, cfg.chunk_chars, cfg.text_field)

    def chunks(self, product: Product) -> list[str]:
        return chunk_text(TextTemplate(self.template).render(product.as_row()), self.chunk_chars)

    def expected(self, product: Product) -> dict[str, dict[str, Any]]:
        """The metadata the sync will store for ``product``, by vector id."""
        row = product.as_row()
        return {
            vector_id(str(product.id), i): row_metadata(
                row, "id", self.metadata_columns, self.text_field, i, text
            )
            for i, text in enumerate(self.chunks(product))
        }


class HybridSyncTarget(SyncTarget):
    """The sync's dense records plus BM25 sparse vectors, written to a SearchIndex."""

    def __init__(
        self,
        index: SearchIndex,
        encoder: BM25Encoder,
        text_field: str = DEFAULT_TEXT_FIELD,
        title_field: str = "name",
    ) -> None:
        self.index = index
        self.encoder = encoder
        self.text_field = text_field
        self.title_field = title_field
        self._dimension = index.dimension

    @property
    def dimension(self) -> int:
        return self._dimension

    def write(self, batch: TargetBatch) -> None:
        step = limits.MAX_DELETE_IDS
        for start in range(0, len(batch.delete_ids), step):
            self.index.delete(batch.delete_ids[start : start + step])
        texts = [str(m.get(self.text_field, "")) for m in batch.upsert_metadata]
        titles = [str(m.get(self.title_field, "")) for m in batch.upsert_metadata]
        sparse = self.encoder.encode_documents(texts, titles)
        records = []
        for vid, vec, meta, sv in zip(
            batch.upsert_ids, batch.upsert_vectors, batch.upsert_metadata, sparse, strict=True
        ):
            record: dict[str, Any] = {"id": vid, "values": vec.tolist(), "metadata": meta}
            if sv["indices"]:
                record["sparse_values"] = sv
            records.append(record)
        for start in range(0, len(records), UPSERT_RECORDS_PER_REQUEST):
            self.index.upsert(records[start : start + UPSERT_RECORDS_PER_REQUEST])

    def fetch(self, ids: Sequence[str]) -> dict[str, tuple[np.ndarray, dict[str, Any]]]:
        out: dict[str, tuple[np.ndarray, dict[str, Any]]] = {}
        step = limits.MAX_FETCH_IDS
        for start in range(0, len(ids), step):
            got = self.index.fetch_values(ids[start : start + step])
            for vid, (values, meta) in got.items():
                out[vid] = (np.asarray(values, dtype=np.float32), meta)
        return out

    def list_ids(self, prefix: str) -> list[str]:
        return self.index.list_ids(prefix)


def fit_encoder(store: ProductStore, shape: ProductShape | None = None) -> BM25Encoder:
    """BM25 statistics over every chunk of the catalog (what the index will hold), each
    titled by its product's name."""
    shape = shape or ProductShape()
    texts: list[str] = []
    titles: list[str] = []
    for product in store.all_products():
        chunks = shape.chunks(product)
        texts += chunks
        titles += [product.name] * len(chunks)
    return BM25Encoder.fit(texts, titles)


def load_or_fit_encoder(store: ProductStore, path: Path) -> BM25Encoder:
    if path.exists():
        return BM25Encoder.load(path)
    encoder = fit_encoder(store)
    encoder.save(path)
    return encoder


def setup(
    dsn: str,
    index: SearchIndex,
    *,
    snapshot: Path,
    encoder_path: Path,
    rows: int | None = None,
    embedder: Embedder | None = None,
    data: str = "",
    target_url: str = "",
    api_key_env: str = "",
    progress: Callable[[int], None] | None = None,
) -> tuple[SyncConfig, BM25Encoder]:
    """Table, statistics, index, sync and bootstrap (see the module docstring).

    ``data`` or ``target_url`` + ``api_key_env`` is what the sync config records about
    the index (informational: :func:`open_workers` builds the workers' target)."""
    store = ProductStore(dsn)
    loaded = store.create_and_load(snapshot, rows)
    logger.info("%d products in Postgres", loaded)
    encoder = load_or_fit_encoder(store, encoder_path)
    model = embedder or resolve_embedder(EMBEDDER)
    index.ensure(model.dimension, "dotproduct")
    cfg = init_sync(
        dsn,
        table=TABLE,
        key="id",
        template=TEMPLATE,
        index=index.name,
        metadata=METADATA_COLUMNS,
        name=SYNC_NAME,
        embedder=EMBEDDER,
        embedder_instance=model,
        create_index=False,
        data=data,
        target_url=target_url,
        api_key_env=api_key_env,
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        bootstrap_sync(conn, cfg, progress=progress)
    return cfg, encoder


def open_workers(
    dsn: str,
    index: SearchIndex,
    encoder: BM25Encoder,
    *,
    threads: int = 1,
    embedder: Embedder | None = None,
    make_settings: Callable[[], Any] | None = None,
) -> WorkerPool:
    """A (not yet started) pool of sync workers writing hybrid records to ``index``."""
    cfg = load_sync(dsn, SYNC_NAME)
    model = embedder or resolve_embedder(cfg.embedder, cfg.embedder_options)
    target = HybridSyncTarget(index, encoder, cfg.text_field)

    def make() -> SyncWorker:
        settings = make_settings() if make_settings else None
        return SyncWorker(dsn, cfg, model, target, settings)

    return WorkerPool(make, threads)
