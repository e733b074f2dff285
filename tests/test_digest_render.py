"""The digest of a fixed day: query + render against golden files, grouping and escaping."""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from monitor.digest import build_digest, render_digest
from monitor.digest.clean import excerpt, safe_url, single_line, tidy_title
from monitor.digest.content import DigestData
from monitor.digest.render import RenderedDigest
from monitor.store.db import session_scope
from tests.digest_support import DAY, NOW, TOPICS, ZONE, digest_settings, make_db, populate

GOLDEN = Path(__file__).parent / "golden"
# UPDATE_GOLDEN=1 pytest tests/test_digest_render.py rewrites the files; review the diff.
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_db(tmp_path)
    populate(engine)
    return engine


def build(engine: Engine) -> DigestData:
    with session_scope(engine) as session:
        return build_digest(session, DAY, ZONE, digest_settings(), NOW)


def rendered(engine: Engine) -> RenderedDigest:
    return render_digest(build(engine), digest_settings(), TOPICS)


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8"), f"{name} changed (UPDATE_GOLDEN=1)"


def test_golden_text_and_html(engine: Engine) -> None:
    digest = rendered(engine)
    assert digest.subject == "News digest for 2025-03-04"
    check_golden("digest.txt", digest.text)
    check_golden("digest.html", digest.html)


def test_links_to_the_web_view_and_at_most_max_per_topic(engine: Engine) -> None:
    """With [web] base_url the topics and "also reported by" link to `monitor serve`'s pages;
    a topic over `max_per_topic` shows its top stories and "and N more"."""
    settings = digest_settings(web_url="http://news.example:8001", max_per_topic=2)
    digest = render_digest(build(engine), settings, TOPICS)
    check_golden("digest-web.txt", digest.text)
    topic = (
        "http://news.example:8001/monitor/new_stories?topic=deepseek"
        "&amp;since=2025-03-03+23%3A00%3A00&amp;until=2025-03-04+23%3A00%3A00"
    )
    assert f'<a href="{topic}" style="color:#3730a3;' in digest.html  # the heading
    assert f'<a href="{topic}" style="color:#1d4ed8;text-decoration:none;">and 1 more</a>' in (
        digest.html
    )
    assert 'href="http://news.example:8001/monitor/story?id=1"' in digest.html
    assert ">DeepSeek&nbsp;<b>3</b></a>" in digest.html  # the count is the topic's, not shown
    assert digest.html.count("<h3") == 5  # 2 of DeepSeek's 3, Baidu, OpenAI, AI stocks
    plain = render_digest(build(engine), digest_settings(max_per_topic=2), TOPICS)
    assert "and 1 more</p>" in plain.html and "news.example" not in plain.html
    assert " ... and 1 more\n" in plain.text


def test_snippets_skip_the_title_and_boilerplate_and_titles_end_at_a_word() -> None:
    title = "Tongyi Qianwen Goes Open Source"
    text = "Alibaba's Tongyi Qianwen Goes Open Source. Alibaba Cloud opened the code of Qwen on Thursday."
    assert excerpt("", text, title=title) == "Alibaba Cloud opened the code of Qwen on Thursday."
    boiler = "International Trade Today is a service of Warren Communications News."
    assert excerpt(boiler, "Exports rose 3% in May. Imports fell.") == (
        "Exports rose 3% in May. Imports fell."
    )
    assert excerpt(f"{boiler} Exports rose 3% in May, the ministry said on Monday.", "") == (
        "Exports rose 3% in May, the ministry said on Monday."
    )
    assert (
        tidy_title("AI Chips in the Era of Large Models - O")
        == "AI Chips in the Era of Large Models…"
    )
    assert tidy_title("Nvidia shares fall - AP") == "Nvidia shares fall - AP"
    assert tidy_title("word " * 60, 40) == "word word word word word word word word…"


def test_the_html_names_cjk_fonts(engine: Engine) -> None:
    html = rendered(engine).html
    assert "Noto Sans CJK SC" in html and "PingFang SC" in html and "Microsoft YaHei" in html


def test_the_day_is_cut_in_the_configured_zone(engine: Engine) -> None:
    titles = [s.title for s in build(engine).stories]
    assert "Baidu unveils Ernie 5 (00:30 local)" in titles
    assert not any(t.startswith(("Too early", "Too late", "Yesterday")) for t in titles)


def test_duplicates_collapse_into_their_original(engine: Engine) -> None:
    stories = {s.id: s for s in build(engine).stories}
    # no duplicate, no seed-known story, no old one, no untagged one (7)
    assert set(stories) == {1, 5, 6, 8, 15, 16}
    # the chained duplicate (3 -> 2 -> 1) is found; the same outlet's re-post is not "also"
    assert [a.name for a in stories[1].also] == ["CNBC", "The Verge"]


def test_grouped_under_the_main_topic_with_the_others_as_labels(engine: Engine) -> None:
    text = rendered(engine).text
    order = [text.index(f"\n{name.upper()} (") for name in ("DeepSeek", "Baidu", "OpenAI")]
    assert order == sorted(order)
    assert "NVIDIA (" not in text  # the Nvidia story's best topic is ai-stocks
    assert "OTHER (" not in text and "Weekly gadget" not in text  # untagged: left out


def test_untagged_stories_come_last_when_included(engine: Engine) -> None:
    with session_scope(engine) as session:
        data = build_digest(session, DAY, ZONE, digest_settings(include_untagged=True), NOW)
    text = render_digest(data, digest_settings(), TOPICS).text
    assert text.index("\nAI STOCKS (") < text.index("\nOTHER (1)") and "Weekly gadget" in text
    assert "also in: Nvidia, us-china-ai-race" in text  # unknown ids shown as they are


def test_failing_feeds_only_after_the_configured_time(engine: Engine) -> None:
    text = rendered(engine).text
    assert "flaky-blog (flaky.example): failing since 2 Mar 11:00, 7 failed attempts" in text
    assert "briefly-down" not in text


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.tags: set[str] = set()
        self.attrs: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs.update(name for name, _ in attrs)
        self.hrefs += [value or "" for name, value in attrs if name in ("href", "src")]


def test_hostile_feed_fields_are_inert(engine: Engine) -> None:
    html = rendered(engine).html
    parser = _Links()
    parser.feed(html)
    assert all(h.startswith(("https://", "http://", "#")) for h in parser.hrefs), parser.hrefs
    assert not parser.tags & {"script", "img", "iframe", "object", "form", "link"}
    assert not {a for a in parser.attrs if a.startswith("on")}
    assert "&lt;script&gt;alert(&#34;t&#34;)&lt;/script&gt; Evil Bcc: victim@example.com" in html
    assert "Hello click world." in html  # double-escaped markup is markup, stripped
    assert "Also reported by The Verge</p>" in html  # its javascript: URL is not a link


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)", "java\nscript:x",
     "java\tscript:x", "\x01javascript:x", "data:text/html,<b>", "vbscript:x", "//evil.example/",
     "https://", "http://a.example/\x00", "https://a.example/ x", 'https://a.example/"onx=1'],
)  # fmt: skip
def test_only_plain_http_urls_become_links(url: str) -> None:
    assert safe_url(url) is None


def test_http_urls_stay_links() -> None:
    assert safe_url("HTTPS://Example.com/a?b=1&c=2#d") == "HTTPS://Example.com/a?b=1&c=2#d"


def test_single_line_drops_breaks_and_disguises() -> None:
    assert single_line("a\r\nb\u2028c\x85d\u202ee\u200bf\tg") == "a b cdef g"
    assert single_line("x" * 500, 20) == "x" * 19 + "…"


def test_excerpt_is_two_or_three_sentences() -> None:
    text = "One is here. Two is there. Three is near. Four is far."
    assert excerpt(text, "") == "One is here. Two is there. Three is near."
    assert excerpt("Short.", "From the U.S. text. Second one here.") == (
        "From the U.S. text. Second one here."
    )
    assert excerpt("Body. The post X appeared first on Y.", "") == "Body."


def test_empty_day_says_nothing_new(tmp_path: Path) -> None:
    engine = make_db(tmp_path)
    with session_scope(engine) as session:
        data = build_digest(session, DAY, ZONE, digest_settings(), NOW)
    digest = render_digest(data, digest_settings(), {})
    assert digest.stories == 0
    assert "Nothing new today." in digest.text and "Nothing new today." in digest.html
    assert re.search(r"<a href", digest.html) is None
