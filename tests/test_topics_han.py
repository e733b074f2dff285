"""Chinese and mixed Chinese/English tagging: the Chinese dev set, near-misses, traditional
characters, word counting, and end to end a Chinese page polled from a loopback feed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import Db, Site, article_html, write_config

from monitor.config.sections import TaggingSettings
from monitor.topics.han import show
from monitor.topics.schema import load_topics, normalize_phrase, tokenize, word_positions
from monitor.topics.tagger import Tagger

ROOT = Path(__file__).resolve().parent.parent
ZH_DEV = [
    json.loads(line) for line in (ROOT / "tests/data/topics_zh_dev.jsonl").open(encoding="utf-8")
]


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger(load_topics(ROOT / "seeds/topics.toml"), TaggingSettings())


def test_han_characters_are_tokens_and_traditional_forms_fold() -> None:
    assert tokenize("DeepSeek发布V3.1") == ["deepseek", "发", "布", "v3", "1"]
    # Taiwan usage and traditional characters meet the simplified aliases; full-width Latin too.
    assert tokenize("輝達晶片") == tokenize("英伟达芯片")
    assert tokenize("開源模型 ＧＰＵ") == ["开", "源", "模", "型", "gpu"]
    assert show(normalize_phrase("MIT许可证")) == "mit许可证"


def test_chinese_characters_count_as_words_for_length() -> None:
    pos = word_positions(tokenize("深度求索发布新模型 and two words"))
    assert pos[-1] == pytest.approx(9 / 1.6 + 3)  # nine characters, three words
    # The same article in English words and in Chinese characters gets the same length norm.
    assert word_positions(tokenize("字" * 1600))[-1] == pytest.approx(1000)
    # Without Han characters every token is one word, positions 0.0, 1.0, 2.0, ...
    assert word_positions(tokenize("DeepSeek's R1, 한국 and ＧＰＵ")) == [
        0.0,
        1.0,
        2.0,
        3.0,
        4.0,
        5.0,
    ]
    assert word_positions([]) == [0.0]


def test_chinese_dev_set(tagger: Tagger) -> None:
    tp = fp = fn = 0
    for row in ZH_DEV:
        got, want = set(tagger.tag(row["title"], row["text"]).topics), set(row["topics"])
        tp, fp, fn = tp + len(got & want), fp + len(got - want), fn + len(want - got)
        if not want:
            assert got == set(), row["id"]
    assert 2 * tp / (2 * tp + fp + fn) >= 0.9
    assert len(ZH_DEV) >= 40


@pytest.mark.parametrize(
    ("title", "text", "want", "not_want"),
    [
        # A company topic needs no AI angle.
        (
            "百度地图上线新功能",
            "百度地图今天发布新版本，新增公交到站提醒，百度表示用户量创新高。",
            {"baidu"},
            set(),
        ),
        (
            "尼古拉·特斯拉纪念展开幕",
            "展览展出了特斯拉线圈和尼古拉·特斯拉的手稿，特斯拉一生拥有数百项专利。",
            set(),
            {"tesla"},
        ),
        (
            "Linux内核新版发布",
            "Linux内核以GPL许可证开源发布，开源社区的开发者们提交了上万个补丁，改进了调度器。",
            set(),
            {"open-source-ai"},
        ),
        (
            "白酒板块大跌 贵州茅台股价下跌5%",
            "贵州茅台股价盘中大跌，市值蒸发数百亿元，投资者担忧旺季销量。白酒板块集体下挫。",
            set(),
            {"ai-stocks"},
        ),
        (
            "水在一百度时沸腾",
            "老师说，水加热到一百度就会沸腾，同学们用温度计测量。",
            set(),
            {"baidu"},
        ),
        # Traditional characters and Taiwan usage.
        (
            "輝達H20晶片對華出口受限",
            "美國商務部通知輝達，H20晶片出口中國須申請許可證，出口管制再度收緊。",
            {"nvidia", "us-china-ai-race"},
            set(),
        ),
        # Mixed Chinese and English names.
        (
            "Alibaba开源Qwen3模型",
            "阿里巴巴发布Qwen3，并以Apache 2.0许可开放权重，开发者可在Hugging Face下载。",
            {"alibaba", "open-source-ai"},
            set(),
        ),
    ],
)
def test_near_misses_traditional_and_mixed(
    tagger: Tagger, title: str, text: str, want: set[str], not_want: set[str]
) -> None:
    got = set(tagger.tag(title, text).topics)
    assert want <= got
    assert not (not_want & got)


def test_reasons_name_the_chinese_alias_its_count_and_place(tagger: Tagger) -> None:
    tagging = tagger.tag("深度求索发布新模型", "深度求索表示，新模型由深度求索团队训练。")
    assert "deepseek" in tagging.topics
    assert "name '深度求索' (title+2x in body)" in tagging.reasons["deepseek"]


def test_words_hide_shorter_aliases(tagger: Tagger) -> None:
    # 投资 (ai-investment) inside 投资者 is not counted; 投资 alone is.
    inside = tagger.tag("", "人工智能模型公司的投资者")
    alone = tagger.tag("", "人工智能模型公司的投资")
    assert "ai-investment" not in inside.scores
    assert "ai-investment" in alone.scores


def _feed(base: str, items: list[tuple[str, str]]) -> str:
    entries = "".join(
        f"<item><title>{title}</title><link>{base}{path}</link><guid>{path}</guid>"
        "<pubDate>Tue, 04 Mar 2025 08:00:00 GMT</pubDate></item>"
        for path, title in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>中文科技</title><link>{base}/</link><description>科技新闻</description>"
        f"{entries}</channel></rss>"
    )


DEEPSEEK = (
    "深度求索发布DeepSeek-V3.1 权重开放下载",
    [
        "杭州人工智能公司深度求索周四发布新一代大模型DeepSeek-V3.1，并将模型权重上传至"
        "Hugging Face，采用MIT许可证，允许商用和二次开发。",
        "新版本支持128K上下文，可以在思考与非思考两种模式之间切换。公司表示，V3.1在编程和"
        "智能体任务上的表现明显好于此前的R1，推理速度也有提升。",
        "多位开发者称，这是今年最重要的开放权重模型之一。深度求索创始人梁文锋很少公开露面，"
        "公司也没有举行发布会。",
    ],
)
TESLA_COIL = (
    "尼古拉·特斯拉诞辰纪念展在贝尔格莱德开幕",
    [
        "为纪念发明家尼古拉·特斯拉，贝尔格莱德特斯拉博物馆本周推出特别展览，展出他的手稿、"
        "实验记录以及复原的特斯拉线圈。",
        "策展人介绍，特斯拉一生拥有三百多项专利，交流电系统至今仍是全球电网的基础。展览还设有"
        "互动区，观众可以亲眼看到线圈放电产生的闪电。",
        "主办方预计展期内将接待超过五万名游客，博物馆延长了周末的开放时间。",
    ],
)


@pytest.mark.backends
def test_chinese_page_polled_from_loopback_feed_is_tagged_and_retag_updates_it(
    site: Site, workdir: Path, db: Db, run_cli
) -> None:  # type: ignore[no-untyped-def]
    base = site.url("").rstrip("/")
    pages = {"/zh/deepseek": DEEPSEEK, "/zh/tesla-coil": TESLA_COIL}
    site.server.expect_request("/zh.xml").respond_with_data(
        _feed(base, [(path, title) for path, (title, _) in pages.items()]),
        content_type="application/rss+xml; charset=utf-8",
    )
    for path, (title, paragraphs) in pages.items():
        site.server.expect_request(path).respond_with_data(
            article_html(title, paragraphs), content_type="text/html; charset=utf-8"
        )
    write_config(workdir, [("zh", f"{base}/zh.xml")])
    assert run_cli("init").code == 0
    result = run_cli("poll", "--all")
    assert result.code == 0, result.err

    def topics() -> dict[str, set[str]]:
        rows = db.rows(
            "SELECT a.canonical_url, t.topic FROM article a "
            "LEFT JOIN article_topic t ON t.article_id = a.id"
        )
        out: dict[str, set[str]] = {}
        for url, topic in rows:
            out.setdefault(str(url).removeprefix(base), set()).update([topic] if topic else [])
        return out

    assert topics() == {"/zh/deepseek": {"deepseek", "open-source-ai"}, "/zh/tesla-coil": set()}

    # `monitor inspect` explains a Chinese tag like an English one: alias, count, place.
    doc = workdir / "zh.txt"
    doc.write_text(DEEPSEEK[0] + "\n\n" + "\n".join(DEEPSEEK[1]), encoding="utf-8")
    human = run_cli("inspect", str(doc))
    assert human.code == 0, human.err
    assert "name '深度求索' (" in human.out

    # Changed tagging settings reach stored articles through `monitor retag`.
    write_config(
        workdir, [("zh", f"{base}/zh.xml")], "[tagging]\nthresholds = { open-source-ai = 0.99 }"
    )
    result = run_cli("retag")
    assert result.code == 0, result.err
    assert "retagged 2 article(s)" in result.out
    assert topics() == {"/zh/deepseek": {"deepseek"}, "/zh/tesla-coil": set()}
