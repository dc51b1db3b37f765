"""The outbox's retry decisions and the remote target's error mapping: both follow the
shared policy of slabdb.core.retry (one predicate, one backoff formula)."""

from __future__ import annotations

import pytest
from pinecone.errors import ApiError, PineconeConnectionError, PineconeTimeoutError

from slabdb.core.errors import (
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    SlabDBError,
    StorageError,
)
from slabdb.core.retry import RetryPolicy
from slabdb.embed.base import EmbeddingRejectedError, EmbeddingUnavailableError
from slabdb.sync.remote import remote_error
from slabdb.sync.retry import REASON_MAX_CHARS, OutboxRetryPolicy

URL = "http://127.0.0.1:5080"


def test_retryable_failures_back_off_then_give_up_at_max_attempts() -> None:
    policy = OutboxRetryPolicy(max_attempts=3, initial_backoff_seconds=1, random=lambda: 1.0)
    transient = EmbeddingUnavailableError("503")
    first, second, third = (policy.decide(transient, n) for n in (1, 2, 3))
    assert (first.give_up, first.delay_seconds) == (False, 1)
    assert (second.give_up, second.delay_seconds) == (False, 2)
    assert third.give_up and third.delay_seconds == 0.0
    assert first.reason == "EmbeddingUnavailableError: 503"


def test_the_delay_is_the_shared_formula() -> None:
    draws = iter([0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    policy = OutboxRetryPolicy(
        max_attempts=9,
        initial_backoff_seconds=2,
        max_backoff_seconds=10,
        random=lambda: next(draws),
    )
    shared = RetryPolicy(initial_backoff_seconds=2, max_backoff_seconds=10, random=lambda: 0.5)
    for attempts in (1, 2, 3, 4):
        assert policy.decide(StorageError("x"), attempts).delay_seconds == shared.backoff_seconds(
            attempts
        )
    assert [shared.backoff_ceiling(n) for n in (1, 2, 3, 4)] == [2, 4, 8, 10]


@pytest.mark.parametrize(
    "error",
    [
        EmbeddingUnavailableError("503"),
        StorageError("store down"),
        ConflictError("lost a race"),
        OSError("disk"),
        ConnectionResetError("reset"),
    ],
)
def test_retryable_failures_wait(error: BaseException) -> None:
    decision = OutboxRetryPolicy(random=lambda: 1.0).decide(error, 1)
    assert not decision.give_up and decision.delay_seconds == 1.0


@pytest.mark.parametrize(
    "error",
    [
        EmbeddingRejectedError("bad input"),
        InvalidArgumentError("too long"),
        NotFoundError("no index"),
        KeyError("missing column"),
        ValueError("bad template"),
        TypeError("bug"),
    ],
)
def test_permanent_failures_go_to_the_errors_table_at_once(error: BaseException) -> None:
    assert OutboxRetryPolicy().decide(error, 1).give_up


def test_reason_is_bounded() -> None:
    decision = OutboxRetryPolicy().decide(ValueError("x" * 10_000), 1)
    assert len(decision.reason) == REASON_MAX_CHARS


def test_bad_settings_are_refused_by_the_shared_policy() -> None:
    with pytest.raises(ValueError):
        OutboxRetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        OutboxRetryPolicy(multiplier=0.5)


# --- remote target -----------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_remote_retryable_statuses_become_storage_errors(status: int) -> None:
    error = remote_error(URL, ApiError("busy", status))
    assert type(error) is StorageError and error.retryable
    assert OutboxRetryPolicy().decide(error, 1).give_up is False


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 422])
def test_remote_other_4xx_become_invalid_argument(status: int) -> None:
    error = remote_error(URL, ApiError("no", status))
    assert isinstance(error, InvalidArgumentError) and not error.retryable
    assert OutboxRetryPolicy().decide(error, 1).give_up


def test_remote_other_5xx_are_permanent_failures() -> None:
    error = remote_error(URL, ApiError("not implemented", 501))
    assert type(error) is SlabDBError and not error.retryable


def test_remote_transport_failures_are_retryable() -> None:
    for failure in (
        PineconeConnectionError("refused"),
        PineconeTimeoutError("slow"),
        ConnectionRefusedError("refused"),
    ):
        error = remote_error(URL, failure)
        assert type(error) is StorageError and error.retryable, failure


def test_remote_argument_refused_before_sending_is_permanent() -> None:
    assert isinstance(remote_error(URL, ValueError("bad id")), InvalidArgumentError)
