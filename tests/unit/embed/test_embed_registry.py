"""The registry, the Embedder contract and lazy imports."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from slabdb.embed import (
    DEFAULT_EMBEDDER,
    Embedder,
    FloatMatrix,
    InputKind,
    UnknownEmbedderError,
    available_embedders,
    get_embedder,
    register,
    unregister,
)
from slabdb.embed.local import MiniLMEmbedder
from slabdb.embed.models import EmbedModels
from slabdb.testing import FakeEmbedder

BUILT_IN = {"minilm", "wordllama", "openai", "bedrock"}


def _fresh_interpreter(script: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


class ConstantEmbedder(Embedder):
    def __init__(self, dimension: int = 3, batch_size: int = 2) -> None:
        self._dimension = dimension
        self._batch_size = batch_size
        self.batches: list[list[str]] = []

    name = property(lambda self: "constant")  # type: ignore[assignment]
    model = property(lambda self: "constant-1")  # type: ignore[assignment]
    dimension = property(lambda self: self._dimension)  # type: ignore[assignment]
    max_input_tokens = property(lambda self: 10)  # type: ignore[assignment]
    batch_size = property(lambda self: self._batch_size)  # type: ignore[assignment]

    def _embed_batch(self, texts: list[str], kind: InputKind) -> FloatMatrix:
        self.batches.append(texts)
        return np.ones((len(texts), self._dimension), dtype=np.float32)


def test_builtin_names() -> None:
    assert DEFAULT_EMBEDDER == "minilm"
    assert set(available_embedders()) >= BUILT_IN


def test_production_registry_has_no_test_embedder() -> None:
    # A fresh interpreter: no test in this process may have registered "fake" first.
    out = _fresh_interpreter(
        "import json\n"
        "from slabdb.embed import UnknownEmbedderError, available_embedders, get_embedder\n"
        "try:\n"
        "    get_embedder('fake')\n"
        "    found = True\n"
        "except UnknownEmbedderError:\n"
        "    found = False\n"
        "print(json.dumps([available_embedders(), found]))\n"
    )
    names, found = json.loads(out)
    assert set(names) == BUILT_IN and not found


def test_a_test_registers_the_fake_itself() -> None:
    register("fake", "slabdb.testing.embedders:FakeEmbedder")
    try:
        assert isinstance(get_embedder("FAKE", dimension=5), FakeEmbedder)
    finally:
        unregister("fake")
    assert "fake" not in available_embedders()


def test_integrated_embedding_builds_the_test_model_without_the_registry() -> None:
    models = EmbedModels(allow_test_models=True)
    try:
        assert "fake" not in available_embedders()
        assert isinstance(models.embedder("fake", 8), FakeEmbedder)
    finally:
        models.close()


def test_unknown_name() -> None:
    with pytest.raises(UnknownEmbedderError, match="no embedder named 'nope'") as info:
        get_embedder("nope")
    assert info.value.http_status == 400


def test_register_and_unregister() -> None:
    register("constant", ConstantEmbedder)
    try:
        with pytest.raises(ValueError, match="already registered"):
            register("constant", ConstantEmbedder)
        embedder = get_embedder("constant", dimension=7)
        assert embedder.embed_query("a").shape == (7,)
        register("constant", f"{__name__}:ConstantEmbedder", replace=True)
        assert isinstance(get_embedder("constant"), ConstantEmbedder)
    finally:
        unregister("constant")
    assert "constant" not in available_embedders()
    register("minilm", ConstantEmbedder, replace=True)
    assert isinstance(get_embedder("minilm"), ConstantEmbedder)
    unregister("minilm")  # a built-in comes back (built lazily: nothing loads here)
    assert isinstance(get_embedder("minilm"), MiniLMEmbedder)


def test_factory_must_return_an_embedder() -> None:
    register("broken", lambda **_: object())
    try:
        with pytest.raises(TypeError):
            get_embedder("broken")
    finally:
        unregister("broken")
    with pytest.raises(ValueError):
        register("Bad Name!", ConstantEmbedder)


def test_contract_batching_and_checks() -> None:
    embedder = ConstantEmbedder(batch_size=2)
    assert embedder.embed_documents(["a", "b", "c", "d", "e"]).shape == (5, 3)
    assert [len(b) for b in embedder.batches] == [2, 2, 1]
    assert embedder.embed_documents([]).shape == (0, 3)
    assert len(embedder.batches) == 3  # an empty input calls nothing
    with pytest.raises(TypeError, match="not one str"):
        embedder.embed_documents("abc")
    with pytest.raises(TypeError):
        embedder.embed_documents(["a", 3])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        embedder.embed_query(["a"])  # type: ignore[arg-type]


def test_wrong_backend_shape_is_caught() -> None:
    from slabdb.embed import EmbeddingError

    class Liar(ConstantEmbedder):
        def _embed_batch(self, texts: list[str], kind: InputKind) -> FloatMatrix:
            return np.full((len(texts), 2), np.nan, dtype=np.float32)

    with pytest.raises(EmbeddingError, match="shape"):
        Liar().embed_documents(["a"])


def test_importing_the_package_loads_no_backend() -> None:
    heavy = ["onnxruntime", "tokenizers", "wordllama", "httpx", "boto3", "tenacity"]
    script = (
        "import json, sys\n"
        "import slabdb.embed, slabdb.embed.retry, slabdb.core.retry\n"
        "slabdb.embed.register('fake', 'slabdb.testing.embedders:FakeEmbedder')\n"
        "slabdb.embed.get_embedder('fake').embed_query('x')\n"
        f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]))\n"
    )
    assert json.loads(_fresh_interpreter(script)) == []
