"""What to do with a key that failed: retry later or give up and move its events to the
errors table.

This is the outer loop across batches, measured in outbox attempts (the ``attempts``
column); the embedders' own policy already retried one HTTP call a few times within
seconds. Both use SlabDB's one policy (:mod:`slabdb.core.retry`): the same retryable
predicate and the same full-jitter backoff formula. A retryable failure waits
``backoff(attempts)`` (the worker writes ``available_at = now + delay``); after
``max_attempts`` — or at once for a failure retrying cannot fix (the backend rejected
the input, a template does not fit the row) — the key goes to the errors table with the
reason.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable
from dataclasses import dataclass, field

from slabdb.core.retry import RetryPolicy

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_INITIAL_BACKOFF_SECONDS = 1.0
DEFAULT_MAX_BACKOFF_SECONDS = 300.0
DEFAULT_BACKOFF_MULTIPLIER = 2.0
REASON_MAX_CHARS = 2000


def describe(error: BaseException) -> str:
    """The reason stored with a failed key: the error's type and message, bounded."""
    return f"{type(error).__name__}: {error}"[:REASON_MAX_CHARS]


@dataclass(frozen=True)
class Decision:
    """``give_up`` or wait ``delay_seconds`` before the next attempt."""

    give_up: bool
    delay_seconds: float
    reason: str


@dataclass(frozen=True)
class OutboxRetryPolicy:
    """Backoff for events whose processing failed. Immutable; share freely."""

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    initial_backoff_seconds: float = DEFAULT_INITIAL_BACKOFF_SECONDS
    max_backoff_seconds: float = DEFAULT_MAX_BACKOFF_SECONDS
    multiplier: float = DEFAULT_BACKOFF_MULTIPLIER
    random: Callable[[], float] = field(default=_random.random, repr=False, compare=False)
    policy: RetryPolicy = field(init=False, repr=False, compare=False)
    """The shared policy these settings describe (built here; it validates them)."""

    def __post_init__(self) -> None:
        shared = RetryPolicy(
            max_attempts=self.max_attempts,
            initial_backoff_seconds=self.initial_backoff_seconds,
            max_backoff_seconds=self.max_backoff_seconds,
            multiplier=self.multiplier,
            random=self.random,
        )
        object.__setattr__(self, "policy", shared)

    def backoff_seconds(self, attempts: int) -> float:
        """Full jitter: uniform in ``[0, min(max, initial * multiplier**(attempts-1))]``."""
        return self.policy.backoff_seconds(attempts)

    def decide(self, error: BaseException, attempts: int) -> Decision:
        """``attempts`` counts this failure."""
        reason = describe(error)
        if not self.policy.retry_if(error) or attempts >= self.max_attempts:
            return Decision(True, 0.0, reason)
        return Decision(False, self.backoff_seconds(attempts), reason)
