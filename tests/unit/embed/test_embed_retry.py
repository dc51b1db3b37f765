"""The embedders' retry policy: the shared one, ending in EmbeddingUnavailableError.

Backoff, jitter, deadline, Retry-After and the predicate are tested once, in
tests/unit/core/test_core_retry.py; here only what embedders add.
"""

from __future__ import annotations

import pytest

from slabdb.core import retry as core_retry
from slabdb.embed import EmbeddingRejectedError, EmbeddingUnavailableError
from slabdb.embed.retry import RETRYABLE_HTTP_STATUSES, RetryPolicy, TransientError


def test_is_the_shared_policy_and_status_list() -> None:
    assert issubclass(RetryPolicy, core_retry.RetryPolicy)
    assert RETRYABLE_HTTP_STATUSES is core_retry.RETRYABLE_STATUSES
    assert TransientError is core_retry.TransientError


def test_succeeds_after_transient_failures_with_the_shared_backoff() -> None:
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


def test_exhaustion_raises_unavailable_with_cause_and_status() -> None:
    calls = []

    def always() -> None:
        calls.append(1)
        raise TransientError("still down", status=503)

    with pytest.raises(EmbeddingUnavailableError, match="probe failed after 3 attempt") as info:
        RetryPolicy(max_attempts=3, sleep=lambda s: None).call(always, what="probe")
    assert len(calls) == 3
    assert isinstance(info.value.__cause__, TransientError)
    assert info.value.upstream_status == 503 and info.value.retryable


def test_deadline_exhaustion_is_unavailable_too() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    def always() -> None:
        raise TransientError("down", retry_after=5)

    policy = RetryPolicy(
        max_attempts=10, deadline_seconds=12, jitter=False, sleep=sleep, clock=lambda: now[0]
    )
    with pytest.raises(EmbeddingUnavailableError, match="after 3 attempt"):
        policy.call(always)
    assert now[0] == 10.0
