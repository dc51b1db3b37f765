"""The fast embedder: WordLlama ``l2_supercat`` (256-d), for CI and bulk loads.

WordLlama averages static token embeddings taken from an LLM's embedding table (no
attention, pure numpy), so it runs thousands of short texts per second on one core and
its quality is a step below MiniLM. Weights (``weights/l2_supercat_256.safetensors``,
16 MB) and tokenizer (``tokenizers/l2_supercat_tokenizer_config.json``) ship inside the
``wordllama`` wheel; they are loaded with ``cache_dir`` set to the package's own
directory and ``disable_download=True``, so a missing file is an error, never a download.

Vectors are L2-normalised here (an empty or all-unknown text gives the zero vector).
``dimension`` may be 64, 128 or 256 (Matryoshka truncation of the 256-d table); input is
truncated at ``max_input_tokens`` tokens to bound memory (WordLlama itself never
truncates).
"""

from __future__ import annotations

import importlib
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from slabdb.embed.base import (
    Embedder,
    FloatMatrix,
    InputKind,
    ModelUnavailableError,
    l2_normalize,
)

WORDLLAMA_CONFIG = "l2_supercat"
WORDLLAMA_WEIGHTS_DIMENSION = 256
WORDLLAMA_DIMENSIONS = (64, 128, 256)
WORDLLAMA_MAX_INPUT_TOKENS = 2048
WORDLLAMA_BATCH_SIZE = 256


def _import_wordllama() -> Any:
    """Import wordllama without letting it configure the root logger.

    ``wordllama`` calls ``logging.basicConfig(level=INFO)`` at import; a library must not
    change the application's logging, so the root logger is put back as it was.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        return importlib.import_module("wordllama")
    except ImportError as exc:
        raise ModelUnavailableError(
            "wordllama is not installed: pip install 'slabdb[embed]'"
        ) from exc
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)


class WordLlamaEmbedder(Embedder):
    """WordLlama ``l2_supercat``: unit vectors of 64/128/256 floats, numpy only."""

    def __init__(
        self,
        *,
        dimension: int = WORDLLAMA_WEIGHTS_DIMENSION,
        batch_size: int = WORDLLAMA_BATCH_SIZE,
        max_input_tokens: int = WORDLLAMA_MAX_INPUT_TOKENS,
    ) -> None:
        if dimension not in WORDLLAMA_DIMENSIONS:
            raise ValueError(f"dimension must be one of {WORDLLAMA_DIMENSIONS}")
        if batch_size < 1 or max_input_tokens < 1:
            raise ValueError("batch_size and max_input_tokens must be at least 1")
        self._dimension = dimension
        self._batch_size = batch_size
        self._max_input_tokens = max_input_tokens
        self._lock = threading.Lock()
        self._model: Any = None

    @property
    def name(self) -> str:
        return "wordllama"

    @property
    def model(self) -> str:
        return f"wordllama-{WORDLLAMA_CONFIG}-{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_input_tokens(self) -> int:
        return self._max_input_tokens

    @property
    def batch_size(self) -> int:
        return self._batch_size

    def load(self) -> None:
        """Load weights and tokenizer now instead of on first use."""
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            module = _import_wordllama()
            package_dir = Path(module.__file__).parent
            try:
                model = module.WordLlama.load(
                    config=WORDLLAMA_CONFIG,
                    cache_dir=package_dir,
                    dim=WORDLLAMA_WEIGHTS_DIMENSION,
                    trunc_dim=None
                    if self._dimension == WORDLLAMA_WEIGHTS_DIMENSION
                    else self._dimension,
                    disable_download=True,
                )
            except FileNotFoundError as exc:
                raise ModelUnavailableError(
                    f"wordllama's packaged weights are missing ({exc}); reinstall wordllama"
                ) from exc
            # WordLlama disables truncation; cap it so one huge text cannot eat memory.
            model.tokenizer.enable_truncation(max_length=self._max_input_tokens)
            self._model = model

    def close(self) -> None:
        with self._lock:
            self._model = None

    def _embed_batch(self, texts: list[str], kind: InputKind) -> FloatMatrix:
        self.load()
        raw = self._model.embed(texts, norm=False, batch_size=len(texts))
        return l2_normalize(np.nan_to_num(np.asarray(raw, dtype=np.float32)))
