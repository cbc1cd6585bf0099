"""Course words a speech recogniser wrote as homophones, put right.

Chinese has few syllables and many characters for each: Whisper hears "食物链是什么" and may
write 十五练 or 15链 (shí wǔ liàn for shí wù liàn), 业绿素 for 叶绿素. Its hotwords hint helps
only for the few terms it is given. So a transcript's stretch of three or four characters that
is not a word, and sounds (pinyin without tones, which Whisper gets wrong as often) like exactly
one of the course's own words, is that word, if the sentence then reads it as a word and far
likelier so (jieba's dictionary and word frequencies).
Two characters are too few: "讲讲水" holds 讲水, which sounds like 降水, "内角和是多少" holds 和是
(合适), "1升" sounds like 一生. A real word (水势) is kept even when it sounds like another, and
so is any stretch that sounds like two different course words.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from knowledge.text import in_jieba_dictionary, jieba_cut
from knowledge.vocabulary import chinese_words

_CJK = re.compile(r"[\u3400-\u9fff]")
# One unit of a transcript: a Chinese character, a run of digits (read as a number), or
# anything else (which no word spans).
_UNIT = re.compile(r"[\u3400-\u9fff]|[0-9]{1,4}(?![0-9.])|.", re.DOTALL)
_DIGITS = "零一二三四五六七八九"
SHORTEST, LONGEST = 3, 4
# How much likelier (natural log) the words around must read with the course word than as
# written: 十五练是什么 gains 6.2 as 食物链是什么, 业绿素有什么 12.5, 光和作用需要什 8.9;
# 栖息地为生物提供 as 栖息地微生物提供 only 3.1.
MARGIN = 5.0
_NUMERALS = set("零一二三四五六七八九十百千万两")


def read_number(digits: str) -> str:
    """How a whole number below 10,000 is said in Chinese: 15 → 十五, 305 → 三百零五."""
    n = int(digits)
    if n == 0:
        return _DIGITS[0]
    out, zero = "", False
    for value, name in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d, n = divmod(n, value)
        if d:
            if zero:
                out += _DIGITS[0]
            out += ("" if (value == 10 and d == 1 and not out) else _DIGITS[d]) + name
            zero = False
        elif out:
            zero = True
    return out


def sound(text: str) -> str | None:
    """`text`'s pinyin without tones, one syllable per character ("shi wu lian")."""
    from pypinyin import Style, lazy_pinyin

    syllables = lazy_pinyin(text, style=Style.NORMAL, errors="ignore")
    return " ".join(syllables) if len(syllables) == len(text) else None


@dataclass
class Homophones:
    """The course's words by their sound; `correct` puts right a transcript's homophones."""

    by_sound: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_texts(cls, texts: Iterable[str]) -> Homophones:
        """From the course material's passages: its words of three or four characters."""
        return cls.of_words(w for w in chinese_words(texts) if SHORTEST <= len(w) <= LONGEST)

    @classmethod
    def of_words(cls, words: Iterable[str]) -> Homophones:
        by_sound: dict[str, str | None] = {}
        for word in words:
            key = sound(word)
            if key is not None and not set(word) <= _NUMERALS:  # a number is said as written
                # Two course words that sound alike: neither can be told from the sound.
                by_sound[key] = word if by_sound.get(key, word) == word else None
        return cls({k: w for k, w in by_sound.items() if w is not None})

    def correct(self, text: str) -> str:
        if not self.by_sound or not _CJK.search(text):
            return text
        units = _UNIT.findall(text)
        readings = [read_number(u) if u.isascii() and u.isdigit() else u for u in units]
        out: list[str] = []
        i = 0
        while i < len(units):
            found = self._word_at(units, readings, i)
            if found is None:
                out.append(units[i])
                i += 1
            else:
                word, i = found
                out.append(word)
        return "".join(out)

    def _word_at(self, units: list[str], readings: list[str], i: int) -> tuple[str, int] | None:
        """The course word that units[i:j] sound like, with j; the longest first."""
        heard = ""
        spans: list[tuple[str, int]] = []
        for j in range(i, len(units)):
            if not all(_CJK.match(c) for c in readings[j]):
                break
            heard += readings[j]
            if len(heard) > LONGEST:
                break
            if len(heard) >= SHORTEST:
                spans.append((heard, j + 1))
        for heard, j in reversed(spans):
            written = "".join(units[i:j])
            if in_jieba_dictionary(written) or not _CJK.search(written):
                continue  # a word of its own: what the student said, as far as we can tell
            key = sound(heard)
            word = self.by_sound.get(key) if key is not None else None
            if word is None or word == written:
                continue
            # Put back in its sentence, the course word must read as a word of it, and the words
            # around it be much likelier with it (为生物 is 为 and 生物, not 微生物; 生物提供
            # holds 提供, not 生物体).
            before, after = "".join(units[max(0, i - 3) : i]), "".join(units[j : j + 3])
            fixed, was = before + word + after, before + written + after
            if word in jieba_cut(fixed) and likelihood(fixed) - likelihood(was) >= MARGIN:
                return word, j
        return None


def likelihood(text: str) -> float:
    """The log-probability of `text` as jieba's likeliest words, each by its frequency in
    jieba's dictionary (a word it does not know counts as seen once)."""
    import jieba

    jieba_cut("")
    jieba.dt.check_initialized()
    total = math.log(jieba.dt.total)
    return sum(math.log(jieba.dt.FREQ.get(w) or 1) - total for w in jieba.lcut(text, HMM=False))
