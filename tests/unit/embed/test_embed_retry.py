"""The shared retry policy: backoff, jitter, Retry-After, permanent errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from slabdb.embed import EmbeddingRejectedError, EmbeddingUnavailableError
from slabdb.embed.retry import RetryPolicy, TransientError, parse_retry_after


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after({"Retry-After": "5"}) == 5.0
    assert parse_retry_after({"retry-after": " 2.5 "}) == 2.5
    assert parse_retry_after({"Retry-After-Ms": "250", "Retry-After": "9"}) == 0.25
    date = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"Retry-After": date}, now=now) == pytest.approx(30.0)
    past = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"Retry-After": past}, now=now) == 0.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({"Retry-After": "-3"}) is None
    assert parse_retry_after({}) is None


def test_full_jitter_backoff_is_bounded_and_capped() -> None:
    policy = RetryPolicy(initial_backoff_seconds=0.5, max_backoff_seconds=4.0, random=lambda: 1.0)
    assert [policy.backoff_seconds(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    low = RetryPolicy(random=lambda: 0.25)
    assert low.backoff_seconds(2) == pytest.approx(0.25)


def test_retry_after_wins_and_is_capped() -> None:
    policy = RetryPolicy(max_retry_after_seconds=10.0, jitter=False)
    assert policy.wait_seconds(1, TransientError("x", retry_after=3)) == 3.0
    assert policy.wait_seconds(1, TransientError("x", retry_after=600)) == 10.0
    jittered = RetryPolicy(random=lambda: 1.0)
    assert jittered.wait_seconds(1, TransientError("x", retry_after=10)) == pytest.approx(11.0)


def test_succeeds_after_transient_failures() -> None:
    pauses: list[float] = []
    attempts = iter([TransientError("a"), TransientError("b"), "ok"])

    def flaky() -> str:
        outcome = next(attempts)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    policy = RetryPolicy(jitter=False, sleep=pauses.append)
    assert policy.call(flaky) == "ok"
    assert pauses == [0.5, 1.0]


def test_permanent_error_passes_through_at_once() -> None:
    calls = []

    def refuse() -> None:
        calls.append(1)
        raise EmbeddingRejectedError("no")

    with pytest.raises(EmbeddingRejectedError):
        RetryPolicy(sleep=lambda s: None).call(refuse)
    assert calls == [1]


def test_exhaustion_raises_unavailable_with_cause() -> None:
    def always() -> None:
        raise TransientError("still down", status=503)

    with pytest.raises(EmbeddingUnavailableError, match="after 3 attempt") as info:
        RetryPolicy(max_attempts=3, sleep=lambda s: None).call(always, what="probe")
    assert isinstance(info.value.__cause__, TransientError)
    assert info.value.upstream_status == 503


def test_deadline_stops_before_a_wait_that_would_pass_it() -> None:
    pauses: list[float] = []

    def always() -> None:
        raise TransientError("down", retry_after=5)

    policy = RetryPolicy(max_attempts=10, deadline_seconds=12, jitter=False, sleep=pauses.append)
    with pytest.raises(EmbeddingUnavailableError):
        policy.call(always)
    # The recorder does not really sleep, so elapsed time stays ~0: every 5 s wait fits
    # the deadline as tenacity measures it, but a 30 s one would not.
    assert pauses and all(p == 5.0 for p in pauses)
    with pytest.raises(EmbeddingUnavailableError):
        RetryPolicy(deadline_seconds=12, sleep=pauses.append).call(
            lambda: (_ for _ in ()).throw(TransientError("x", retry_after=30))
        )
    assert pauses.count(30.0) == 0


def test_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(multiplier=0.5)
