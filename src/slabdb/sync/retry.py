"""What to do with a key that failed: retry later (exponential backoff, full jitter) or
give up and move its events to the errors table.

The embedders' own :class:`~slabdb.embed.retry.RetryPolicy` already retries one HTTP call
a few times within seconds; this is the outer loop across batches, measured in outbox
attempts. Retryable failures (``EmbeddingError.retryable``, storage and connection
errors) wait ``backoff(attempts)``; after ``max_attempts`` — or at once for a failure
that retrying cannot fix (the backend rejected the input) — the key goes to the errors
table with the reason.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable
from dataclasses import dataclass, field

from slabdb.core.errors import InvalidArgumentError
from slabdb.embed.base import EmbeddingError

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_INITIAL_BACKOFF_SECONDS = 1.0
DEFAULT_MAX_BACKOFF_SECONDS = 300.0
DEFAULT_BACKOFF_MULTIPLIER = 2.0


def is_retryable(error: BaseException) -> bool:
    """False for failures that the same input will hit again."""
    if isinstance(error, EmbeddingError):
        return error.retryable
    return not isinstance(error, InvalidArgumentError | TypeError | ValueError)


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:2000]


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

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def backoff_seconds(self, attempts: int) -> float:
        """Full jitter: uniform in ``[0, min(max, initial * multiplier**(attempts-1))]``."""
        cap = min(
            self.max_backoff_seconds,
            self.initial_backoff_seconds * self.multiplier ** max(0, attempts - 1),
        )
        return cap * self.random()

    def decide(self, error: BaseException, attempts: int) -> Decision:
        """``attempts`` counts this failure."""
        reason = describe(error)
        if not is_retryable(error) or attempts >= self.max_attempts:
            return Decision(True, 0.0, reason)
        return Decision(False, self.backoff_seconds(attempts), reason)
