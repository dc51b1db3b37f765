"""Amazon Bedrock embeddings over boto3's ``bedrock-runtime`` ``InvokeModel``.

Two model families, picked by the model id's prefix:

* ``amazon.titan-embed-text-v2:0`` (default; 256/512/1024-d, default 1024) and
  ``amazon.titan-embed-text-v1`` (1536-d): one text per call,
  body ``{"inputText", "dimensions", "normalize"}`` (v2) or ``{"inputText"}`` (v1),
  answer ``{"embedding": [...]}``. A batch fans out over ``max_workers`` threads
  (boto3 clients are thread-safe); rows keep input order.
* ``cohere.embed-*`` (v3: 1024-d; v4: 1536-d): up to 96 texts per call,
  body ``{"texts", "input_type": "search_document" | "search_query", "truncate": "END"}``,
  answer ``{"embeddings": [[...]]}`` or ``{"embeddings": {"float": [[...]]}}``.

boto3's own retries are turned off for clients this module creates (one attempt each);
throttling, 5xx, timeouts and dropped connections are retried under the shared
:class:`~slabdb.embed.retry.RetryPolicy` instead, and a ``Retry-After`` response header
is honoured if present. ``ValidationException``, ``AccessDeniedException`` and other
client errors raise :class:`EmbeddingRejectedError` at once. Credentials come from
boto3's usual chain (environment, profile, role). Tests pass a stubbed ``client``.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from slabdb.embed.base import (
    Embedder,
    EmbeddingError,
    EmbeddingRejectedError,
    FloatMatrix,
    InputKind,
    l2_normalize,
)
from slabdb.embed.retry import (
    RETRYABLE_HTTP_STATUSES,
    RetryPolicy,
    TransientError,
    parse_retry_after,
)

BEDROCK_DEFAULT_MODEL = "amazon.titan-embed-text-v2:0"
TITAN_V2_DIMENSIONS = (256, 512, 1024)
TITAN_MAX_INPUT_TOKENS = 8192
TITAN_MAX_INPUT_CHARS = 24_000
"""Titan v2 takes at most 8k tokens (50k characters); ~3 characters per token."""
COHERE_MAX_TEXTS_PER_CALL = 96
COHERE_MAX_INPUT_CHARS = 2048
COHERE_MAX_INPUT_TOKENS = 512
DEFAULT_BATCH_SIZE = 64
DEFAULT_MAX_WORKERS = 4
DEFAULT_TIMEOUT_SECONDS = 60.0

RETRYABLE_ERROR_CODES = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "ServiceUnavailableException",
        "ServiceUnavailable",
        "InternalServerException",
        "InternalFailure",
        "ModelNotReadyException",
        "ModelTimeoutException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


INFERENCE_PROFILE_PREFIXES = ("us.", "us-gov.", "eu.", "apac.", "jp.", "au.", "ca.", "global.")


def _family(model_id: str) -> str:
    # Accept ARNs (".../foundation-model/<id>") and cross-region inference profile ids
    # ("us.cohere.embed-v4:0").
    bare = model_id.rsplit("/", 1)[-1]
    for prefix in INFERENCE_PROFILE_PREFIXES:
        if bare.startswith(prefix):
            bare = bare[len(prefix) :]
            break
    if bare.startswith("cohere.embed"):
        return "cohere"
    if bare.startswith("amazon.titan-embed-text-v1") or bare.startswith(
        "amazon.titan-embed-g1-text"
    ):
        return "titan-v1"
    if bare.startswith("amazon.titan-embed-text-v2"):
        return "titan-v2"
    raise ValueError(f"unsupported Bedrock embedding model {model_id!r}")


def _default_dimension(family: str, model_id: str) -> int:
    if family == "titan-v1":
        return 1536
    if family == "titan-v2":
        return 1024
    return 1536 if "embed-v4" in model_id else 1024


class BedrockEmbedder(Embedder):
    """Embeddings from Amazon Bedrock (Titan text embeddings, Cohere embed).

    Args:
        model: Bedrock model id (or inference profile id).
        dimension: Titan v2: 256, 512 or 1024; Cohere v4: sent as ``output_dimension``;
            others: must match the model's size if given.
        normalize: Titan v2 normalises server-side; every family is L2-normalised here.
        region_name, endpoint_url, profile_name: For the boto3 client this creates.
        client: A ready ``bedrock-runtime`` client (tests: one under botocore's Stubber).
        batch_size: Texts per batch (Cohere: at most 96, one call; Titan: fanned out).
        max_workers: Concurrent Titan calls per batch.
        max_input_chars: Longer texts are cut to this many characters before sending.
        retry: Retry policy for transient failures.
    """

    def __init__(
        self,
        *,
        model: str = BEDROCK_DEFAULT_MODEL,
        dimension: int | None = None,
        normalize: bool = True,
        region_name: str | None = None,
        endpoint_url: str | None = None,
        profile_name: str | None = None,
        client: Any = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_workers: int = DEFAULT_MAX_WORKERS,
        max_input_chars: int | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        retry: RetryPolicy | None = None,
    ) -> None:
        family = _family(model)
        if family == "titan-v2" and dimension is not None and dimension not in TITAN_V2_DIMENSIONS:
            raise ValueError(f"Titan v2 dimension must be one of {TITAN_V2_DIMENSIONS}")
        if batch_size < 1 or max_workers < 1:
            raise ValueError("batch_size and max_workers must be at least 1")
        if family == "cohere":
            batch_size = min(batch_size, COHERE_MAX_TEXTS_PER_CALL)
        self._model = model
        self._family = family
        self._native_dimension = _default_dimension(family, model)
        self._dimension = dimension or self._native_dimension
        self._normalize = normalize
        self._batch_size = batch_size
        self._max_workers = max_workers
        default_chars = COHERE_MAX_INPUT_CHARS if family == "cohere" else TITAN_MAX_INPUT_CHARS
        self._max_input_chars = max_input_chars or default_chars
        self._retry = retry or RetryPolicy()
        self._client = (
            client
            if client is not None
            else _make_client(region_name, endpoint_url, profile_name, timeout_seconds)
        )
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    @property
    def name(self) -> str:
        return "bedrock"

    @property
    def model(self) -> str:
        return self._model

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_input_tokens(self) -> int:
        return COHERE_MAX_INPUT_TOKENS if self._family == "cohere" else TITAN_MAX_INPUT_TOKENS

    @property
    def batch_size(self) -> int:
        return self._batch_size

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

    # -- calls -------------------------------------------------------------------------

    def _embed_batch(self, texts: list[str], kind: InputKind) -> FloatMatrix:
        cut = [t[: self._max_input_chars] for t in texts]
        if self._family == "cohere":
            vectors = self._cohere(cut, kind)
        elif len(cut) == 1 or self._max_workers == 1:
            vectors = np.array([self._titan(t) for t in cut], dtype=np.float32)
        else:
            vectors = np.array(list(self._executor().map(self._titan, cut)), dtype=np.float32)
        return l2_normalize(vectors) if self._normalize else vectors

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self._max_workers, thread_name_prefix="bedrock-embed"
                )
            return self._pool

    def _titan(self, text: str) -> list[float]:
        body: dict[str, Any] = {"inputText": text}
        if self._family == "titan-v2":
            body["dimensions"] = self._dimension
            body["normalize"] = self._normalize
        payload = self._invoke(body)
        try:
            return [float(x) for x in payload["embedding"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise EmbeddingError(f"malformed Titan response: {exc}") from exc

    def _cohere(self, texts: list[str], kind: InputKind) -> FloatMatrix:
        body: dict[str, Any] = {
            "texts": texts,
            "input_type": "search_query" if kind == "query" else "search_document",
            "truncate": "END",
        }
        if "embed-v4" in self._model:
            body["embedding_types"] = ["float"]
            if self._dimension != self._native_dimension:
                body["output_dimension"] = self._dimension
        payload = self._invoke(body)
        try:
            embeddings = payload["embeddings"]
            if isinstance(embeddings, dict):
                embeddings = embeddings["float"]
            vectors = np.array(embeddings, dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise EmbeddingError(f"malformed Cohere response: {exc}") from exc
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise EmbeddingError(
                f"expected {len(texts)} Cohere embeddings, got shape {vectors.shape}"
            )
        return vectors

    def _invoke(self, body: dict[str, Any]) -> Any:
        raw = json.dumps(body).encode("utf-8")
        return self._retry.call(lambda: self._invoke_once(raw), what=f"bedrock {self._model}")

    def _invoke_once(self, raw: bytes) -> Any:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectionError,
            HTTPClientError,
        )

        try:
            response = self._client.invoke_model(
                modelId=self._model,
                body=raw,
                contentType="application/json",
                accept="application/json",
            )
            data = response["body"].read()
        except ClientError as exc:
            raise _classify(exc) from exc
        except (ConnectionError, HTTPClientError) as exc:
            raise TransientError(f"{type(exc).__name__}: {exc}") from exc
        except BotoCoreError as exc:  # no credentials, bad parameters, ...
            raise EmbeddingRejectedError(f"bedrock {self._model}: {exc}") from exc
        try:
            return json.loads(data)
        except ValueError as exc:
            raise EmbeddingError(f"bedrock {self._model} answered non-JSON") from exc


def _classify(exc: Any) -> Exception:
    """A botocore ClientError as TransientError (retry) or EmbeddingRejectedError."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    message = str(error.get("Message", exc))
    meta = exc.response.get("ResponseMetadata", {})
    status = meta.get("HTTPStatusCode")
    headers = meta.get("HTTPHeaders") or {}
    if code in RETRYABLE_ERROR_CODES or status in RETRYABLE_HTTP_STATUSES:
        return TransientError(
            f"{code or status}: {message}", retry_after=parse_retry_after(headers), status=status
        )
    return EmbeddingRejectedError(
        f"bedrock refused the request: {code}: {message}", upstream_status=status
    )


def _make_client(
    region_name: str | None,
    endpoint_url: str | None,
    profile_name: str | None,
    timeout_seconds: float,
) -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:  # pragma: no cover - boto3 is in the embed extra
        raise EmbeddingError("boto3 is needed for Bedrock: pip install 'slabdb[embed]'") from exc
    session = boto3.Session(profile_name=profile_name, region_name=region_name)
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=timeout_seconds,
        read_timeout=timeout_seconds,
    )
    return session.client("bedrock-runtime", endpoint_url=endpoint_url, config=config)
