"""Any OpenAI-compatible ``POST {base_url}/embeddings`` endpoint, over httpx.

Works with OpenAI itself and with the many servers that speak its embeddings API
(vLLM, Ollama, LiteLLM, text-embeddings-inference, LM Studio, Azure via ``headers``).

Request: ``{"model", "input": [texts], "encoding_format": "float"}`` plus ``"dimensions"``
when a reduced dimension is asked for (OpenAI's ``text-embedding-3-*``). Response:
``{"data": [{"index", "embedding"}]}``, put back in input order by ``index``.

Failures: HTTP 408/429/500/502/503/504 (the shared list), timeouts and connection
errors are retried under the :class:`~slabdb.embed.retry.RetryPolicy` (``Retry-After``
/ ``retry-after-ms`` honoured); any other status raises :class:`EmbeddingRejectedError` at once with the
server's message; a malformed body raises :class:`EmbeddingError`.

Input longer than ``max_input_chars`` characters is cut client-side (the server would
reject it rather than truncate). The dimension is known for OpenAI's models, given with
``dimension=``, or learned from one probe request on first use.
"""

from __future__ import annotations

import threading
from typing import Any

import httpx
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

OPENAI_BASE_URL = "https://api.openai.com/v1"
OPENAI_DEFAULT_MODEL = "text-embedding-3-small"
OPENAI_BATCH_SIZE = 128
"""Inputs per request (OpenAI accepts up to 2048 and 300k tokens per request)."""
OPENAI_MAX_INPUT_TOKENS = 8191
REMOTE_MAX_INPUT_CHARS = 24_000
"""Client-side cut: ~3 characters per token keeps English text under 8k tokens."""
DEFAULT_TIMEOUT_SECONDS = 60.0
PROBE_TEXT = "dimension probe"

KNOWN_DIMENSIONS: dict[str, int] = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}


class OpenAIEmbedder(Embedder):
    """Embeddings from an OpenAI-compatible HTTP endpoint.

    Args:
        model: Model id sent in every request.
        base_url: Up to and including the version path, e.g. ``http://127.0.0.1:8000/v1``.
        api_key: Sent as ``Authorization: Bearer <key>``; None sends no such header.
        dimension: Vector length. For ``text-embedding-3-*`` a value below the model's
            native size is sent as ``dimensions`` (server-side truncation). None: known
            models' native size, else one probe request on first use.
        batch_size: Texts per request.
        max_input_chars: Longer texts are cut to this many characters before sending.
        max_input_tokens: The model's limit, for callers that chunk text.
        normalize: L2-normalise the returned vectors here (OpenAI's already are).
        headers: Extra request headers (e.g. ``{"api-key": ...}`` for Azure).
        timeout_seconds: Per-request timeout.
        retry: Retry policy for transient failures.
        query_prefix: Prepended to queries (e.g. ``"query: "`` for E5 models).
        document_prefix: Prepended to documents (e.g. ``"passage: "``).
        transport: An httpx transport (tests: ``httpx.MockTransport``).
    """

    def __init__(
        self,
        *,
        model: str = OPENAI_DEFAULT_MODEL,
        base_url: str = OPENAI_BASE_URL,
        api_key: str | None = None,
        dimension: int | None = None,
        batch_size: int = OPENAI_BATCH_SIZE,
        max_input_chars: int = REMOTE_MAX_INPUT_CHARS,
        max_input_tokens: int = OPENAI_MAX_INPUT_TOKENS,
        normalize: bool = True,
        headers: dict[str, str] | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        retry: RetryPolicy | None = None,
        query_prefix: str = "",
        document_prefix: str = "",
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if batch_size < 1 or max_input_chars < 1:
            raise ValueError("batch_size and max_input_chars must be at least 1")
        if dimension is not None and dimension < 1:
            raise ValueError("dimension must be at least 1")
        self._model = model
        self._url = base_url.rstrip("/") + "/embeddings"
        self._batch_size = batch_size
        self._max_input_chars = max_input_chars
        self._max_input_tokens = max_input_tokens
        self._normalize = normalize
        self._query_prefix = query_prefix
        self._document_prefix = document_prefix
        self._retry = retry or RetryPolicy()
        native = KNOWN_DIMENSIONS.get(model)
        self._dimension: int | None = dimension or native
        self._send_dimensions = (
            dimension is not None
            and native is not None
            and dimension != native
            and model.startswith("text-embedding-3")
        )
        request_headers = {"Accept": "application/json", **(headers or {})}
        if api_key:
            request_headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.Client(
            headers=request_headers, timeout=timeout_seconds, transport=transport
        )
        self._probe_lock = threading.Lock()

    @property
    def name(self) -> str:
        return "openai"

    @property
    def model(self) -> str:
        return self._model

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            with self._probe_lock:
                if self._dimension is None:
                    self._dimension = int(self._request([PROBE_TEXT]).shape[1])
        return self._dimension

    @property
    def max_input_tokens(self) -> int:
        return self._max_input_tokens

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @property
    def normalized(self) -> bool:
        return self._normalize

    def close(self) -> None:
        self._client.close()

    def _embed_batch(self, texts: list[str], kind: InputKind) -> FloatMatrix:
        prefix = self._query_prefix if kind == "query" else self._document_prefix
        vectors = self._request([prefix + t for t in texts] if prefix else texts)
        if self._dimension is None:
            with self._probe_lock:
                if self._dimension is None:
                    self._dimension = int(vectors.shape[1])
        return vectors

    def _request(self, texts: list[str]) -> FloatMatrix:
        body: dict[str, Any] = {
            "model": self._model,
            "input": [t[: self._max_input_chars] for t in texts],
            "encoding_format": "float",
        }
        if self._send_dimensions:
            body["dimensions"] = self._dimension
        payload = self._retry.call(lambda: self._post(body), what=f"POST {self._url}")
        vectors = _parse_embeddings(payload, len(texts))
        return l2_normalize(vectors) if self._normalize else vectors

    def _post(self, body: dict[str, Any]) -> Any:
        try:
            response = self._client.post(self._url, json=body)
        except httpx.TransportError as exc:  # timeouts, refused or dropped connections
            raise TransientError(f"{type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if status in RETRYABLE_HTTP_STATUSES:
            raise TransientError(
                f"HTTP {status}: {_error_message(response)}",
                retry_after=parse_retry_after(response.headers),
                status=status,
            )
        if status >= 400:
            raise EmbeddingRejectedError(
                f"{self._url} refused the request: HTTP {status}: {_error_message(response)}",
                upstream_status=status,
            )
        try:
            return response.json()
        except ValueError as exc:
            raise EmbeddingError(f"{self._url} answered HTTP {status} with non-JSON") from exc


def _error_message(response: httpx.Response) -> str:
    """The server's own error text (OpenAI: ``{"error": {"message": ...}}``), shortened."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and "message" in error:
            return str(error["message"])[:500]
        if isinstance(error, str):
            return error[:500]
        if "message" in body:
            return str(body["message"])[:500]
    return str(body)[:500]


def _parse_embeddings(payload: Any, count: int) -> FloatMatrix:
    try:
        data = payload["data"]
        rows = sorted(data, key=lambda item: int(item.get("index", 0)))
        if len(rows) != count or [int(r.get("index", i)) for i, r in enumerate(rows)] != list(
            range(count)
        ):
            raise EmbeddingError(f"expected {count} embeddings, got {len(rows)}")
        vectors = np.array([row["embedding"] for row in rows], dtype=np.float32)
    except EmbeddingError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise EmbeddingError(f"malformed embeddings response: {exc}") from exc
    if vectors.ndim != 2:
        raise EmbeddingError("malformed embeddings response: ragged or empty vectors")
    return vectors
