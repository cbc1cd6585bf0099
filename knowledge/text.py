"""Text helpers shared by indexing and querying: tokens for English and Chinese, safe titles."""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Callable

# CJK unified ideographs (and extension A): Chinese has no spaces, so it is indexed as
# overlapping character bigrams plus single characters, which needs no dictionary and matches
# words a segmenter would split differently in the question and in the material.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]+|[a-z0-9]+")
_IS_CJK = re.compile(rf"[{_CJK}]")

STOPWORDS = frozenset(
    """a an and are as at be been but by can could did do does for from had has have how i if in
    into is it its me my of on or our so than that the their them then there these they this to
    up us was we were what when where which while who whom why will with would you your about
    tell explain please know""".split()
)
ZH_STOP = frozenset("的了是在和有我你他她它们吗呢吧啊么什怎这那个也就都会能要")


def has_cjk(text: str) -> bool:
    return _IS_CJK.search(text) is not None


def cjk_ratio(text: str) -> float:
    """Share of letters that are Chinese characters: picks the fusion weights of a query."""
    letters = [c for c in text if c.isalnum()]
    if not letters:
        return 0.0
    return sum(1 for c in letters if _IS_CJK.match(c)) / len(letters)


def _stem(word: str) -> str:
    if len(word) > 5 and word.endswith("ing"):
        return word[:-3]
    if len(word) > 4 and word.endswith("ed"):
        return word[:-2]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def tokens(text: str) -> list[str]:
    """Index terms: stemmed English words without stopwords; Chinese bigrams and characters."""
    out: list[str] = []
    for match in _TOKEN.finditer(unicodedata.normalize("NFKC", text).lower()):
        run = match.group()
        if _IS_CJK.match(run):
            out.extend(c for c in run if c not in ZH_STOP)
            out.extend(run[i : i + 2] for i in range(len(run) - 1))
        elif run not in STOPWORDS:
            out.append(_stem(run))
    return out


@functools.cache
def jieba_words() -> Callable[[str], list[tuple[str, str]]]:
    """jieba's segmenter with its part-of-speech tags: (word, tag) pairs of a Chinese text.
    Blocking on first use (loads the dictionary, a second or two); the engine loads it at
    start."""
    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)  # it logs its dictionary loading at INFO

    def segment(text: str) -> list[tuple[str, str]]:
        return [(pair.word, pair.flag) for pair in jieba.posseg.cut(text)]

    return segment


def in_jieba_dictionary(word: str) -> bool:
    """Whether jieba's dictionary (about 350,000 words) lists `word`."""
    import jieba

    jieba_words()  # the dictionary is loaded with the segmenter
    return bool(jieba.dt.FREQ.get(word))


def jieba_cut(text: str) -> list[str]:
    """The words of a Chinese text, as jieba segments it without tagging (faster)."""
    import jieba

    jieba_words()
    return jieba.lcut(text)  # type: ignore[no-any-return]


_UNSAFE = re.compile(r"[\x00-\x1f\x7f<>\"'`\\/|:*?{}\[\]]+")


def safe_title(name: str, *, fallback: str = "document", max_len: int = 120) -> str:
    """A display title from an uploaded file name: no directories, no control or markup
    characters. The result is only ever shown, never used as a path."""
    base = re.split(r"[\\/]", unicodedata.normalize("NFKC", name))[-1]
    base = _UNSAFE.sub(" ", base)
    base = re.sub(r"\s+", " ", base).strip(" .")
    return base[:max_len].strip() or fallback


def snippet(text: str, *, max_chars: int = 160) -> str:
    """The start of a passage, cut at a word or sentence boundary where possible."""
    flat = " ".join(text.split())
    if len(flat) <= max_chars:
        return flat
    cut = flat[:max_chars]
    space = cut.rfind(" ")
    if space > max_chars // 2:
        cut = cut[:space]
    return cut.rstrip(",;:") + "…"
