"""OpenAI-compatible embeddings against a fake HTTP server on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from slabdb.embed import (
    EmbeddingError,
    EmbeddingRejectedError,
    EmbeddingUnavailableError,
    get_embedder,
)
from slabdb.embed.openai import OpenAIEmbedder
from slabdb.embed.retry import RetryPolicy


def make(server: Any, retry: RetryPolicy, **options: Any) -> OpenAIEmbedder:
    settings = {
        "base_url": server.base_url,
        "model": "test-embed",
        "api_key": "sk-test",
        "dimension": 4,
        "normalize": False,
        "retry": retry,
        **options,
    }
    embedder = get_embedder("openai", **settings)
    assert isinstance(embedder, OpenAIEmbedder)
    return embedder


def test_batches_and_keeps_order(fake_server, fast_retry) -> None:
    texts = [f"text number {'x' * i}" for i in range(7)]
    with make(fake_server, fast_retry, batch_size=3) as embedder:
        vectors = embedder.embed_documents(texts)
    assert [len(r.body["input"]) for r in fake_server.requests] == [3, 3, 1]
    assert [t for r in fake_server.requests for t in r.body["input"]] == texts
    # The fake server encodes len(text) in column 0, answered in reverse order.
    assert vectors.shape == (7, 4) and vectors.dtype == np.float32
    assert vectors[:, 0].tolist() == [float(len(t)) for t in texts]
    first = fake_server.requests[0]
    assert first.path == "/v1/embeddings"
    assert first.headers["Authorization"] == "Bearer sk-test"
    assert first.body["model"] == "test-embed"
    assert first.body["encoding_format"] == "float"
    assert "dimensions" not in first.body


def test_retries_429_and_503_honouring_retry_after(fake_server, sleeps, fast_retry) -> None:
    reply = fake_server.Reply
    fake_server.queue(
        reply(429, {"error": {"message": "slow down"}}, {"Retry-After": "7"}),
        reply(503, {"error": {"message": "overloaded"}}, {"retry-after-ms": "1500"}),
    )
    with make(fake_server, fast_retry) as embedder:
        vectors = embedder.embed_documents(["hello", "world"])
    assert vectors[:, 0].tolist() == [5.0, 5.0]
    assert len(fake_server.requests) == 3
    # Waited what the server asked for (plus at most 10 % jitter), not the short backoff.
    assert 7.0 <= sleeps.pauses[0] <= 7.7
    assert 1.5 <= sleeps.pauses[1] <= 1.65


def test_retry_after_is_really_waited(fake_server) -> None:
    fake_server.queue(fake_server.Reply(429, {"error": "busy"}, {"Retry-After": "1"}))
    with make(fake_server, RetryPolicy(max_attempts=2, jitter=False)) as embedder:
        embedder.embed_query("hello")
    first, second = fake_server.requests
    assert second.at - first.at >= 0.95


def test_transient_errors_without_retry_after_back_off_exponentially(fake_server, sleeps) -> None:
    reply = fake_server.Reply
    fake_server.queue(*(reply(500, {"error": "boom"}) for _ in range(3)))
    policy = RetryPolicy(max_attempts=4, initial_backoff_seconds=0.5, jitter=False, sleep=sleeps)
    with make(fake_server, policy) as embedder:
        embedder.embed_query("hi")
    assert sleeps.pauses == [0.5, 1.0, 2.0]


def test_gives_up_after_max_attempts(fake_server, fast_retry) -> None:
    fake_server.queue(*(fake_server.Reply(503, {"error": "down"}) for _ in range(10)))
    with (
        make(fake_server, fast_retry) as embedder,
        pytest.raises(EmbeddingUnavailableError) as info,
    ):
        embedder.embed_query("hi")
    assert len(fake_server.requests) == 4
    assert info.value.retryable and info.value.upstream_status == 503
    assert info.value.http_status == 503


def test_400_is_permanent_and_not_retried(fake_server, sleeps, fast_retry) -> None:
    fake_server.queue(
        fake_server.Reply(400, {"error": {"message": "input is too long", "type": "invalid"}})
    )
    with make(fake_server, fast_retry) as embedder, pytest.raises(EmbeddingRejectedError) as info:
        embedder.embed_documents(["a"])
    assert "input is too long" in str(info.value)
    assert info.value.upstream_status == 400 and not info.value.retryable
    assert len(fake_server.requests) == 1 and sleeps.pauses == []


def test_401_is_permanent(fake_server, fast_retry) -> None:
    fake_server.queue(fake_server.Reply(401, {"error": {"message": "bad key"}}))
    with make(fake_server, fast_retry) as embedder, pytest.raises(EmbeddingRejectedError):
        embedder.embed_query("a")


def test_connection_refused_is_retried_then_unavailable(sleeps) -> None:
    embedder = OpenAIEmbedder(
        base_url="http://127.0.0.1:9/v1",  # discard port: nothing listens
        dimension=4,
        retry=RetryPolicy(max_attempts=3, sleep=sleeps),
        timeout_seconds=2,
    )
    with embedder, pytest.raises(EmbeddingUnavailableError):
        embedder.embed_query("a")
    assert len(sleeps.pauses) == 2


def test_malformed_answer_is_an_error(fake_server, fast_retry) -> None:
    fake_server.queue(fake_server.Reply(200, {"data": [{"index": 0, "embedding": [1.0]}]}))
    with make(fake_server, fast_retry) as embedder, pytest.raises(EmbeddingError):
        embedder.embed_documents(["a", "b"])


def test_wrong_dimension_is_an_error(fake_server, fast_retry) -> None:
    with (
        make(fake_server, fast_retry, dimension=8) as embedder,
        pytest.raises(EmbeddingError, match="shape"),
    ):
        embedder.embed_query("a")


def test_unknown_dimension_is_learned_from_the_first_answer(fake_server, fast_retry) -> None:
    embedder = OpenAIEmbedder(base_url=fake_server.base_url, model="local-model", retry=fast_retry)
    with embedder:
        assert embedder.embed_documents(["abc"]).shape == (1, 4)
        assert embedder.dimension == 4
        assert len(fake_server.requests) == 1
        np.testing.assert_allclose(np.linalg.norm(embedder.embed_query("a")), 1.0, rtol=1e-6)
    assert "Authorization" not in fake_server.requests[0].headers


def test_reduced_dimension_and_long_input(fake_server, fast_retry) -> None:
    def answer(body):
        data = [
            {"index": i, "embedding": [0.5] * body["dimensions"]} for i in range(len(body["input"]))
        ]
        return fake_server.Reply(200, {"data": data})

    fake_server.queue(answer)
    embedder = OpenAIEmbedder(
        base_url=fake_server.base_url,
        model="text-embedding-3-small",
        dimension=256,
        max_input_chars=100,
        retry=fast_retry,
        query_prefix="query: ",
    )
    with embedder:
        vector = embedder.embed_query("y" * 10_000)
    assert vector.shape == (256,)
    body = fake_server.requests[0].body
    assert body["dimensions"] == 256
    assert body["input"] == ["query: " + "y" * 93]


def test_known_models_know_their_dimension() -> None:
    with OpenAIEmbedder(model="text-embedding-3-large") as embedder:
        assert embedder.dimension == 3072
