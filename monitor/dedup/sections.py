"""Splitting a seed compilation into its articles: a section starts at a short headline
line followed by a short caption line (the layout of seeds/002)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    title: str
    text: str


def _is_headline(line: str) -> bool:
    return 15 <= len(line) <= 150 and not line.endswith((".", ":"))


def _is_caption(line: str) -> bool:
    return 0 < len(line) <= 40 and not line.endswith((".", ":"))


def split_sections(text: str) -> list[Section]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    starts = [
        i for i in range(len(lines) - 1) if _is_headline(lines[i]) and _is_caption(lines[i + 1])
    ]
    detected = set(starts)
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    sections = []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        # The caption under a headline labels a picture; it is not part of the story.
        skip = 2 if start in detected else 1
        body = lines[start + skip : end]
        sections.append(Section(lines[start], "\n".join(body)))
    return sections
