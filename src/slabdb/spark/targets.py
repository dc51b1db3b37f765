"""Where a Spark job writes: an embedded SlabDB index or a served one (SlabDB or Pinecone).

A target is a small frozen dataclass of plain settings (a URL, an index name, an API
key). Spark pickles it into every task; each executor process calls :meth:`open` itself
and gets its own connection, so nothing built on the driver (a client, a channel, a
thread) is ever shipped.  The same object works on ``local[2]`` and on a cluster, as long
as what it names is reachable from the executors (an ``s3://`` store or a shared path for
:class:`EmbeddedIndex`, a network address for :class:`ServerIndex`).

An :class:`IndexConnection` turns the backend's transport failures into
:class:`~slabdb.core.retry.TransientError` (retryable) and lets every other error through,
so the caller retries with :class:`~slabdb.core.retry.RetryPolicy` and the project's one
rule, :func:`~slabdb.core.retry.is_retryable`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from slabdb.core.retry import TransientError
from slabdb.spark.batches import Record


@dataclass(frozen=True)
class ImportState:
    """One poll of a bulk import, as both the embedded API and the SDK describe it."""

    id: str
    status: str
    percent_complete: float
    records_imported: int
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("Completed", "Failed", "Cancelled")

    @classmethod
    def of(cls, model: Any) -> ImportState:
        return cls(
            id=str(model.id),
            status=str(model.status),
            percent_complete=float(model.percent_complete or 0.0),
            records_imported=int(model.records_imported or 0),
            error=getattr(model, "error", None),
        )


class IndexConnection(ABC):
    """One open handle on the index, in one process."""

    @abstractmethod
    def upsert(self, records: list[Record], namespace: str) -> int:
        """Write one batch; the number of records the index acknowledged."""

    @abstractmethod
    def start_import(self, uri: str, error_mode: str) -> str:
        """Start a bulk import of ``uri``; its id."""

    @abstractmethod
    def describe_import(self, import_id: str) -> ImportState: ...

    @abstractmethod
    def close(self) -> None: ...


class IndexTarget(ABC):
    """Picklable settings naming an index; :meth:`open` connects from the calling process."""

    @abstractmethod
    def open(self) -> IndexConnection: ...

    @contextmanager
    def connection(self) -> Iterator[IndexConnection]:
        conn = self.open()
        try:
            yield conn
        finally:
            conn.close()


@dataclass(frozen=True)
class EmbeddedIndex(IndexTarget):
    """An index in a SlabDB store opened in-process (``slabdb.connect(url)``) by each
    executor: several processes may write one store (WAL LSNs are claimed with
    conditional writes), so the URL must be one every executor reaches."""

    url: str
    index: str
    store_options: dict[str, str] = field(default_factory=dict)

    def open(self) -> IndexConnection:
        from slabdb.client import connect

        client = connect(self.url, config=None, **self.store_options)
        return _EmbeddedConnection(client, client.Index(self.index))


class _EmbeddedConnection(IndexConnection):
    def __init__(self, client: Any, index: Any) -> None:
        self._client, self._index = client, index

    def upsert(self, records: list[Record], namespace: str) -> int:
        return int(self._index.upsert(vectors=records, namespace=namespace).upserted_count)

    def start_import(self, uri: str, error_mode: str) -> str:
        return str(self._index.start_import(uri, error_mode=error_mode).id)

    def describe_import(self, import_id: str) -> ImportState:
        return ImportState.of(self._index.describe_import(import_id))

    def close(self) -> None:
        self._index.close()
        self._client.close()


@dataclass(frozen=True)
class ServerIndex(IndexTarget):
    """An index behind ``slabdb serve`` or Pinecone, through the ``pinecone`` SDK 10.

    ``host`` is the control-plane address (``http://127.0.0.1:5080``; None for Pinecone's
    own); upserts go over gRPC unless ``grpc`` is False (then REST). The SDK's own retries
    are off: :class:`~slabdb.core.retry.RetryPolicy` is the one retry loop.
    """

    api_key: str
    index: str
    host: str | None = None
    grpc: bool = True
    timeout_seconds: float = 60.0

    def open(self) -> IndexConnection:
        from pinecone import Pinecone, RetryConfig

        scheme: Literal["http", "https"] = (
            "http" if (self.host or "").startswith("http://") else "https"
        )
        retry = RetryConfig(max_retries=0)
        pc = Pinecone(api_key=self.api_key, host=self.host, grpc_scheme=scheme, retry_config=retry)
        try:
            index = _transient(lambda: pc.index(name=self.index, grpc=self.grpc))
        except BaseException:
            pc.close()
            raise
        return _ServerConnection(pc, index, self.timeout_seconds)


class _ServerConnection(IndexConnection):
    def __init__(self, pc: Any, index: Any, timeout: float) -> None:
        self._pc, self._index, self._timeout = pc, index, timeout

    def upsert(self, records: list[Record], namespace: str) -> int:
        call = lambda: self._index.upsert(  # noqa: E731
            vectors=records, namespace=namespace, timeout=self._timeout
        )
        return int(_transient(call).upserted_count)

    def start_import(self, uri: str, error_mode: str) -> str:
        return str(_transient(lambda: self._index.start_import(uri, error_mode=error_mode)).id)

    def describe_import(self, import_id: str) -> ImportState:
        return ImportState.of(_transient(lambda: self._index.describe_import(import_id)))

    def close(self) -> None:
        for closable in (self._index, self._pc):
            close = getattr(closable, "close", None)
            if close is not None:
                close()


def _transient(call: Any) -> Any:
    """Run an SDK call; a dropped or refused connection becomes a TransientError.

    The SDK's ``PineconeConnectionError`` derives from no ``OSError``, so the shared rule
    would call it permanent; statuses (``ApiError.status_code``) and timeouts (an
    ``OSError``) are left for :func:`~slabdb.core.retry.is_retryable` to judge.
    """
    from pinecone.errors import PineconeConnectionError

    try:
        return call()
    except PineconeConnectionError as exc:
        raise TransientError(f"connection failed: {exc}") from exc
