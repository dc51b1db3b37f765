"""The :class:`Embedder` interface and the errors every backend raises.

An embedder turns texts into dense float32 vectors of a fixed dimension. Documents and
queries have their own entry points because some models embed them differently (Cohere
on Bedrock takes an ``input_type``); for the rest both go through the same code.

Contract (tested for every backend in ``tests/unit/embed``):

* ``embed_documents(texts)`` returns a C-contiguous ``float32`` array of shape
  ``(len(texts), dimension)``; row ``i`` belongs to ``texts[i]``. An empty sequence gives
  shape ``(0, dimension)`` and calls nothing.
* ``embed_query(text)`` returns shape ``(dimension,)``.
* Texts go to the backend in batches of at most ``batch_size``; the result does not
  depend on how texts were batched (within float tolerance).
* Input longer than ``max_input_tokens`` is truncated, never an error.
* ``normalized`` says whether vectors have unit L2 norm (then cosine == dot product).
* Failures raise :class:`EmbeddingError` subclasses: :class:`EmbeddingUnavailableError`
  when a transient failure outlasted the retry policy (try again later),
  :class:`EmbeddingRejectedError` when the backend refused the request (retrying the same
  input will not help), :class:`ModelUnavailableError` when a local model is not installed.

Error classes (extend the tree in :mod:`slabdb.core.errors`)::

    SlabDBError
    ├── InvalidArgumentError
    │   └── UnknownEmbedderError         no embedder registered under that name
    └── EmbeddingError (500, INTERNAL)   base; ``retryable`` says what a caller may do
        ├── EmbeddingUnavailableError (503, UNAVAILABLE)   retryable
        ├── EmbeddingRejectedError (400, INVALID_ARGUMENT) permanent (4xx, validation)
        └── ModelUnavailableError (500, FAILED_PRECONDITION) model file/package missing
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from types import TracebackType
from typing import Literal

import numpy as np
import numpy.typing as npt

from slabdb.core.errors import GrpcCode, InvalidArgumentError, SlabDBError

FloatMatrix = npt.NDArray[np.float32]
"""Shape ``(n, dimension)``, dtype float32."""
FloatVector = npt.NDArray[np.float32]
"""Shape ``(dimension,)``, dtype float32."""
InputKind = Literal["document", "query"]

DEFAULT_BATCH_SIZE = 64
"""Texts per backend call unless a backend or caller says otherwise."""


class EmbeddingError(SlabDBError):
    """An embedder could not produce vectors."""

    retryable: bool = False

    def __init__(self, message: str, *, upstream_status: int | None = None) -> None:
        super().__init__(message)
        self.upstream_status = upstream_status


class EmbeddingUnavailableError(EmbeddingError):
    """A transient failure (429, 5xx, timeout, connection) outlasted the retry policy."""

    http_status = 503
    grpc_code = GrpcCode.UNAVAILABLE
    wire_name = "UNAVAILABLE"
    retryable = True


class EmbeddingRejectedError(EmbeddingError):
    """The backend refused the request (bad input, bad key, unknown model)."""

    http_status = 400
    grpc_code = GrpcCode.INVALID_ARGUMENT
    wire_name = "INVALID_ARGUMENT"


class ModelUnavailableError(EmbeddingError):
    """A local model's package or file is missing or does not match its checksum."""

    grpc_code = GrpcCode.FAILED_PRECONDITION
    wire_name = "FAILED_PRECONDITION"


class UnknownEmbedderError(InvalidArgumentError):
    """No embedder is registered under the requested name."""


class Embedder(ABC):
    """Turns texts into dense vectors. Implementations are thread-safe.

    Subclasses implement :meth:`_embed_batch` (one backend call for at most
    :attr:`batch_size` texts) and the descriptive properties; batching, input checks and
    output checks live here.
    """

    _sort_by_length: bool = False
    """Group texts of similar length into batches (for models that pad to the longest)."""

    @property
    @abstractmethod
    def name(self) -> str:
        """Registry name of the backend (``"minilm"``, ``"openai"``, ...)."""

    @property
    @abstractmethod
    def model(self) -> str:
        """The model id the vectors come from; vectors of different models never mix."""

    @property
    @abstractmethod
    def dimension(self) -> int:
        """Length of every vector."""

    @property
    @abstractmethod
    def max_input_tokens(self) -> int:
        """Longest input the model reads; longer input is truncated (see the backend)."""

    @property
    def batch_size(self) -> int:
        """Most texts sent to the backend in one call."""
        return DEFAULT_BATCH_SIZE

    @property
    def normalized(self) -> bool:
        """True when every vector has unit L2 norm (cosine equals dot product)."""
        return True

    @abstractmethod
    def _embed_batch(self, texts: list[str], kind: InputKind) -> FloatMatrix:
        """Embed at most :attr:`batch_size` texts in one backend call."""

    # -- public API --------------------------------------------------------------------

    def embed_documents(self, texts: Sequence[str]) -> FloatMatrix:
        """Embed texts to be stored; shape ``(len(texts), dimension)``."""
        return self._embed_all(texts, "document")

    def embed_queries(self, texts: Sequence[str]) -> FloatMatrix:
        """Embed several search queries at once; shape ``(len(texts), dimension)``."""
        return self._embed_all(texts, "query")

    def embed_query(self, text: str) -> FloatVector:
        """Embed one search query; shape ``(dimension,)``."""
        if not isinstance(text, str):
            raise TypeError(f"embed_query takes a str, not {type(text).__name__}")
        return self._embed_all([text], "query")[0]

    def describe(self) -> dict[str, object]:
        """What an index should record about the embedder its vectors came from."""
        return {
            "name": self.name,
            "model": self.model,
            "dimension": self.dimension,
            "normalized": self.normalized,
        }

    def close(self) -> None:
        """Release clients and sessions. Idempotent; the default holds nothing."""
        return None

    def __enter__(self) -> Embedder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r})"

    # -- helpers -----------------------------------------------------------------------

    def _embed_all(self, texts: Sequence[str], kind: InputKind) -> FloatMatrix:
        if isinstance(texts, str):
            raise TypeError("pass a sequence of texts, not one str (use embed_query)")
        items = list(texts)
        for i, text in enumerate(items):
            if not isinstance(text, str):
                raise TypeError(f"text {i} is {type(text).__name__}, not str")
        if not items:
            return np.zeros((0, self.dimension), dtype=np.float32)
        size = max(1, self.batch_size)
        order: npt.NDArray[np.intp] | None = None
        if self._sort_by_length and len(items) > size:
            # Batches of similar length pad less; rows go back to input order below.
            order = np.argsort(np.fromiter((len(t) for t in items), np.intp, len(items)))
            items = [items[i] for i in order]
        parts = [
            self._checked(self._embed_batch(items[i : i + size], kind), len(items[i : i + size]))
            for i in range(0, len(items), size)
        ]
        out = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
        if order is not None:
            unsorted = np.empty_like(out)
            unsorted[order] = out
            out = unsorted
        return np.ascontiguousarray(out, dtype=np.float32)

    def _checked(self, vectors: FloatMatrix, count: int) -> FloatMatrix:
        arr = np.asarray(vectors, dtype=np.float32)
        if arr.shape != (count, self.dimension):
            raise EmbeddingError(
                f"{self.name} ({self.model}) returned shape {arr.shape}, "
                f"expected ({count}, {self.dimension})"
            )
        if not np.isfinite(arr).all():
            raise EmbeddingError(f"{self.name} ({self.model}) returned non-finite values")
        return arr


def l2_normalize(vectors: npt.NDArray[np.floating]) -> FloatMatrix:
    """Scale each row to unit length; all-zero rows stay zero."""
    arr = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return (arr / np.maximum(norms, np.float32(1e-12))).astype(np.float32, copy=False)
