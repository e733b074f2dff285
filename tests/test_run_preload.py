"""The fork server's preload: the embedder it loads is the one each process then uses."""

from __future__ import annotations

import os

from monitor.config.dedup import DedupSettings
from monitor.dedup.embed import load_embedder
from monitor.run.preload import preload
from monitor.run.process import PRELOAD, PRELOAD_ENV, forkserver_preload


def test_the_poller_names_its_embedder_for_the_fork_server(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv(PRELOAD_ENV, raising=False)
    dedup = DedupSettings(embedder="static", model_dir="/a:b", model_threads=1)
    assert forkserver_preload(dedup) == PRELOAD
    assert PRELOAD[-1] == "monitor.run.preload"
    assert os.environ[PRELOAD_ENV] == "static:1:/a:b"


def test_preload_fills_the_cache_the_processes_read() -> None:
    load_embedder.cache_clear()
    preload("static:1:")
    hits = load_embedder.cache_info().hits
    load_embedder("static", "", 1)  # as extract_features asks for it
    assert load_embedder.cache_info().hits == hits + 1


def test_a_broken_spec_or_model_never_raises() -> None:
    preload("nonsense")
    preload("static:1:/no/such/folder")
