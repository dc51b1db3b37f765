"""One retry policy for every remote call: exponential backoff, full jitter, Retry-After.

A backend wraps one attempt in a function that raises :class:`TransientError` for a
failure worth retrying (HTTP 408/409/429/5xx, throttling, timeouts, dropped connections)
and any other exception for a permanent one. :meth:`RetryPolicy.call` then

* retries only :class:`TransientError`, at most ``max_attempts`` attempts in all;
* waits what the server asked for when it said so (``Retry-After`` in seconds or as an
  HTTP date, or ``retry-after-ms``), capped at ``max_retry_after_seconds``, plus up to
  10 % jitter so a fleet told the same number does not return in lockstep;
* otherwise waits a random time in ``[0, min(max_backoff, initial * multiplier**n)]``
  ("full jitter"), n = failures so far minus one;
* stops early once ``deadline_seconds`` (if set) would be passed by the next wait;
* raises :class:`~slabdb.embed.base.EmbeddingUnavailableError` when attempts run out,
  with the last failure as its cause. Permanent errors pass through at once.

``sleep`` and ``random`` are injectable so tests neither wait nor flake.
"""

from __future__ import annotations

import email.utils
import logging
import random as _random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_any,
    stop_before_delay,
)
from tenacity.stop import stop_base

from slabdb.embed.base import EmbeddingUnavailableError

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_MAX_ATTEMPTS = 6
"""Attempts in all (the first try plus five retries)."""
DEFAULT_INITIAL_BACKOFF_SECONDS = 0.5
DEFAULT_MAX_BACKOFF_SECONDS = 30.0
DEFAULT_BACKOFF_MULTIPLIER = 2.0
DEFAULT_MAX_RETRY_AFTER_SECONDS = 120.0
"""A server asking for a longer pause than this gets this long."""
RETRY_AFTER_JITTER_FRACTION = 0.1

RETRYABLE_HTTP_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
"""HTTP statuses worth another attempt; any other 4xx is permanent."""


class TransientError(Exception):
    """One attempt failed in a way that another attempt may fix."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds a response asks the client to wait, or None if it does not say.

    Reads ``retry-after-ms`` (OpenAI, Azure) first, then ``Retry-After`` as delta-seconds
    or an HTTP date. Header names are matched case-insensitively; junk is ignored.
    """
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis) / 1000.0
        except ValueError:
            value = -1.0
        if value >= 0:
            return value
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
        return max(0.0, seconds)
    return seconds if seconds >= 0 else None


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a transient failure. Immutable; share freely."""

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    initial_backoff_seconds: float = DEFAULT_INITIAL_BACKOFF_SECONDS
    max_backoff_seconds: float = DEFAULT_MAX_BACKOFF_SECONDS
    multiplier: float = DEFAULT_BACKOFF_MULTIPLIER
    max_retry_after_seconds: float = DEFAULT_MAX_RETRY_AFTER_SECONDS
    deadline_seconds: float | None = None
    """Give up rather than start a wait that would end past this long after the start."""
    jitter: bool = True
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    random: Callable[[], float] = field(default=_random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.initial_backoff_seconds < 0 or self.max_backoff_seconds < 0:
            raise ValueError("backoff seconds must not be negative")
        if self.multiplier < 1:
            raise ValueError("multiplier must be at least 1")

    def backoff_seconds(self, failures: int) -> float:
        """The pause after the ``failures``-th failure when the server named none."""
        exponent = max(0, failures - 1)
        cap = min(
            self.max_backoff_seconds, self.initial_backoff_seconds * self.multiplier**exponent
        )
        return cap * self.random() if self.jitter else cap

    def wait_seconds(self, failures: int, error: BaseException | None) -> float:
        """The pause before the next attempt, honouring a server's Retry-After."""
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, int | float) and retry_after >= 0:
            base = min(float(retry_after), self.max_retry_after_seconds)
            extra = base * RETRY_AFTER_JITTER_FRACTION * self.random() if self.jitter else 0.0
            return base + extra
        return self.backoff_seconds(failures)

    def call(self, fn: Callable[[], T], *, what: str = "call") -> T:
        """Run ``fn`` under this policy (see the module docstring)."""
        stop: stop_base = stop_after_attempt(self.max_attempts)
        if self.deadline_seconds is not None:
            stop = stop_any(stop, stop_before_delay(self.deadline_seconds))
        retrying = Retrying(
            stop=stop,
            wait=self._tenacity_wait,
            retry=retry_if_exception_type(TransientError),
            sleep=self.sleep,
            before_sleep=lambda state: _log_retry(what, state),
            reraise=False,
        )
        try:
            return retrying(fn)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            attempts = exc.last_attempt.attempt_number
            status = last.status if isinstance(last, TransientError) else None
            raise EmbeddingUnavailableError(
                f"{what} failed after {attempts} attempt(s): {last}", upstream_status=status
            ) from last

    def _tenacity_wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        return self.wait_seconds(state.attempt_number, error)


def _log_retry(what: str, state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    wait = state.next_action.sleep if state.next_action is not None else 0.0
    logger.warning(
        "%s: attempt %d failed (%s); retrying in %.2fs", what, state.attempt_number, error, wait
    )
