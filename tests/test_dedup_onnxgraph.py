"""MiniLM's int8 graph rewritten so that a session keeping the weights int8 dequantises only
what a run reads: the same outputs as the packaged graph, kept in the cache folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from tokenizers import Tokenizer

from monitor.dedup.embed import _HERE, TOKENIZER, _default_model
from monitor.dedup.onnxgraph import _model_class, lean_graph, lean_model

TEXTS = [
    "Baidu on Sunday released Ernie 4.5 and the reasoning model Ernie X1, free for all.",
    "Nvidia's quarterly revenue rose 78% to $39.3 billion as data-centre sales jumped.",
    "A man is playing a guitar.",
]


def _session(model: bytes | str) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.enable_cpu_mem_arena = False
    return ort.InferenceSession(
        model, options, providers=["CPUExecutionProvider"], disabled_optimizers=["ConstantFolding"]
    )


def _ops(model: bytes) -> list[str]:
    proto: Any = _model_class()()
    proto.ParseFromString(model)
    return [node.op_type for node in proto.graph.node]


def test_the_rewritten_graph_gives_the_same_outputs() -> None:
    source = _default_model().read_bytes()
    rewritten = lean_graph(source)
    assert rewritten is not None
    # The two embedding tables are gathered before they are dequantised; no NaN guards.
    assert _ops(source).count("IsNaN") == 6 and "IsNaN" not in _ops(rewritten)
    assert _ops(rewritten).count("Gather") == _ops(source).count("Gather") + 2
    tokenizer = Tokenizer.from_file(str(_HERE / TOKENIZER))
    before, after = _session(source), _session(rewritten)
    for text in TEXTS:
        ids = np.asarray([tokenizer.encode(text).ids], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        feed["token_type_ids"] = np.zeros_like(ids)
        a, b = before.run(None, feed)[0], after.run(None, feed)[0]
        assert a.shape == b.shape
        assert np.allclose(a, b, rtol=0, atol=1e-6)


def test_a_rewritten_graph_has_nothing_left_to_rewrite() -> None:
    rewritten = lean_graph(_default_model().read_bytes())
    assert rewritten is not None
    assert lean_graph(rewritten) is None


def test_the_rewritten_model_is_kept_in_the_cache_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MONITOR_CACHE_DIR", str(tmp_path / "cache"))
    path = lean_model(_default_model())
    assert isinstance(path, str) and Path(path).parent == tmp_path / "cache"
    written = Path(path).stat().st_mtime_ns
    assert lean_model(_default_model()) == path
    assert Path(path).stat().st_mtime_ns == written  # read, not rewritten
    Path(path).write_bytes(b"damaged")
    assert lean_model(_default_model()) == path
    assert Path(path).read_bytes() == lean_graph(_default_model().read_bytes())


def test_without_a_cache_folder_the_rewritten_bytes_are_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MONITOR_CACHE_DIR", str(blocker / "cache"))
    assert lean_model(_default_model()) == lean_graph(_default_model().read_bytes())
