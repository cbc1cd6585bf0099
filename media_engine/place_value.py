"""What a digit is worth in a number: "What's the 6 worth in 8612?", "8612里的6表示多少？".

Place value is asked in every primary maths class, and its answer is exact: the small model
answered "6", and the notes' sentence about it holds none of the question's numbers. Like
`media_engine.arithmetic`, it is computed, not guessed, and said in the question's language.
"""

from __future__ import annotations

import re
import unicodedata
from fractions import Fraction

from knowledge.text import has_cjk
from media_engine.arithmetic import Calculation
from media_engine.numbers import NUMERAL, exact_text, read_english, zh_number

_EN_PLACES = [
    "ones",
    "tens",
    "hundreds",
    "thousands",
    "ten thousands",
    "hundred thousands",
    "millions",
    "ten millions",
    "hundred millions",
]
_EN_DECIMAL_PLACES = ["tenths", "hundredths", "thousandths"]
_ZH_PLACES = ["个", "十", "百", "千", "万", "十万", "百万", "千万", "亿"]
_ZH_DECIMAL_PLACES = ["十分", "百分", "千分"]

# The question asks what a digit is worth, stands for or where it sits.
_EN_ASKS = re.compile(r"\b(worth|value|stand for|stands for|represents?|place|mean)\b")
_ZH_ASKS = re.compile(r"表示|代表|位上|什么位|哪一?位|位值|值多少")
_EN_DIGIT = re.compile(r"\b(?:the|digit)\s+#(\d+)\b")
_EN_IN = re.compile(r"\bin\s+(?:the\s+number\s+)?#(\d+)\b")
_ZH_IN = re.compile(f"(?P<n>{NUMERAL}+)(?:里面?|中)的?[，,]?\\s*(?:数字)?(?P<d>{NUMERAL})")
_ZH_DIGIT_IN = re.compile(f"(?:数字)?(?P<d>{NUMERAL})在(?P<n>{NUMERAL}+)(?:里面?|中)")
_MAX_DIGITS = 9


def place_value(question: str) -> Calculation | None:
    """The value of the digit the question asks about in its number; None when it asks no such
    thing: a single digit named as one ("the 6", "digit 6"; "8612里的6") in a number that holds
    it ("in 8612"), and a word asking what it is worth or where it stands. "What is x if 2x =
    12?" names no digit."""
    text = unicodedata.normalize("NFKC", question)
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)
    if has_cjk(text):
        if not _ZH_ASKS.search(text):
            return None
        found = _ZH_IN.search(text)
        if found is not None:
            number, digit = _zh_digits(found["n"]), _zh_digits(found["d"])
        elif (found := _ZH_DIGIT_IN.search(text)) is not None:
            number, digit = _zh_digits(found["n"]), _zh_digits(found["d"])
        else:
            return None
        if number is None or digit is None:
            return None
        return _answer(digit, number, zh=True)
    said, nums = read_english(text)
    if not _EN_ASKS.search(said):
        return None
    named = _EN_DIGIT.search(said)
    within = _EN_IN.search(said)
    if named is None or within is None:
        return None
    return _answer(nums[int(named[1])].text, nums[int(within[1])].text, zh=False)


def _zh_digits(numeral: str) -> str | None:
    """A Chinese or Arabic numeral as digits ("六" is "6", "八千六百一十二" is "8612")."""
    if re.fullmatch(r"\d+(?:\.\d+)?", numeral):
        return numeral
    value = zh_number(numeral)
    if value is None or value < 0:
        return None
    return exact_text(value)


def _answer(digit: str, number: str, *, zh: bool) -> Calculation | None:
    if not re.fullmatch(r"\d", digit) or not re.fullmatch(r"\d+(?:\.\d+)?", number):
        return None
    if len(number) < 2 or digit not in number:
        return None
    whole, _, decimals = number.partition(".")
    if len(whole.lstrip("0")) > _MAX_DIGITS or len(decimals) > len(_EN_DECIMAL_PLACES):
        return None
    places: list[tuple[int, Fraction]] = []  # (place index; negative after the point, value)
    for i, c in enumerate(reversed(whole)):
        if c == digit:
            places.append((i, int(c) * Fraction(10) ** i))
    for i, c in enumerate(decimals, start=1):
        if c == digit:
            places.append((-i, int(c) * Fraction(1, 10**i)))
    places.sort(reverse=True)
    values = [exact_text(value) for _, value in places]
    if zh:
        said = "；".join(
            f"{digit}在{_zh_place(i)}位上，表示{digit}个{_zh_unit(i)}"
            + (f"，也就是{value}" if value != digit else "")
            for (i, _), value in zip(places, values, strict=True)
        )
        spoken = f"{number}里的{said}。"
    else:
        said = "; ".join(
            f"the {digit} in the {_en_place(i)} place is worth {value}"
            for (i, _), value in zip(places, values, strict=True)
        )
        spoken = f"In {number}, {said}."
    return Calculation(expression=f"{digit} in {number}", result=", ".join(values), spoken=spoken)


def _en_place(i: int) -> str:
    return _EN_PLACES[i] if i >= 0 else _EN_DECIMAL_PLACES[-i - 1]


def _zh_place(i: int) -> str:
    return _ZH_PLACES[i] if i >= 0 else _ZH_DECIMAL_PLACES[-i - 1]


def _zh_unit(i: int) -> str:
    return ("一" if i == 0 else _ZH_PLACES[i]) if i >= 0 else exact_text(Fraction(1, 10**-i))
