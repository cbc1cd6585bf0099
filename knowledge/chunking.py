"""Sections to passages: sentence-aligned chunks of about one paragraph, slightly overlapping.

Sizes are counted in "units" where a Chinese character counts as 2.5 Latin characters, so a
Chinese passage carries about as much content as an English one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from knowledge.parsing import Section
from knowledge.text import has_cjk

TARGET_UNITS = 800
MAX_UNITS = 1200

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？；])")


@dataclass(frozen=True)
class Chunk:
    text: str
    location: str


def units(text: str) -> float:
    return sum(2.5 if has_cjk(c) else 1.0 for c in text)


def split_sentences(paragraph: str) -> list[str]:
    parts = [s.strip() for s in _SENTENCE_END.split(paragraph)]
    out: list[str] = []
    for part in parts:
        while part and units(part) > MAX_UNITS:  # a run-on "sentence": cut it
            cut = _cut_at(part, MAX_UNITS)
            out.append(part[:cut].strip())
            part = part[cut:].strip()
        if part:
            out.append(part)
    return out


def _cut_at(text: str, limit: float) -> int:
    total = 0.0
    for i, c in enumerate(text):
        total += 2.5 if has_cjk(c) else 1.0
        if total > limit:
            space = text.rfind(" ", 0, i)
            return space if space > i // 2 else i
    return len(text)


def _wide(c: str) -> bool:
    return has_cjk(c) or "\u3000" <= c <= "\u303f" or "\uff00" <= c <= "\uffef"


def _join(a: str, b: str) -> str:
    if not a:
        return b
    return a + ("" if _wide(a[-1]) and _wide(b[:1] or " ") else " ") + b


def _flatten(paragraph: str) -> str:
    out = ""
    for line in paragraph.split():
        out = _join(out, line)
    return out


def chunk_sections(sections: Iterable[Section]) -> list[Chunk]:
    """Passages of about TARGET_UNITS; each starts with the previous one's last short sentence."""
    chunks: list[Chunk] = []
    for section in sections:
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", section.text) if p.strip()]
        current = ""
        for paragraph in paragraphs:
            for sentence in split_sentences(_flatten(paragraph)):
                if current and units(current) + units(sentence) > TARGET_UNITS:
                    chunks.append(Chunk(text=current, location=section.location))
                    last = split_sentences(current)[-1]
                    current = last if units(last) < TARGET_UNITS / 4 else ""
                current = _join(current, sentence)
        if current:
            chunks.append(Chunk(text=current, location=section.location))
    return chunks
