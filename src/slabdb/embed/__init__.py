"""Pluggable embedding models: one :class:`Embedder` interface, a registry by name.

>>> from slabdb.embed import get_embedder
>>> embedder = get_embedder("wordllama", dimension=64)   # "minilm" is the default
>>> embedder.embed_documents(["a", "b"]).shape
(2, 64)

The test-only ``fake`` embedder lives in :mod:`slabdb.testing` and is not registered by
name; tests build it directly or ``register`` it themselves.

Importing this package is cheap: backends (onnxruntime, wordllama, httpx, boto3) load
only when one is built. The backend classes are importable from here too, lazily.
See ``docs/design/embedders.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from slabdb.embed.base import (
    Embedder,
    EmbeddingError,
    EmbeddingRejectedError,
    EmbeddingUnavailableError,
    FloatMatrix,
    FloatVector,
    InputKind,
    ModelUnavailableError,
    UnknownEmbedderError,
)
from slabdb.embed.registry import (
    DEFAULT_EMBEDDER,
    EmbedderFactory,
    available_embedders,
    get_embedder,
    register,
    unregister,
)

if TYPE_CHECKING:
    from slabdb.embed.bedrock import BedrockEmbedder
    from slabdb.embed.local import MiniLMEmbedder
    from slabdb.embed.openai import OpenAIEmbedder
    from slabdb.embed.retry import RetryPolicy
    from slabdb.embed.wordllama import WordLlamaEmbedder

_LAZY = {
    "BedrockEmbedder": "slabdb.embed.bedrock",
    "MiniLMEmbedder": "slabdb.embed.local",
    "OpenAIEmbedder": "slabdb.embed.openai",
    "RetryPolicy": "slabdb.embed.retry",
    "WordLlamaEmbedder": "slabdb.embed.wordllama",
}

__all__ = [
    "DEFAULT_EMBEDDER",
    "BedrockEmbedder",
    "Embedder",
    "EmbedderFactory",
    "EmbeddingError",
    "EmbeddingRejectedError",
    "EmbeddingUnavailableError",
    "FloatMatrix",
    "FloatVector",
    "InputKind",
    "MiniLMEmbedder",
    "ModelUnavailableError",
    "OpenAIEmbedder",
    "RetryPolicy",
    "UnknownEmbedderError",
    "WordLlamaEmbedder",
    "available_embedders",
    "get_embedder",
    "register",
    "unregister",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'slabdb.embed' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
