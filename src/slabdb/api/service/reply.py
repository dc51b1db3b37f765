"""What every data-plane operation returns: a wire-neutral result plus its LSN report.

Pinecone reports log positions so clients can check read-your-writes: a write answers
with ``x-pinecone-request-lsn`` (the LSN it was committed at), a query with
``x-pinecone-max-indexed-lsn`` (every write up to that LSN is visible to it). REST sends
them as HTTP response headers; gRPC as the call's initial metadata (response headers),
which is where Pinecone's own gRPC client reads them (``call.initial_metadata()``).

Pinecone names no request header for the other direction, so SlabDB's is its own:
``x-slabdb-min-lsn`` (REST header, gRPC metadata) on a query, fetch, fetch by metadata
or list makes the read see every write of that namespace up to the LSN, catching up
from the object store first (:mod:`slabdb.engine.freshness`: at most 5 s, then 503 /
UNAVAILABLE, retryable).  Send the ``x-pinecone-request-lsn`` a write returned, through
any node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from slabdb.core.errors import InvalidArgumentError

REQUEST_LSN = "x-pinecone-request-lsn"
"""Header/metadata key of the LSN a write was committed at."""
MAX_INDEXED_LSN = "x-pinecone-max-indexed-lsn"
"""Header/metadata key of the LSN a query saw (all writes up to it are visible)."""
MIN_LSN = "x-slabdb-min-lsn"
"""Request header/metadata key: the read must see every write up to this LSN."""


def min_lsn(value: str | None) -> int | None:
    """The request's :data:`MIN_LSN` (None if not sent); 400 unless a whole number >= 0."""
    if value is None or value.strip() == "":
        return None
    text = value.strip()
    if not (text.isascii() and text.isdigit()):
        raise InvalidArgumentError(
            f"{MIN_LSN} must be a whole number >= 0 (the x-pinecone-request-lsn a write "
            f"returned), not {value!r}"
        )
    return int(text)


T = TypeVar("T")


@dataclass(frozen=True)
class Reply(Generic[T]):
    """``result`` (a :mod:`slabdb.client.responses` value, names already on the wire
    convention) and the LSNs to report alongside it."""

    result: T
    committed_lsn: int | None = None
    """Set on writes: the LSN the write landed at (None if it wrote nothing)."""
    reconciled_lsn: int | None = None
    """Set on queries: the LSN of the view that answered (None if no namespace)."""

    @property
    def lsn_headers(self) -> dict[str, str]:
        """The LSN headers (REST) / initial metadata (gRPC) of this answer."""
        out: dict[str, str] = {}
        if self.committed_lsn is not None:
            out[REQUEST_LSN] = str(self.committed_lsn)
        if self.reconciled_lsn is not None:
            out[MAX_INDEXED_LSN] = str(self.reconciled_lsn)
        return out
