"""SlabDB's one retry policy: backoff, jitter, deadline, Retry-After, and the predicate.

Time is faked: ``FakeTime.sleep`` advances ``FakeTime.clock`` instead of waiting.
"""

from __future__ import annotations

import inspect
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from pinecone.errors import ApiError

from slabdb.core import errors
from slabdb.core.retry import (
    RETRYABLE_STATUSES,
    RetryPolicy,
    TransientError,
    is_retryable,
    parse_retry_after,
    transport_status,
)
from slabdb.embed import base as embed_errors


@dataclass
class FakeTime:
    now: float = 1000.0
    pauses: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def failing(error: BaseException, calls: list[int] | None = None) -> object:
    def attempt() -> None:
        if calls is not None:
            calls.append(1)
        raise error

    return attempt


# --- backoff -----------------------------------------------------------------------------


def test_backoff_ceiling_doubles_then_is_capped() -> None:
    policy = RetryPolicy(initial_backoff_seconds=0.5, max_backoff_seconds=4.0, jitter=False)
    assert [policy.backoff_seconds(n) for n in range(1, 8)] == [0.5, 1, 2, 4, 4, 4, 4]
    assert policy.backoff_seconds(10_000) == 4.0  # no overflow for absurd counts
    tripling = RetryPolicy(initial_backoff_seconds=1, multiplier=3, max_backoff_seconds=100)
    assert [tripling.backoff_ceiling(n) for n in range(1, 6)] == [1, 3, 9, 27, 81]


def test_full_jitter_scales_the_ceiling_by_the_random_draw() -> None:
    policy = RetryPolicy(initial_backoff_seconds=0.5, max_backoff_seconds=4.0, random=lambda: 0.25)
    assert [policy.backoff_seconds(n) for n in (1, 2, 3, 4, 5)] == [0.125, 0.25, 0.5, 1.0, 1.0]


def test_full_jitter_covers_zero_to_the_ceiling() -> None:
    rng = random.Random(7)
    policy = RetryPolicy(initial_backoff_seconds=1.0, max_backoff_seconds=16.0, random=rng.random)
    for failures in range(1, 8):
        ceiling = policy.backoff_ceiling(failures)
        draws = [policy.backoff_seconds(failures) for _ in range(400)]
        assert all(0.0 <= d <= ceiling for d in draws)
        # Full jitter spreads over the whole range (not ceiling/2 + jitter, not fixed).
        assert min(draws) < 0.1 * ceiling and max(draws) > 0.9 * ceiling


def test_retry_after_wins_is_capped_and_jittered_by_at_most_ten_percent() -> None:
    policy = RetryPolicy(max_retry_after_seconds=10.0, jitter=False)
    assert policy.wait_seconds(1, TransientError("x", retry_after=3)) == 3.0
    assert policy.wait_seconds(1, TransientError("x", retry_after=600)) == 10.0
    assert policy.wait_seconds(1, TransientError("x")) == 0.5  # none named: backoff
    top = RetryPolicy(random=lambda: 1.0)
    assert top.wait_seconds(1, TransientError("x", retry_after=10)) == pytest.approx(11.0)
    bottom = RetryPolicy(random=lambda: 0.0)
    assert bottom.wait_seconds(1, TransientError("x", retry_after=10)) == 10.0


def test_rejects_bad_settings() -> None:
    for bad in (
        {"max_attempts": 0},
        {"multiplier": 0.5},
        {"initial_backoff_seconds": -1},
        {"max_backoff_seconds": -1},
        {"deadline_seconds": 0},
    ):
        with pytest.raises(ValueError):
            RetryPolicy(**bad)  # type: ignore[arg-type]


# --- call --------------------------------------------------------------------------------


def test_call_retries_transient_failures_with_growing_waits() -> None:
    time = FakeTime()
    outcomes: list[object] = [TransientError("a"), OSError("reset"), TransientError("c"), "ok"]

    def flaky() -> object:
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    policy = RetryPolicy(jitter=False, sleep=time.sleep, clock=time.clock)
    assert policy.call(flaky) == "ok"
    assert time.pauses == [0.5, 1.0, 2.0]


def test_call_raises_a_permanent_error_at_once() -> None:
    time, calls = FakeTime(), []
    with pytest.raises(errors.InvalidArgumentError):
        RetryPolicy(sleep=time.sleep).call(failing(errors.InvalidArgumentError("no"), calls))
    assert calls == [1] and time.pauses == []


def test_call_gives_up_after_max_attempts_with_the_last_error() -> None:
    time, calls = FakeTime(), []
    last = errors.StorageError("still down")
    with pytest.raises(errors.StorageError) as info:
        RetryPolicy(max_attempts=4, sleep=time.sleep).call(failing(last, calls))
    assert info.value is last
    assert len(calls) == 4 and len(time.pauses) == 3


def test_call_builds_the_exhausted_error_from_the_last_failure() -> None:
    seen: list[tuple[BaseException, int]] = []

    def exhausted(last: BaseException, attempts: int) -> BaseException:
        seen.append((last, attempts))
        return RuntimeError(f"gave up after {attempts}")

    last = TransientError("down")
    with pytest.raises(RuntimeError, match="gave up after 3") as info:
        RetryPolicy(max_attempts=3, sleep=FakeTime().sleep).call(failing(last), exhausted=exhausted)
    assert seen == [(last, 3)] and info.value.__cause__ is last


def test_deadline_stops_before_a_wait_that_would_end_past_it() -> None:
    time, calls = FakeTime(), []
    policy = RetryPolicy(
        max_attempts=10, deadline_seconds=12, jitter=False, sleep=time.sleep, clock=time.clock
    )
    with pytest.raises(TransientError):
        policy.call(failing(TransientError("down", retry_after=5), calls))
    assert time.pauses == [5.0, 5.0]  # a third 5 s wait would end at 15 s > 12 s
    assert len(calls) == 3


def test_deadline_counts_the_time_attempts_take() -> None:
    time, calls = FakeTime(), []

    def slow() -> None:
        calls.append(1)
        time.now += 10.0
        raise TransientError("slow and down", retry_after=1)

    policy = RetryPolicy(
        max_attempts=10, deadline_seconds=15, jitter=False, sleep=time.sleep, clock=time.clock
    )
    with pytest.raises(TransientError):
        policy.call(slow)
    assert len(calls) == 2 and time.pauses == [1.0]


def test_deadline_bounds_total_waiting_under_backoff() -> None:
    time = FakeTime()
    policy = RetryPolicy(
        max_attempts=100,
        initial_backoff_seconds=1,
        max_backoff_seconds=8,
        deadline_seconds=30,
        sleep=time.sleep,
        clock=time.clock,
        random=random.Random(3).random,
    )
    with pytest.raises(OSError):
        policy.call(failing(OSError("down")))
    assert sum(time.pauses) <= 30.0 and len(time.pauses) >= 3


def test_custom_predicate_replaces_the_shared_one() -> None:
    calls: list[int] = []
    only_lookups = RetryPolicy(
        max_attempts=3, sleep=FakeTime().sleep, retry_if=lambda e: isinstance(e, LookupError)
    )
    with pytest.raises(errors.StorageError):  # retryable by default, not by this policy
        only_lookups.call(failing(errors.StorageError("x"), calls))
    assert calls == [1]
    with pytest.raises(KeyError):
        only_lookups.call(failing(KeyError("k"), calls))
    assert len(calls) == 1 + 3


# --- the predicate -----------------------------------------------------------------------

RETRYABLE_ERRORS: dict[type[errors.SlabDBError], bool] = {
    errors.SlabDBError: False,
    errors.InvalidArgumentError: False,
    errors.DimensionMismatchError: False,
    errors.LimitExceededError: False,
    errors.InvalidFilterError: False,
    errors.InvalidMetadataError: False,
    errors.PayloadTooLargeError: False,
    errors.UnauthenticatedError: False,
    errors.PermissionDeniedError: False,
    errors.NotFoundError: False,
    errors.IndexNotFoundError: False,
    errors.NamespaceNotFoundError: False,
    errors.ObjectNotFoundError: False,
    errors.AlreadyExistsError: False,
    errors.ObjectExistsError: False,
    errors.ConflictError: True,
    errors.PreconditionFailedError: True,
    errors.StaleNamespaceError: True,
    errors.CorruptionError: False,
    errors.StorageError: True,
    errors.WriteOutcomeUnknownError: True,  # same ids, same values: a retry is safe
    errors.LsnNotReachedError: True,  # the log may reach it on the next try
    errors.ClosedError: False,
    embed_errors.EmbeddingError: False,
    embed_errors.EmbeddingUnavailableError: True,
    embed_errors.EmbeddingRejectedError: False,
    embed_errors.ModelUnavailableError: False,
    embed_errors.UnknownEmbedderError: False,
}


@pytest.mark.parametrize(("kind", "expected"), RETRYABLE_ERRORS.items(), ids=lambda k: str(k))
def test_each_error_of_the_tree_says_whether_it_is_retryable(
    kind: type[errors.SlabDBError], expected: bool
) -> None:
    assert is_retryable(kind("x")) is expected


def test_every_error_of_the_tree_has_a_decision_here() -> None:
    # A new error class must be added above, with a deliberate retryable answer.
    for module in (errors, embed_errors):
        for _, kind in inspect.getmembers(module, inspect.isclass):
            if issubclass(kind, errors.SlabDBError):
                assert kind in RETRYABLE_ERRORS, kind


class HttpFailure(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


def test_the_one_status_list() -> None:
    assert frozenset({408, 429, 500, 502, 503, 504}) == RETRYABLE_STATUSES


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses(status: int) -> None:
    assert is_retryable(HttpFailure(status))
    assert is_retryable(ApiError("pinecone said so", status))  # the SDK's real error class


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 409, 413, 422, 501, 505])
def test_permanent_statuses(status: int) -> None:
    assert not is_retryable(HttpFailure(status))
    assert not is_retryable(ApiError("pinecone said so", status))


def test_status_is_read_from_status_code_or_status() -> None:
    plain = Exception("x")
    plain.status = 503  # type: ignore[attr-defined]
    assert transport_status(plain) == 503 and is_retryable(plain)
    assert transport_status(HttpFailure(429)) == 429
    assert transport_status(ValueError("x")) is None


def test_transient_errors_are_retryable_whatever_their_status() -> None:
    assert is_retryable(TransientError("throttled"))
    assert is_retryable(TransientError("throttling code on a 400", status=400))


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (OSError("disk"), True),
        (ConnectionRefusedError("refused"), True),
        (ConnectionResetError("reset"), True),
        (TimeoutError("slow"), True),
        (TypeError("bug"), False),
        (ValueError("bad"), False),
        (KeyError("column"), False),
        (RuntimeError("?"), False),
    ],
)
def test_builtin_errors(error: BaseException, expected: bool) -> None:
    assert is_retryable(error) is expected


# --- Retry-After -------------------------------------------------------------------------


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after({"Retry-After": "5"}) == 5.0
    assert parse_retry_after({"retry-after": " 2.5 "}) == 2.5
    assert parse_retry_after({"Retry-After-Ms": "250", "Retry-After": "9"}) == 0.25
    assert parse_retry_after({"retry-after-ms": "junk", "Retry-After": "9"}) == 9.0
    date = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"Retry-After": date}, now=now) == pytest.approx(30.0)
    past = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"Retry-After": past}, now=now) == 0.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({"Retry-After": "-3"}) is None
    assert parse_retry_after({}) is None
