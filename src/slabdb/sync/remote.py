"""A :class:`SyncTarget` behind the Pinecone API: a running ``slabdb serve`` or Pinecone.

Talks REST through the official ``pinecone`` SDK, so anything that speaks the Pinecone
data plane works. The sync config stores the control-plane URL and the *name* of the
environment variable holding the API key, never the key:

    target = RemoteTarget("http://127.0.0.1:5080", "products", api_key_env="SLABDB_API_KEY")

Upserts are split so no request exceeds 1000 records or the 2 MB request limit; deletes
and fetches go in slices of ids. Failures the SDK hands back (after its own retries)
become SlabDB errors that say whether the outbox should try again, by the shared rule of
:mod:`slabdb.core.retry`:

* a status in :data:`~slabdb.core.retry.RETRYABLE_STATUSES` (408, 429, 500, 502, 503,
  504), a refused or dropped connection, or a timeout: :class:`StorageError`
  (retryable; the outbox backs off and tries again);
* any other 4xx (400, 401, 403, 404, 409 "already exists" / alias name, 413, ...) or an
  argument the SDK refused before sending: :class:`InvalidArgumentError` (the sync gives
  up on the key at once: errors table);
* any other 5xx (501, 505, ...): :class:`SlabDBError` (not retryable either).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np

from slabdb.core import limits
from slabdb.core.errors import InvalidArgumentError, SlabDBError, StorageError
from slabdb.core.retry import is_retryable, transport_status
from slabdb.sync.target import SyncTarget, TargetBatch

T = TypeVar("T")

DEFAULT_API_KEY_ENV = "SLABDB_API_KEY"
REQUEST_BUDGET_BYTES = limits.MAX_REQUEST_BYTES - 64 * 1024
"""Largest upsert body we send: the 2 MB limit minus room for the JSON envelope."""
FETCH_IDS_PER_REQUEST = 100
"""Fetch sends ids in the query string; keep URLs well under servers' line limits."""
SERVERLESS_CLOUD = "aws"
SERVERLESS_REGION = "us-east-1"


def resolve_api_key(api_key_env: str) -> str:
    """The API key from environment variable ``api_key_env``."""
    key = os.environ.get(api_key_env, "").strip()
    if not key:
        raise InvalidArgumentError(
            f"the remote SlabDB/Pinecone API key is read from ${api_key_env}, which is not set"
        )
    return key


def remote_error(url: str, exc: BaseException) -> SlabDBError:
    """What a failed SDK call means for the sync (see the module docstring)."""
    from pinecone.errors import PineconeConnectionError

    status = transport_status(exc)
    if isinstance(exc, PineconeConnectionError) or is_retryable(exc):
        return StorageError(f"{url} is unavailable (worth retrying): {exc}")
    if (status is not None and 400 <= status < 500) or isinstance(exc, ValueError | TypeError):
        return InvalidArgumentError(f"{url} rejected the request: {exc}")
    return SlabDBError(f"{url} failed: {exc}")


def record_size(vid: str, values: list[float], metadata: dict[str, Any]) -> int:
    """Bytes one record takes in an upsert body (JSON, as the SDK sends it)."""
    return len(json.dumps({"id": vid, "values": values, "metadata": metadata}).encode()) + 1


def upsert_slices(
    ids: Sequence[str],
    values: Sequence[list[float]],
    metadata: Sequence[dict[str, Any]],
    *,
    max_records: int = limits.MAX_UPSERT_RECORDS,
    max_bytes: int = REQUEST_BUDGET_BYTES,
) -> Iterator[tuple[int, int]]:
    """``(start, end)`` slices of records that fit in one request each."""
    start, size = 0, 0
    for i, (vid, vals, meta) in enumerate(zip(ids, values, metadata, strict=True)):
        one = record_size(vid, vals, meta)
        if one > max_bytes:
            raise InvalidArgumentError(f"vector {vid!r} alone is larger than one request")
        if i > start and (i - start >= max_records or size + one > max_bytes):
            yield start, i
            start, size = i, 0
        size += one
    if start < len(ids):
        yield start, len(ids)


class RemoteTarget(SyncTarget):
    """An index reached through the ``pinecone`` SDK (REST). Thread-safe."""

    def __init__(
        self,
        url: str,
        index: str,
        *,
        api_key: str | None = None,
        api_key_env: str = DEFAULT_API_KEY_ENV,
        dimension: int | None = None,
        metric: str = "cosine",
        create: bool = False,
        namespace: str = "",
    ) -> None:
        from pinecone import Pinecone, ServerlessSpec
        from pinecone.errors import PineconeError

        key = api_key or resolve_api_key(api_key_env)
        self.url = url
        self.namespace = namespace
        self._pc = Pinecone(api_key=key, host=url)
        try:
            if not self._pc.has_index(index):
                if not create or dimension is None:
                    raise InvalidArgumentError(f"index {index!r} does not exist at {url}")
                self._pc.create_index(
                    name=index,
                    dimension=dimension,
                    metric=metric,
                    spec=ServerlessSpec(cloud=SERVERLESS_CLOUD, region=SERVERLESS_REGION),
                )
            described = self._pc.describe_index(index)
            self._dimension = int(described.dimension or 0)
            if dimension is not None and dimension != self._dimension:
                raise InvalidArgumentError(
                    f"index {index!r} has dimension {self._dimension} but the embedder makes "
                    f"{dimension}-d vectors"
                )
            if not described.host:
                raise InvalidArgumentError(f"index {index!r} at {url} has no host yet")
            self._index = self._pc.index(host=described.host)
        except (PineconeError, OSError) as exc:  # one line for the CLI, not a traceback
            self._pc.close()
            raise remote_error(url, exc) from exc
        except BaseException:
            self._pc.close()
            raise

    @property
    def dimension(self) -> int:
        return self._dimension

    def _call(self, fn: Callable[..., T], **kwargs: Any) -> T:
        from pinecone.errors import PineconeError

        try:
            return fn(namespace=self.namespace, **kwargs)
        except (PineconeError, OSError) as exc:
            raise remote_error(self.url, exc) from exc

    def write(self, batch: TargetBatch) -> None:
        step = limits.MAX_DELETE_IDS
        for start in range(0, len(batch.delete_ids), step):
            self._call(self._index.delete, ids=batch.delete_ids[start : start + step])
        if not batch.upsert_ids:
            return
        values = [np.asarray(v, dtype=np.float32).tolist() for v in batch.upsert_vectors]
        for lo, hi in upsert_slices(batch.upsert_ids, values, batch.upsert_metadata):
            vectors = [
                {
                    "id": batch.upsert_ids[i],
                    "values": values[i],
                    "metadata": batch.upsert_metadata[i],
                }
                for i in range(lo, hi)
            ]
            self._call(self._index.upsert, vectors=vectors, show_progress=False)

    def fetch(self, ids: Sequence[str]) -> dict[str, tuple[np.ndarray, dict[str, Any]]]:
        out: dict[str, tuple[np.ndarray, dict[str, Any]]] = {}
        for start in range(0, len(ids), FETCH_IDS_PER_REQUEST):
            res = self._call(
                self._index.fetch, ids=list(ids[start : start + FETCH_IDS_PER_REQUEST])
            )
            for vid, vec in res.vectors.items():
                out[vid] = (np.asarray(vec.values, dtype=np.float32), dict(vec.metadata or {}))
        return out

    def list_ids(self, prefix: str) -> list[str]:
        def every_id(namespace: str) -> list[str]:
            pages = self._index.list(prefix=prefix or None, namespace=namespace)
            return [item.id for page in pages for item in page.vectors if item.id]

        return self._call(every_id)

    def close(self) -> None:
        self._index.close()
        self._pc.close()
