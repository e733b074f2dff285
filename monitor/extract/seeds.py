"""Read seed documents (txt, md, html, jsonl) and split compilations into sections. Pure."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from monitor.errors import UsageError
from monitor.extract.page import extract_article

SEED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".jsonl")
_PARAGRAPHS = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s")
_NO_HEADING_END = (".", ":", ";", ",")


@dataclass(frozen=True)
class Section:
    title: str
    text: str


@dataclass(frozen=True)
class SeedDoc:
    key: str  # file name relative to the seeds folder, or "file.jsonl#id"
    sha256: str
    title: str
    sections: tuple[Section, ...]


def _is_heading(p: str, limit: int) -> bool:
    return 0 < len(p) <= limit and "\n" not in p and not p.endswith(_NO_HEADING_END)


def guess_title(text: str) -> str:
    """A title for a text without one: its first sentence, shortened."""
    first = text.strip().split("\n", 1)[0].lstrip("#").strip()  # a Markdown heading
    sentence = _SENTENCE_END.split(first, maxsplit=1)[0]
    return sentence if len(sentence) <= 140 else sentence[:137].rsplit(" ", 1)[0] + "…"


def split_sections(text: str) -> list[Section]:
    """Split a compilation of short articles into sections.

    A compilation is recognised by its layout: each article starts with a headline
    paragraph, then a short caption line (an image caption such as "AI" or "A Chatbot"),
    then body paragraphs. Sub-headings inside an article are followed by body text
    directly, so they do not start a section. A text with fewer than two such headlines
    is one section.
    """
    paras = [p.strip() for p in _PARAGRAPHS.split(text.replace("\r\n", "\n")) if p.strip()]
    starts = [
        i
        for i in range(len(paras) - 2)
        if _is_heading(paras[i], 160) and _is_heading(paras[i + 1], 45) and len(paras[i + 2]) > 100
    ]
    if len(starts) < 2 or starts[0] != 0:
        body = "\n\n".join(paras)
        return [Section(title=guess_title(body), text=body)] if body else []
    sections = []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(paras)
        sections.append(Section(title=paras[start], text="\n\n".join(paras[start + 2 : end])))
    return sections


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_seed_file(path: Path, key: str) -> list[SeedDoc]:
    """Read one seed file; a jsonl file gives one document per line."""
    suffix = path.suffix.lower()
    if suffix not in SEED_SUFFIXES:
        raise UsageError(f"{path}: unsupported seed file type (use {', '.join(SEED_SUFFIXES)})")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from exc
    if suffix == ".jsonl":
        return list(_read_jsonl(path, key, data))
    if suffix in (".html", ".htm"):
        extracted = extract_article(data, mode="precision")
        if extracted is None:
            raise UsageError(f"{path}: no article text found in this HTML")
        text, title = extracted.text, extracted.title
    else:
        text, title = data.decode("utf-8", errors="replace"), None
    sections = split_sections(text)
    if not sections:
        raise UsageError(f"{path}: the document is empty")
    if title and len(sections) == 1:
        sections = [Section(title=title, text=sections[0].text)]
    doc_title = title or (sections[0].title if len(sections) == 1 else path.stem)
    return [SeedDoc(key=key, sha256=_digest(data), title=doc_title, sections=tuple(sections))]


def _read_jsonl(path: Path, key: str, data: bytes) -> list[SeedDoc]:
    docs = []
    for n, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}:{n}: not valid JSON: {exc.msg}") from None
        text = record.get("text") if isinstance(record, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise UsageError(f'{path}:{n}: each line needs a non-empty "text"')
        ident = str(record.get("id", n))
        title = record.get("title")
        sections = split_sections(text)
        if isinstance(title, str) and title.strip() and len(sections) == 1:
            sections = [Section(title=title.strip(), text=sections[0].text)]
        docs.append(
            SeedDoc(
                key=f"{key}#{ident}",
                sha256=_digest(line.encode()),
                title=title.strip()
                if isinstance(title, str) and title.strip()
                else sections[0].title,
                sections=tuple(sections),
            )
        )
    return docs
