"""Is this a real word? A dictionary look-up (wordfreq's word lists and jieba's dictionary,
offline) that lets the engine ask back about a term nobody uses — made up, or misheard by the
speech recognition — instead of letting the model invent an explanation for it."""

from __future__ import annotations

import re

from knowledge.homophones import Homophones
from knowledge.text import in_jieba_dictionary, jieba_words
from knowledge.vocabulary import zipf

# wordfreq knows a word when it was seen often enough to be listed at all; a Zipf frequency of
# 1.0 is about once per hundred million words, rarer than "chlorophyll" (2.6) or "mitochondria"
# (2.5) and far above an invented "zorbium" (0).
MIN_ZIPF = 1.0

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]{3,}")
_HAN_WORD = re.compile(r"[\u4e00-\u9fff]{2,}")
# A word jieba made up itself can also be a real word glued to a function word ("商是",
# "先算"): a new word ending in one of these is such a fragment, not a term.
_FUNCTION_ENDINGS = frozenset("是的了在有和就都也吗呢吧啊到")


def known_word(word: str, language: str) -> bool:
    """Whether `word` is a word of `language` that people use. Blocking on first use (loads the
    word list, ~0.3 s); `warm` does that at start."""
    return zipf()(word, language) >= MIN_ZIPF


def unknown_words(question: str, language: str) -> list[str]:
    """The words of `question` no dictionary of `language` has (English and Chinese).

    Chinese has no spaces, so its words come from jieba's segmentation, whose dictionary holds
    about 350,000 words; a word it has not got, it guesses from the characters (a hidden Markov
    model). Such a guessed noun is a name nobody writes ("佐比元素"), or a mishearing. Words
    made of two real ones ("蓝莓定理", "the Hendricks rule") are not caught here, but as named
    rules and kinds no school teaches (`media_engine.named_concepts`).
    """
    if language == "zh":
        return [
            word
            for word, flag in jieba_words()(question)
            if flag.startswith("n")
            and _HAN_WORD.fullmatch(word)
            and word[-1] not in _FUNCTION_ENDINGS
            and not in_jieba_dictionary(word)
        ]
    if language == "en":
        return [w for w in _WORD.findall(question) if not known_word(w.lower(), "en")]
    return []  # no check rather than another language's dictionary


def warm() -> None:
    """Load the dictionaries (a second or two), so no question waits for them."""
    unknown_words("What is photosynthesis?", "en")
    unknown_words("光合作用是什么？", "zh")
    Homophones.of_words(["光合作用"]).correct("光和作用是什么？")  # pypinyin's dictionaries
