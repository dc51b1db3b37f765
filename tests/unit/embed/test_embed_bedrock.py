"""Amazon Bedrock embeddings with a stubbed boto3 client (botocore's Stubber): no network."""

from __future__ import annotations

import contextlib
import io
import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from slabdb.embed import EmbeddingRejectedError, EmbeddingUnavailableError, get_embedder
from slabdb.embed.bedrock import BedrockEmbedder
from slabdb.embed.retry import RetryPolicy


@pytest.fixture
def client() -> Any:
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def stub(client: Any) -> Iterator[Stubber]:
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def body(payload: dict[str, Any]) -> dict[str, Any]:
    raw = json.dumps(payload).encode()
    return {"body": StreamingBody(io.BytesIO(raw), len(raw)), "contentType": "application/json"}


def titan_request(text: str, dimension: int = 1024) -> dict[str, Any]:
    payload = {"inputText": text, "dimensions": dimension, "normalize": True}
    return {
        "modelId": "amazon.titan-embed-text-v2:0",
        "body": json.dumps(payload).encode(),
        "contentType": "application/json",
        "accept": "application/json",
    }


def test_titan_v2_one_call_per_text(client: Any, stub: Stubber) -> None:
    for i, text in enumerate(["alpha", "beta"]):
        vector = [0.0] * 256
        vector[i] = 1.0
        stub.add_response(
            "invoke_model",
            body({"embedding": vector, "inputTextTokenCount": 1}),
            titan_request(text, 256),
        )
    embedder = get_embedder("bedrock", client=client, dimension=256, max_workers=1)
    assert isinstance(embedder, BedrockEmbedder)
    vectors = embedder.embed_documents(["alpha", "beta"])
    assert vectors.shape == (2, 256) and vectors.dtype == np.float32
    assert vectors[0, 0] == 1.0 and vectors[1, 1] == 1.0
    assert embedder.describe() == {
        "name": "bedrock",
        "model": "amazon.titan-embed-text-v2:0",
        "dimension": 256,
        "normalized": True,
    }


def test_throttling_is_retried(client: Any, stub: Stubber) -> None:
    pauses: list[float] = []
    stub.add_client_error(
        "invoke_model",
        "ThrottlingException",
        "Too many requests",
        429,
        response_meta={"HTTPHeaders": {"retry-after": "3"}},
    )
    stub.add_client_error("invoke_model", "ServiceUnavailableException", "busy", 503)
    stub.add_response("invoke_model", body({"embedding": [0.6, 0.8] + [0.0] * 1022}), None)
    embedder = BedrockEmbedder(client=client, retry=RetryPolicy(sleep=pauses.append, jitter=False))
    vector = embedder.embed_query("hello")
    assert vector[:2].tolist() == pytest.approx([0.6, 0.8])
    assert pauses == [3.0, 1.0]  # Retry-After honoured, then exponential backoff


def test_throttling_until_attempts_run_out(client: Any, stub: Stubber) -> None:
    for _ in range(3):
        stub.add_client_error("invoke_model", "ThrottlingException", "slow down", 429)
    embedder = BedrockEmbedder(
        client=client, retry=RetryPolicy(max_attempts=3, sleep=lambda s: None)
    )
    with pytest.raises(EmbeddingUnavailableError, match="ThrottlingException"):
        embedder.embed_query("hello")


def test_validation_error_is_permanent(client: Any, stub: Stubber) -> None:
    pauses: list[float] = []
    stub.add_client_error("invoke_model", "ValidationException", "Malformed input request", 400)
    embedder = BedrockEmbedder(client=client, retry=RetryPolicy(sleep=pauses.append))
    with pytest.raises(EmbeddingRejectedError, match="Malformed input request"):
        embedder.embed_query("hello")
    assert pauses == []


def test_cohere_batches_with_input_type(client: Any, stub: Stubber) -> None:
    def request(texts: list[str], input_type: str) -> dict[str, Any]:
        payload = {"texts": texts, "input_type": input_type, "truncate": "END"}
        return {
            "modelId": "cohere.embed-english-v3",
            "body": json.dumps(payload).encode(),
            "contentType": "application/json",
            "accept": "application/json",
        }

    rows = np.eye(3, 1024).tolist()
    stub.add_response(
        "invoke_model", body({"embeddings": rows[:2]}), request(["a", "b"], "search_document")
    )
    stub.add_response(
        "invoke_model", body({"embeddings": rows[2:]}), request(["c"], "search_document")
    )
    stub.add_response(
        "invoke_model", body({"embeddings": {"float": rows[:1]}}), request(["q"], "search_query")
    )
    embedder = BedrockEmbedder(model="cohere.embed-english-v3", client=client, batch_size=2)
    documents = embedder.embed_documents(["a", "b", "c"])
    np.testing.assert_array_equal(documents, np.eye(3, 1024, dtype=np.float32))
    assert embedder.embed_query("q").shape == (1024,)


class ConcurrentFakeClient:
    """Answers Titan calls with a vector that encodes the text; records concurrency."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.barrier = threading.Barrier(4, timeout=5)

    def invoke_model(self, **kwargs: Any) -> dict[str, Any]:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        with contextlib.suppress(threading.BrokenBarrierError):
            self.barrier.wait()  # all four workers must be in flight at once
        text = json.loads(kwargs["body"])["inputText"]
        with self.lock:
            self.active -= 1
        return body({"embedding": [float(len(text)), 1.0] + [0.0] * 1022})


def test_titan_batch_fans_out_in_order() -> None:
    fake = ConcurrentFakeClient()
    texts = ["a" * n for n in range(1, 9)]
    with BedrockEmbedder(client=fake, max_workers=4, normalize=False) as embedder:
        vectors = embedder.embed_documents(texts)
    assert vectors[:, 0].tolist() == [float(n) for n in range(1, 9)]
    assert fake.peak == 4


def test_model_families_and_dimensions() -> None:
    assert BedrockEmbedder(model="amazon.titan-embed-text-v1", client=object()).dimension == 1536
    assert BedrockEmbedder(model="us.cohere.embed-v4:0", client=object()).dimension == 1536
    with pytest.raises(ValueError):
        BedrockEmbedder(model="amazon.titan-embed-text-v2:0", dimension=300, client=object())
    with pytest.raises(ValueError):
        BedrockEmbedder(model="meta.llama3-8b-instruct-v1:0", client=object())


def test_real_client_is_built_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    embedder = BedrockEmbedder(region_name="eu-west-1")
    client = embedder._client
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.config.retries["total_max_attempts"] == 1
