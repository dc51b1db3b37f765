"""Where synced vectors go: the :class:`SyncTarget` interface and the embedded engine.

A worker hands a target one :class:`TargetBatch` (ids to delete, records to upsert) per
claimed batch and commits its claim only after :meth:`SyncTarget.write` returned, so a
target must be durable on return. Deletes apply before upserts. A remote target (the
Pinecone-compatible server through the ``pinecone`` SDK) implements the same methods.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from slabdb.core import limits
from slabdb.core.errors import InvalidArgumentError


@dataclass
class TargetBatch:
    """One batch of changes: ``delete_ids`` first, then the upserts."""

    delete_ids: list[str] = field(default_factory=list)
    upsert_ids: list[str] = field(default_factory=list)
    upsert_vectors: list[np.ndarray] = field(default_factory=list)
    upsert_metadata: list[dict[str, Any]] = field(default_factory=list)

    def add(self, vid: str, vector: np.ndarray, metadata: dict[str, Any]) -> None:
        self.upsert_ids.append(vid)
        self.upsert_vectors.append(np.asarray(vector, dtype=np.float32))
        self.upsert_metadata.append(metadata)

    def __bool__(self) -> bool:
        return bool(self.delete_ids or self.upsert_ids)


class SyncTarget(ABC):
    """A vector index the sync writes into."""

    @property
    @abstractmethod
    def dimension(self) -> int:
        """The index's vector length."""

    @abstractmethod
    def write(self, batch: TargetBatch) -> None:
        """Apply the batch durably (deletes, then upserts); raise on failure."""

    @abstractmethod
    def fetch(self, ids: Sequence[str]) -> dict[str, tuple[np.ndarray, dict[str, Any]]]:
        """Stored vectors and metadata by id (missing ids are absent)."""

    @abstractmethod
    def list_ids(self, prefix: str) -> list[str]:
        """Every stored id starting with ``prefix``."""

    def close(self) -> None:
        return None


class EmbeddedTarget(SyncTarget):
    """An index of the embedded engine (a directory, ``memory://`` or ``s3://``).

    Several processes may open the same store; the engine serialises their writes.
    Thread-safe: threads of one worker pool share a target.
    """

    def __init__(
        self,
        data: str,
        index: str,
        *,
        dimension: int | None = None,
        metric: str = "cosine",
        create: bool = False,
        client: Any = None,
    ) -> None:
        import slabdb

        self._own_client = client is None
        self._client = client if client is not None else slabdb.connect(data)
        if not self._client.has_index(index):
            if not create or dimension is None:
                raise InvalidArgumentError(f"SlabDB index {index!r} does not exist at {data}")
            self._client.create_index(name=index, dimension=dimension, metric=metric)
        self._index = self._client.Index(index)
        described = self._client.describe_index(index).dimension
        self._dimension = int(described or 0)
        if dimension is not None and dimension != self._dimension:
            raise InvalidArgumentError(
                f"index {index!r} has dimension {self._dimension} but the embedder makes "
                f"{dimension}-d vectors"
            )
        self._lock = threading.Lock()

    @property
    def index(self) -> Any:
        return self._index

    @property
    def dimension(self) -> int:
        return self._dimension

    def write(self, batch: TargetBatch) -> None:
        step = limits.MAX_DELETE_IDS
        for start in range(0, len(batch.delete_ids), step):
            self._index.delete(ids=batch.delete_ids[start : start + step])
        if batch.upsert_ids:
            self._index.upsert_arrays(
                batch.upsert_ids, np.stack(batch.upsert_vectors), metadata=batch.upsert_metadata
            )

    def fetch(self, ids: Sequence[str]) -> dict[str, tuple[np.ndarray, dict[str, Any]]]:
        out: dict[str, tuple[np.ndarray, dict[str, Any]]] = {}
        step = limits.MAX_FETCH_IDS
        for start in range(0, len(ids), step):
            res = self._index.fetch(ids=list(ids[start : start + step]))
            for vid, vec in res.vectors.items():
                out[vid] = (np.asarray(vec.values, dtype=np.float32), dict(vec.metadata or {}))
        return out

    def list_ids(self, prefix: str) -> list[str]:
        return [vid for page in self._index.list(prefix=prefix) for vid in page]

    def close(self) -> None:
        if self._own_client:
            self._client.close()
