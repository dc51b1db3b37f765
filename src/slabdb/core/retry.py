"""SlabDB's one retry policy: which failures deserve another attempt, and how long to wait.

Every caller that retries uses this module: the embedders' HTTP calls
(:mod:`slabdb.embed.retry`), the sync outbox's rescheduling (:mod:`slabdb.sync.retry`),
the sync's remote target (:mod:`slabdb.sync.remote`) and the control catalog's reconnects
(:mod:`slabdb.control.catalog_db`).

**Retryable** (:func:`is_retryable`, the one predicate):

* a :class:`~slabdb.core.errors.SlabDBError` answers for itself with its ``retryable``
  class attribute (yes for ``StorageError``, ``ConflictError``,
  ``EmbeddingUnavailableError``; no for invalid arguments, not found, corruption, ...);
* a :class:`TransientError` (a backend adapter saying "this attempt failed, try again")
  is retryable;
* an error that carries a transport status (``status_code`` or ``status``) is retryable
  exactly when the status is in :data:`RETRYABLE_STATUSES`;
* an ``OSError`` (connection refused or reset, timeouts, a full disk) is retryable;
* anything else (``TypeError``, ``ValueError``, ``KeyError``, a bug) is not.

**Waiting** (:class:`RetryPolicy`): at most ``max_attempts`` attempts; before attempt
n+1 the wait is what the server asked for (``Retry-After``, capped at
``max_retry_after_seconds``, plus up to 10 % jitter) or else "full jitter" exponential
backoff, uniform in ``[0, min(max_backoff, initial * multiplier**(n-1))]``; with
``deadline_seconds`` set, no wait starts that would end past the deadline. ``sleep``,
``clock`` and ``random`` are injectable so tests neither wait nor flake.
"""

from __future__ import annotations

import email.utils
import logging
import random as _random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from slabdb.core.errors import SlabDBError

if TYPE_CHECKING:
    from tenacity import RetryCallState

logger = logging.getLogger(__name__)

T = TypeVar("T")

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
"""Transport statuses worth another attempt.

Pinecone's error-handling guide calls 429 (rate limited: back off and retry) and the
5xx answers 500, 502, 503 and 504 temporary; 408 is a request timeout. The ``pinecone``
SDK retries exactly this set itself. 409 is *not* here: Pinecone answers 409 for
"already exists" and for a namespace name held by an alias, which no retry fixes. Any
other 4xx is the caller's mistake and any other 5xx (501, 505) is permanent.
"""

DEFAULT_MAX_ATTEMPTS = 6
"""Attempts in all (the first try plus five retries)."""
DEFAULT_INITIAL_BACKOFF_SECONDS = 0.5
DEFAULT_MAX_BACKOFF_SECONDS = 30.0
DEFAULT_BACKOFF_MULTIPLIER = 2.0
DEFAULT_MAX_RETRY_AFTER_SECONDS = 120.0
"""A server asking for a longer pause than this gets this long."""
RETRY_AFTER_JITTER_FRACTION = 0.1
_MAX_EXPONENT = 64
"""Exponents past this only overflow; the backoff is long capped by then."""


class TransientError(Exception):
    """One attempt failed in a way that another attempt may fix.

    Backend adapters raise it from inside :meth:`RetryPolicy.call` for a retryable
    status, throttling, a timeout or a dropped connection; ``retry_after`` is what the
    server asked for (seconds), ``status`` the transport status if there was one.
    """

    def __init__(
        self, message: str, *, retry_after: float | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


def transport_status(error: BaseException) -> int | None:
    """The HTTP status an error carries (``status_code`` or ``status``), if any."""
    for attribute in ("status_code", "status"):
        value = getattr(error, attribute, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def is_retryable(error: BaseException) -> bool:
    """True when the same call may succeed later (see the module docstring)."""
    if isinstance(error, SlabDBError):
        return error.retryable
    if isinstance(error, TransientError):
        return True
    status = transport_status(error)
    if status is not None:
        return status in RETRYABLE_STATUSES
    return isinstance(error, OSError)


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds a response asks the client to wait, or None if it does not say.

    Reads ``retry-after-ms`` (OpenAI, Azure) first, then ``Retry-After`` as delta-seconds
    or an HTTP date. Header names are matched case-insensitively; junk is ignored.
    """
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    millis = _number(lowered.get("retry-after-ms"))
    if millis is not None and millis >= 0:
        return millis / 1000.0
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    seconds = _number(raw)
    if seconds is not None:
        return seconds if seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text.strip())
    except ValueError:
        return None


Exhausted = Callable[[BaseException, int], BaseException]
"""Builds the error raised when retries run out from (last error, attempts made)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry. Immutable; share freely.

    ``retry_if`` decides which failures are retried (default :func:`is_retryable`); a
    caller with a narrower notion of "safe to run again" passes its own.
    """

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    initial_backoff_seconds: float = DEFAULT_INITIAL_BACKOFF_SECONDS
    max_backoff_seconds: float = DEFAULT_MAX_BACKOFF_SECONDS
    multiplier: float = DEFAULT_BACKOFF_MULTIPLIER
    deadline_seconds: float | None = None
    """Give up rather than start a wait that would end past this long after the start."""
    max_retry_after_seconds: float = DEFAULT_MAX_RETRY_AFTER_SECONDS
    jitter: bool = True
    log_level: int = logging.WARNING
    """Level of the one log line per retry (what failed, how long until the next try)."""
    retry_if: Callable[[BaseException], bool] = field(
        default=is_retryable, repr=False, compare=False
    )
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)
    random: Callable[[], float] = field(default=_random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.initial_backoff_seconds < 0 or self.max_backoff_seconds < 0:
            raise ValueError("backoff seconds must not be negative")
        if self.multiplier < 1:
            raise ValueError("multiplier must be at least 1")
        if self.deadline_seconds is not None and self.deadline_seconds <= 0:
            raise ValueError("deadline_seconds must be positive")

    def backoff_ceiling(self, failures: int) -> float:
        """The longest backoff after the ``failures``-th failure (before jitter)."""
        exponent = min(max(0, failures - 1), _MAX_EXPONENT)
        return min(
            self.max_backoff_seconds, self.initial_backoff_seconds * self.multiplier**exponent
        )

    def backoff_seconds(self, failures: int) -> float:
        """The pause after the ``failures``-th failure when the server named none."""
        ceiling = self.backoff_ceiling(failures)
        return ceiling * self.random() if self.jitter else ceiling

    def wait_seconds(self, failures: int, error: BaseException | None) -> float:
        """The pause before the next attempt, honouring a server's Retry-After."""
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, int | float) and retry_after >= 0:
            base = min(float(retry_after), self.max_retry_after_seconds)
            extra = base * RETRY_AFTER_JITTER_FRACTION * self.random() if self.jitter else 0.0
            return base + extra
        return self.backoff_seconds(failures)

    def call(
        self, fn: Callable[[], T], *, what: str = "call", exhausted: Exhausted | None = None
    ) -> T:
        """Run ``fn`` until it returns, fails for good, or the attempts or deadline run out.

        A failure ``retry_if`` rejects is raised at once. When retries run out, the last
        failure is raised, or ``exhausted(last, attempts)`` with the last as its cause.
        """
        from tenacity import RetryError, Retrying, retry_if_exception

        started = self.clock()

        def stop(state: RetryCallState) -> bool:
            if state.attempt_number >= self.max_attempts:
                return True
            if self.deadline_seconds is None:
                return False
            return self.clock() - started + state.upcoming_sleep > self.deadline_seconds

        retrying = Retrying(
            stop=stop,
            wait=self._tenacity_wait,
            retry=retry_if_exception(self.retry_if),
            sleep=self.sleep,
            before_sleep=lambda state: _log_retry(what, state, self.log_level),
            reraise=False,
        )
        try:
            return retrying(fn)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            if last is None:  # pragma: no cover - only failed attempts are retried
                raise
            if exhausted is None:
                raise last from last.__cause__
            raise exhausted(last, exc.last_attempt.attempt_number) from last

    def _tenacity_wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        return self.wait_seconds(state.attempt_number, error)


def _log_retry(what: str, state: RetryCallState, level: int) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    wait = state.next_action.sleep if state.next_action is not None else 0.0
    logger.log(
        level,
        "%s: attempt %d failed (%s); retrying in %.2fs",
        what,
        state.attempt_number,
        error,
        wait,
    )
