"""A course's subject vocabulary: the rarer words of its material, as speech-recognition hints.

Whisper mishears the terms a lesson turns on ("chlorophyll", "叶绿体") more often than everyday
words; faster-whisper's `hotwords` puts a few of them before the decoder so it expects them.
`hotwords` picks them from the material's text alone, with no model: words of the subject
that are rare in the language at large (wordfreq's Zipf scale: 4.0 is about once in ten
thousand words), the ones the material uses most first.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable

from knowledge.text import jieba_cut

# Below this a word is not everyday language (Zipf: "planet" 4.7, "oxygen" 4.3, "magnet" 3.6,
# "photosynthesis" 3.0); 6 letters or more leaves out short words the model rarely misses.
MAX_ZIPF = 4.0
MIN_LETTERS = 6
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_ZH_WORD = re.compile(rf"[{_CJK}]{{2,}}")
_LATIN = "A-Za-z\u00c0-\u024f"
_WORD = re.compile(rf"[{_LATIN}]+(?:['’-][{_LATIN}]+)*")


def hotwords(texts: list[str], language: str, *, limit: int = 40) -> str:
    """Up to `limit` subject terms of `texts` (a course's material) in `language`, joined by
    spaces, most frequent in the material first; "" for a language without a word list here
    (only "en" and "zh" have one). Blocking: loads jieba's and wordfreq's dictionaries on first
    use (about a second)."""
    if limit <= 0:
        return ""
    if language == "zh":
        counts, forms = chinese_words(texts), None
    elif language == "en":
        counts, forms = _english_words(texts)
    else:
        return ""
    frequency = zipf()
    # Counter.most_common keeps first-seen order among equal counts: the result is stable.
    picked = [w for w, _ in counts.most_common() if frequency(w, language) < MAX_ZIPF][:limit]
    return " ".join(forms[w] if forms else w for w in picked)


def _english_words(texts: Iterable[str]) -> tuple[Counter[str], dict[str, str]]:
    """Counts of the long words (lowercase, a plural counted with its singular where the
    material has both) and the form to write each in: capitalised only where the material
    capitalises it mid-sentence and never writes it in lower case (a name such as "Jupiter")."""
    counts: Counter[str] = Counter()
    lower: set[str] = set()
    named: dict[str, str] = {}
    for text in texts:
        text = unicodedata.normalize("NFKC", text).replace("\u2019", "'")
        for match in _WORD.finditer(text):
            word = match.group().removesuffix("'s")
            if sum(c.isalpha() for c in word) < MIN_LETTERS or word.isupper():
                continue  # short, or an acronym read letter by letter
            key = word.lower()
            counts[key] += 1
            if word == key:
                lower.add(key)
            elif not _sentence_start(text, match.start()):
                named.setdefault(key, word)
    for key in [k for k in counts if k.endswith("s") and k[:-1] in counts]:
        counts[key[:-1]] += counts.pop(key)
    return counts, {key: named.get(key, key) if key not in lower else key for key in counts}


def _sentence_start(text: str, at: int) -> bool:
    before = text[max(0, at - 16) : at].rstrip(" \t\"'(*_")
    return not before or before[-1] in ".!?:;#\n-|>"


def chinese_words(texts: Iterable[str]) -> Counter[str]:
    """Counts of the words of two or more Chinese characters, as jieba segments them."""
    counts: Counter[str] = Counter()
    for text in texts:
        for run in _ZH_WORD.finditer(unicodedata.normalize("NFKC", text)):
            counts.update(w for w in jieba_cut(run.group()) if len(w) >= 2)
    return counts


@functools.cache
def zipf() -> Callable[[str, str], float]:
    """wordfreq's Zipf frequency of a word in a language (0 for words it does not know)."""
    import wordfreq

    return wordfreq.zipf_frequency


def as_list(words: str, language: str) -> str:
    """`hotwords` written as a punctuated list ("Fossil, dioxide, magnet." / "蒸发、光合作用。"),
    the form to give Whisper: it copies the style of what precedes the audio, and a bare run of
    lowercase words makes it drop capitals and punctuation (English) or put spaces between
    Chinese words."""
    items = words.split()
    if not items:
        return ""
    if language == "zh":
        return "、".join(items) + "。"
    text = ", ".join(items) + "."
    return text[0].upper() + text[1:]
