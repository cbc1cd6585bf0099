"""The wrong-fact guard: a reply grounded in course material must agree with it.

A small model handed the right passage still changes its numbers ("Earth orbits the Sun in 265
days") and names. Before a clause is shown or spoken, each number and each capitalised name in it
is looked for in the material, the question and the conversation so far; a clause that states
one found in none of them contradicts the material. It is replaced by the material's own
sentence that best answers the question, and the reply ends there: what followed would build on
the wrong fact.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field

from knowledge.chunking import split_sentences
from knowledge.index import Passage
from knowledge.prompt import focus
from knowledge.text import has_cjk, tokens

_DIGITS = re.compile(r"\d+(?:[.,]\d+)*")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_EN_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
_EN_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_EN_NUMBER = re.compile(
    r"\b(?:(?:" + "|".join([*_EN_UNITS, *_EN_SCALES]) + r")(?:[\s-]+(?:and\s+)?|\b))+",
    re.IGNORECASE,
)
_ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
              "七": 7, "八": 8, "九": 9}  # fmt: skip
_ZH_SCALES = {"十": 10, "百": 100, "千": 1000, "万": 10_000}
_ZH_NUMBER = re.compile("[零〇一二两三四五六七八九十百千万]{2,}|[三四五六七八九十百千万]")
# A capitalised word inside a sentence: a name (Mercury, Newton, Jupiter).
_NAME = re.compile(r"(?<=[a-z,;:] )[A-Z][a-z]{2,}")
# Words that start capitalised for other reasons.
_NOT_NAMES = {"I", "The", "This", "That", "It", "In", "On", "And", "But", "So", "Yes", "No"}


def _en_value(words: str) -> int:
    total, current = 0, 0
    for word in re.split(r"[\s-]+", words.lower()):
        if word in _EN_UNITS:
            current += _EN_UNITS[word]
        elif word == "hundred":
            current = max(current, 1) * 100
        elif word in _EN_SCALES:
            total += max(current, 1) * _EN_SCALES[word]
            current = 0
    return total + current


def _zh_value(text: str) -> int:
    total, section, digit = 0, 0, 0
    for ch in text:
        if ch in _ZH_DIGITS:
            digit = _ZH_DIGITS[ch]
        elif ch == "万":
            total += (section + digit) * 10_000
            section, digit = 0, 0
        elif ch in _ZH_SCALES:
            section += max(digit, 1) * _ZH_SCALES[ch]
            digit = 0
    return total + section + digit


def numbers(text: str) -> set[str]:
    """Every number stated in `text`, as digits ("24", "9.8"), whether written in digits, English
    words or Chinese numerals."""
    found = {m.group().replace(",", "") for m in _DIGITS.finditer(text)}
    for m in _EN_NUMBER.finditer(text):
        words = m.group().strip()
        # "one of the planets", "the two of them": counting words, rarely a stated fact.
        if words.lower() not in {"one", "two", "and"}:
            found.add(str(_en_value(words)))
    for m in _ZH_NUMBER.finditer(text):
        found.add(str(_zh_value(m.group())))
    return found


# More numbers than this in a question and none is worked out from them (pairs grow fast).
MAX_WORKED = 6


def worked(given: set[str]) -> set[str]:
    """What a worked example may state from the student's own numbers ("a rectangle 6 cm by
    4 cm" has an area of 24): their sums, differences, products, whole quotients and squares.
    Not in the material, yet no contradiction of it."""
    values = sorted({float(n) for n in given if _NUMBER.fullmatch(n)})[:MAX_WORKED]
    out: set[float] = set()
    for a in values:
        out.add(a * a)
        for b in values:
            out.update((a + b, a - b, a * b))
            if b and (a / b).is_integer():
                out.add(a / b)
    return {str(int(v)) if v.is_integer() else f"{v:g}" for v in out}


def names(text: str) -> set[str]:
    return {n for n in _NAME.findall(text) if n not in _NOT_NAMES}


@dataclass
class FactGuard:
    """Checks clauses of a reply against the material it was grounded in.

    A clause contradicts the material when it states a number (or a name) that the material,
    the question and the conversation never state, while the material sentence it is about
    (the one sharing most of its terms) states another. A number the material is silent on
    ("the heart has four chambers" beside notes on how the heart pumps) is not a contradiction:
    the model may know more than the notes.
    """

    passages: list[Passage]
    question: str
    known_text: str = ""
    """Everything else the reply may repeat facts from (the conversation so far, the tutor's
    name and subject)."""
    corrections: int = 0
    """Clauses replaced by the material's own sentence."""
    _numbers: set[str] = field(init=False)
    _names: set[str] = field(init=False)
    _sentences: list[tuple[set[str], set[str], set[str]]] = field(init=False)

    def __post_init__(self) -> None:
        allowed = " ".join([*(p.text for p in self.passages), self.question, self.known_text])
        self._numbers = numbers(allowed) | worked(numbers(self.question))
        self._names = {n.lower() for n in re.findall(r"[A-Za-z]+", allowed)}
        self._sentences = [
            (set(tokens(sentence)), numbers(sentence), {n.lower() for n in names(sentence)})
            for p in self.passages
            for sentence in split_sentences(p.text)
        ]

    def _about(self, clause: str) -> tuple[set[str], set[str]] | None:
        """The numbers and names of the material sentence `clause` is about, if any is."""
        terms = set(tokens(clause))
        if not terms:
            return None
        best, overlap = None, 0.0
        for sentence_terms, stated, named in self._sentences:
            shared = len(terms & sentence_terms) / len(terms)
            if shared > overlap:
                best, overlap = (stated, named), shared
        return best if overlap >= ABOUT else None

    def contradicts(self, clause: str) -> bool:
        """Whether `clause` states a number or a name where the material states another."""
        new_numbers = {n for n in numbers(clause) if n not in self._numbers}
        new_names = {n for n in names(clause) if n.lower() not in self._names}
        if not new_numbers and not new_names:
            return False
        about = self._about(clause)
        if about is None:
            return False
        stated, named = about
        return bool((new_numbers and stated) or (new_names and named))

    def correction(self) -> str:
        """The material's own sentence that best answers the question."""
        best = self.passages[0]
        return focus(best.text, self.question).strip()


# Share of a clause's terms found in one material sentence for the clause to be about it.
ABOUT = 0.4


_WORDS = re.compile(r"\S+\s*|\s+")
_CLAUSE_END = re.compile(r"[.!?;。！？；，,](?=\s|$)|[。！？；，]")


def _clause_end(text: str) -> int | None:
    """Where the first clause of `text` ends, if it is complete (punctuation with more after it):
    past the whitespace after the punctuation, which goes with the clause it ends."""
    m = _CLAUSE_END.search(text)
    if m is None or m.end() >= len(text):
        return None
    cut = m.end()
    while cut < len(text) and text[cut].isspace():
        cut += 1
    return cut


async def clauses(pieces: AsyncIterator[str]) -> AsyncGenerator[str]:
    """Regroup streamed pieces into clauses (each ending at punctuation), the rest at the end."""
    buffer = ""
    try:
        async for piece in pieces:
            buffer += piece
            while (cut := _clause_end(buffer)) is not None:
                yield buffer[:cut]
                buffer = buffer[cut:]
        if buffer:
            yield buffer
    finally:
        # Stopping early must stop the model too, not leave it generating for nobody.
        close = getattr(pieces, "aclose", None)
        if close is not None:
            await close()


async def guarded(pieces: AsyncIterator[str], guard: FactGuard) -> AsyncGenerator[str]:
    """`pieces` word by word, until a clause contradicts the material: then the material's own
    sentence instead, and nothing more (`guard.corrections` counts it).

    A clause is checked once it ends, but its words before the first number or name go out as
    they come: they state nothing the guard checks, and holding a whole clause back would
    hold back the first words the student hears (a clause is a second or more of the model's
    time on a CPU). If the clause then turns out wrong, the correction follows those words.
    """
    clause, sent, started = "", 0, False
    try:
        async for piece in pieces:
            clause += piece
            while (cut := _clause_end(clause)) is not None:
                done, clause = clause[:cut], clause[cut:]
                if guard.contradicts(done):
                    yield _corrected(guard, started or sent > 0)
                    return
                for word in _WORDS.findall(done[sent:]):
                    yield word
                sent, started = 0, True
            safe = _unchecked_end(clause)
            if safe > sent:
                for word in _WORDS.findall(clause[sent:safe]):
                    yield word
                sent = safe
        if clause.strip() and guard.contradicts(clause):
            yield _corrected(guard, started or sent > 0)
            return
        for word in _WORDS.findall(clause[sent:]):
            yield word
    finally:
        # Stopping early must stop the model too, not leave it generating for nobody.
        close = getattr(pieces, "aclose", None)
        if close is not None:
            await close()


def _corrected(guard: FactGuard, after_words: bool) -> str:
    guard.corrections += 1
    correction = guard.correction()
    return f" {correction}" if after_words and not has_cjk(correction) else correction


# Where a number or a name may start: digits, Chinese numerals, number words, a capital inside
# a sentence (as `_NAME` finds names).
_CHECKED = re.compile(
    r"\d|[零〇一二两三四五六七八九十百千万]|(?<=[a-z,;:] )[A-Z]|(?i:\b(?:"
    + "|".join([*_EN_UNITS, *_EN_SCALES])
    + r"))"
)


def _unchecked_end(clause: str) -> int:
    """How much of an unfinished `clause` can go out before its check: whole words up to its
    first number or name (an English word is whole once a space follows it; the last Chinese
    character waits, as it may begin a numeral)."""
    m = _CHECKED.search(clause)
    end = m.start() if m else len(clause)
    if has_cjk(clause[:end]):
        return max(0, end - 1) if m is None else end
    space = clause.rfind(" ", 0, end + 1 if m is None else end)
    return space + 1 if space >= 0 else 0


SENTENCE_END = re.compile(r"[.!?](?=\s|$)|[。！？]")


async def at_most_sentences(pieces: AsyncIterator[str], limit: int) -> AsyncGenerator[str]:
    """`pieces` as they come, up to the end of the `limit`-th sentence: a spoken answer is two or
    three sentences, never a lecture (a small model asked for a recipe writes a page)."""
    seen = 0
    # A dot that ends a piece ends a sentence only if what follows starts with a space: "9."
    # then "8" is a number.
    dot_pending = False
    try:
        async for piece in pieces:
            if dot_pending and piece[:1].isspace():
                seen += 1
                if seen >= limit:
                    return
            dot_pending = False
            for m in SENTENCE_END.finditer(piece):
                if m.group() == "." and m.end() == len(piece):
                    dot_pending = True
                    continue
                seen += 1
                if seen >= limit:
                    yield piece[: m.end()]
                    return
            yield piece
    finally:
        close = getattr(pieces, "aclose", None)
        if close is not None:
            await close()
