"""The embedders' retry policy: SlabDB's one policy, giving up with an embedding error.

:class:`RetryPolicy` is :class:`slabdb.core.retry.RetryPolicy` (backoff with full
jitter, ``Retry-After``, deadline, the shared retryable predicate and status list) with
one difference: when attempts run out, :meth:`RetryPolicy.call` raises
:class:`~slabdb.embed.base.EmbeddingUnavailableError` (retryable, 503) with the last
failure as its cause and its upstream status. A backend wraps one HTTP call in a
function that raises :class:`TransientError` for a status in
:data:`RETRYABLE_HTTP_STATUSES`, throttling, a timeout or a dropped connection, and
:class:`~slabdb.embed.base.EmbeddingRejectedError` for anything retrying cannot fix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from slabdb.core import retry as core_retry
from slabdb.core.retry import RETRYABLE_STATUSES, TransientError, parse_retry_after
from slabdb.embed.base import EmbeddingUnavailableError

T = TypeVar("T")

RETRYABLE_HTTP_STATUSES = RETRYABLE_STATUSES
"""The shared list (:data:`slabdb.core.retry.RETRYABLE_STATUSES`), by the name backends use."""

__all__ = [
    "RETRYABLE_HTTP_STATUSES",
    "RetryPolicy",
    "TransientError",
    "parse_retry_after",
]


def unavailable(last: BaseException, attempts: int, what: str) -> EmbeddingUnavailableError:
    """The error an embedder raises once a transient failure outlasted the policy."""
    status = getattr(last, "status", None)
    return EmbeddingUnavailableError(
        f"{what} failed after {attempts} attempt(s): {last}",
        upstream_status=status if isinstance(status, int) else None,
    )


@dataclass(frozen=True)
class RetryPolicy(core_retry.RetryPolicy):
    """The shared policy; running out of attempts raises EmbeddingUnavailableError."""

    def call(
        self,
        fn: Callable[[], T],
        *,
        what: str = "call",
        exhausted: core_retry.Exhausted | None = None,
    ) -> T:
        def give_up(last: BaseException, attempts: int) -> BaseException:
            return unavailable(last, attempts, what)

        return super().call(fn, what=what, exhausted=exhausted or give_up)
