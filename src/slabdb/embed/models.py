"""Which embedding models integrated-embedding indexes may use, and one cached embedder each.

Pinecone's ``create_index_for_model`` names a hosted model (``multilingual-e5-large``,
``llama-text-embed-v2``, ...). SlabDB runs offline, so an index names one of SlabDB's
local models instead:

========== ========= ==================================================================
name       dimension notes
========== ========= ==================================================================
minilm     384       default; all-MiniLM-L6-v2 (int8 ONNX), good general English search
wordllama  64-256    static word embeddings: very fast, weaker (dimension 64, 128, 256)
fake       any       hash-based, no meaning; tests only (``allow_test_models``)
========== ========= ==================================================================

An operator can alias Pinecone names to them (``llama-text-embed-v2=minilm``) so code
written for Pinecone runs unchanged. Embedders are built on first use and shared by every
index that uses the same model and dimension (loading MiniLM takes about a second).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from slabdb.core import limits
from slabdb.core.errors import InvalidArgumentError
from slabdb.embed.base import Embedder

DEFAULT_MODEL = "minilm"


@dataclass(frozen=True)
class ModelSpec:
    """What the catalog needs to know about a model before loading it."""

    default_dimension: int
    dimensions: tuple[int, ...] | None
    """Dimensions the model can produce (None: any)."""
    test_only: bool = False
    factory: str | None = None
    """``"module:attribute"`` building it, for a model the embedder registry does not
    hold (test models live in :mod:`slabdb.testing`); None: the registry's entry."""


LOCAL_MODELS: dict[str, ModelSpec] = {
    "minilm": ModelSpec(384, (384,)),
    "wordllama": ModelSpec(256, (64, 128, 256)),
    "fake": ModelSpec(384, None, test_only=True, factory="slabdb.testing.embedders:FakeEmbedder"),
}


def parse_aliases(pairs: Iterable[str]) -> dict[str, str]:
    """``["llama-text-embed-v2=minilm", ...]`` → ``{"llama-text-embed-v2": "minilm"}``."""
    out: dict[str, str] = {}
    for pair in pairs:
        alias, sep, target = pair.partition("=")
        if not sep or not alias.strip() or not target.strip():
            raise ValueError(f"a model alias looks like NAME=MODEL, got {pair!r}")
        out[alias.strip()] = target.strip()
    return out


class EmbedModels:
    """The allowed models, operator aliases, and a cache of loaded embedders.

    Args:
        allow_test_models: Also allow ``fake`` (hash vectors, for tests).
        aliases: Extra names for allowed models, e.g. ``{"llama-text-embed-v2": "minilm"}``.
    """

    def __init__(
        self, *, allow_test_models: bool = False, aliases: Mapping[str, str] | None = None
    ) -> None:
        self.allowed = sorted(
            name for name, spec in LOCAL_MODELS.items() if allow_test_models or not spec.test_only
        )
        self.aliases: dict[str, str] = {}
        for alias, target in (aliases or {}).items():
            key = target.strip().lower()
            if key not in self.allowed:
                raise ValueError(
                    f"model alias {alias!r} points at {target!r}, which is not one of the "
                    f"available models ({', '.join(self.allowed)})"
                )
            self.aliases[alias.strip().lower()] = key
        self._lock = threading.Lock()
        self._loaded: dict[tuple[str, int], Embedder] = {}

    def available(self) -> list[str]:
        """Every name an index may ask for (models and aliases), sorted."""
        return sorted({*self.allowed, *self.aliases})

    def resolve(self, name: object) -> str:
        """The local model behind ``name`` (400 naming the available ones if none)."""
        if not isinstance(name, str) or not name.strip():
            raise InvalidArgumentError(
                f"embed.model must be a model name; available: {', '.join(self.available())}"
            )
        key = name.strip().lower()
        key = self.aliases.get(key, key)
        if key not in self.allowed:
            raise InvalidArgumentError(
                f"embedding model {name!r} is not available in SlabDB (it runs models locally, "
                f"not Pinecone's hosted ones); available models: {', '.join(self.available())}"
            )
        return key

    def dimension(self, model: str, requested: object = None) -> int:
        """The vector dimension of ``model`` (``requested`` if the model can produce it)."""
        spec = LOCAL_MODELS[model]
        if requested is None:
            return spec.default_dimension
        if isinstance(requested, bool) or not isinstance(requested, int):
            raise InvalidArgumentError(f"embed.dimension must be an integer, got {requested!r}")
        if spec.dimensions is None:
            if not 1 <= requested <= limits.MAX_DIMENSION:
                raise InvalidArgumentError(
                    f"embed.dimension must be between 1 and {limits.MAX_DIMENSION}"
                )
        elif requested not in spec.dimensions:
            choices = ", ".join(str(d) for d in spec.dimensions)
            raise InvalidArgumentError(
                f"model {model!r} produces vectors of dimension {choices}, not {requested}"
            )
        return requested

    def embedder(self, model: str, dimension: int) -> Embedder:
        """The shared embedder for ``model`` at ``dimension``, built on first use."""
        model = self.resolve(model)
        key = (model, dimension)
        with self._lock:
            cached = self._loaded.get(key)
            if cached is not None:
                return cached
            from slabdb.embed.registry import build_embedder, get_embedder

            spec = LOCAL_MODELS[model]
            options = {} if spec.dimensions == (dimension,) else {"dimension": dimension}
            if spec.factory is not None:
                embedder = build_embedder(spec.factory, **options)
            else:
                embedder = get_embedder(model, **options)
            self._loaded[key] = embedder
            return embedder

    def close(self) -> None:
        with self._lock:
            loaded, self._loaded = list(self._loaded.values()), {}
        for embedder in loaded:
            embedder.close()
