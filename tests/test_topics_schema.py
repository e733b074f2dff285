"""The topic schema: the shipped seeds/topics.toml is valid, and mistakes name file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.topics.schema import load_topics, normalize_phrase, tokenize

SCHEMA = Path(__file__).resolve().parent.parent / "seeds" / "topics.toml"
IDS = {
    "deepseek", "baidu", "alibaba", "tencent", "nvidia", "openai", "byd", "tesla",
    "china-ai-startups", "open-source-ai", "us-china-ai-race", "ai-investment", "ai-stocks",
    "autonomous-driving",
}  # fmt: skip

MINIMAL = """
[lexicons]
ai = ["ai"]
[[topic]]
id = "nvidia"
name = "Nvidia"
description = "Nvidia."
names = ["nvidia"]
"""


def test_shipped_schema_has_the_fixed_ids() -> None:
    schema = load_topics(SCHEMA)
    assert set(schema.ids) == IDS
    for topic in schema.topics:
        assert topic.name and topic.description and topic.names
    assert schema.topic("tesla").exclude  # Nikola Tesla is spelled out
    assert all(set(ex.topics) <= IDS for ex in schema.exemplars)


def test_normalisation_joins_spellings() -> None:
    assert normalize_phrase("U.S.-China") == normalize_phrase("u s china")
    assert tokenize("DeepSeek’s R1") == ["deepseek", "r1"]
    assert normalize_phrase("Ernie 4.5") == "ernie 4 5"


def test_at_lexicon_condition_is_parsed() -> None:
    schema = load_topics(SCHEMA)
    near = {t.phrase: t.near for t in schema.topic("open-source-ai").keywords}
    assert near["open source"] == "ai"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "topics.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ('colour = "red"\n', "topic.nvidia.colour"),
        ('keywords = ["gpu @nope"]\n', "topic.nvidia.keywords"),
        ('requires = ["nope"]\n', "topic.nvidia.requires"),
        ("names = [3]\n", "topic.nvidia.names"),
        ('[[exemplar]]\nmatch = "x"\ntopics = ["tesla"]\n', "exemplar[0].topics"),
    ],
)
def test_mistakes_name_the_key(tmp_path: Path, extra: str, key: str) -> None:
    text = MINIMAL.replace('names = ["nvidia"]\n', "") if extra.startswith("names") else MINIMAL
    with pytest.raises(ConfigError) as err:
        load_topics(write(tmp_path, text + extra))
    assert err.value.key == key
    assert err.value.path.endswith("topics.toml")


def test_duplicate_and_bad_ids(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="duplicate"):
        load_topics(write(tmp_path, MINIMAL + MINIMAL.split("[lexicons]")[1].split("\n", 2)[2]))
    with pytest.raises(ConfigError, match="lower-case id"):
        load_topics(write(tmp_path, MINIMAL.replace('"nvidia"\nname', '"Nvidia Corp"\nname')))


def test_unreadable_or_invalid_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_topics(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_topics(write(tmp_path, "[[topic]\n"))
    with pytest.raises(ConfigError, match="at least one"):
        load_topics(write(tmp_path, "[lexicons]\n"))


def test_words_are_parsed_and_checked(tmp_path: Path) -> None:
    schema = load_topics(write(tmp_path, 'words = ["投资者", "Open Source"]\n' + MINIMAL))
    assert schema.words == ("投 资 者", "open source")
    with pytest.raises(ConfigError) as err:
        load_topics(write(tmp_path, "words = [3]\n" + MINIMAL))
    assert err.value.key == "words"
