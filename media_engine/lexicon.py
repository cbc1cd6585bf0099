"""Is this a real word? A dictionary look-up (wordfreq's word lists, offline) that lets the
engine ask back about a term nobody uses — made up, or misheard by the speech recognition —
instead of letting the model invent an explanation for it."""

from __future__ import annotations

import functools

# wordfreq knows a word when it was seen often enough to be listed at all; a Zipf frequency of
# 1.0 is about once per hundred million words, rarer than "chlorophyll" (2.6) or "mitochondria"
# (2.5) and far above an invented "zorbium" (0).
MIN_ZIPF = 1.0


@functools.cache
def _zipf() -> object:
    import wordfreq

    return wordfreq.zipf_frequency


def known_word(word: str, language: str) -> bool:
    """Whether `word` is a word of `language` that people use. Blocking on first use (loads the
    word list, ~0.3 s); `warm` does that at start."""
    zipf = _zipf()
    return bool(zipf(word, language) >= MIN_ZIPF)  # type: ignore[operator]


def warm() -> None:
    known_word("photosynthesis", "en")
