"""The static embedder (dedup.embedder = "static"): a table distilled from all-MiniLM-L6-v2."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import monitor.dedup.embed as embed
from monitor.dedup.embed import EmbeddingModelError, StaticEmbedder, load_embedder

MODEL = Path(embed.__file__).parent / "model"


def test_vectors_are_unit_and_not_minilm_sized() -> None:
    lead, head = load_embedder("static").embed("A man is playing a guitar.", 12)
    assert lead.shape == head.shape == (256,)  # never 384: old MiniLM vectors don't compare
    assert lead.dtype == np.float32
    assert abs(float(np.linalg.norm(lead)) - 1.0) < 1e-5
    assert abs(float(np.linalg.norm(head)) - 1.0) < 1e-5


def test_paraphrases_are_closer_than_unrelated_sentences() -> None:
    embedder = load_embedder("static")
    a, _ = embedder.embed("Baidu launches two free AI models", 12)
    b, _ = embedder.embed("Baidu releases a pair of artificial intelligence models for free", 12)
    c, _ = embedder.embed("The Penguins beat the Senators 5-2 on Monday", 12)
    d, _ = embedder.embed("Pittsburgh won the hockey game against Ottawa", 12)
    assert float(a @ b) > 0.6 > 0.2 > float(a @ c)
    assert float(c @ d) > float(a @ d)


def test_head_is_mostly_the_start_of_the_lead() -> None:
    embedder = load_embedder("static")
    title = "Baidu launches two free AI models."
    tail = " The Penguins beat the Senators 5-2 on Monday in a tight game in Pittsburgh." * 3
    lead, head = embedder.embed(title + tail, 12)
    alone, _ = embedder.embed(title, 12)
    assert float(head @ alone) > 0.8 > float(lead @ alone)


def test_empty_and_foreign_script_text_give_zero_vectors() -> None:
    embedder = load_embedder("static")
    for text in ("", "नई दिल्ली। भारतीय अंतरिक्ष"):
        lead, head = embedder.embed(text, 12)
        assert not lead.any() and not head.any()


def test_model_dir_holds_table_and_tokenizer(tmp_path: Path) -> None:
    for name in ("embeddings.npy", "tokenizer.json"):
        (tmp_path / name).symlink_to(MODEL / name)
    ours, _ = load_embedder("static", str(tmp_path)).embed("A man is playing a guitar.", 12)
    packaged, _ = load_embedder("static").embed("A man is playing a guitar.", 12)
    assert np.array_equal(ours, packaged)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a table", "cannot load"),
        (None, "not an embedding table"),  # a plain float matrix
        (3, "3 rows for 30522 word pieces"),
    ],
)
def test_broken_table_is_a_clear_error(tmp_path: Path, content: object, message: str) -> None:
    (tmp_path / "tokenizer.json").symlink_to(MODEL / "tokenizer.json")
    table = tmp_path / "embeddings.npy"
    if isinstance(content, bytes):
        table.write_bytes(content)
    elif content is None:
        np.save(table, np.zeros((30522, 8), dtype=np.float32))
    else:
        np.save(table, np.zeros(3, dtype=[("scale", "<f4"), ("vector", "i1", (8,))]))
    with pytest.raises(EmbeddingModelError, match=message):
        load_embedder("static", str(tmp_path))


def test_another_packaged_table_is_refused(tmp_path: Path) -> None:
    shutil.copy(MODEL / "embeddings.npy", tmp_path / "embeddings.npy")
    with pytest.raises(EmbeddingModelError, match="unexpected table"):
        StaticEmbedder(tmp_path / "embeddings.npy", MODEL / "tokenizer.json", sha256="0" * 64)
