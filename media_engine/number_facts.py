"""Facts about whole numbers, computed: prime or not, factors, odd or even, the mean of a list.

"Is 9 prime?", "12的因数有哪些？", "What's the mean of 3, 5 and 10?" have exact answers a small
model gets wrong (asked "Is 9 one?" after "What is a prime number?", it answered about the
number 1). Like `media_engine.arithmetic`, they are computed, not guessed, in the question's
language. A follow-up is searched together with the question before it ("What is a prime
number? Is 9 one?"), so the text given here may hold both.
"""

from __future__ import annotations

import re
import unicodedata
from fractions import Fraction

from knowledge.text import has_cjk
from media_engine.arithmetic import Calculation
from media_engine.numbers import NUMERAL, exact_text, read_english, zh_number

# Trial division runs on the event loop: up to 10**9 it takes at most ~16,000 steps (a few
# milliseconds); 10**12 took half a million steps a number, a second or more on 2 busy cores.
MAX_VALUE = 10**9
MAX_LISTED = 200  # primes listed up to this number ("the primes less than 50")

_EN_PRIME = re.compile(r"\bprimes?\b")
_ZH_PRIME = re.compile(r"质数|素数")
_EN_COMPOSITE = re.compile(r"\bcomposite\b")
_ZH_COMPOSITE = re.compile(r"合数")
_EN_FACTORS = re.compile(r"\b(?:factors|divisors)\b")
_ZH_FACTORS = re.compile(r"因数|约数")
_EN_PARITY = re.compile(r"\b(odd|even)\b")
_ZH_PARITY = re.compile(r"奇数|偶数|单数|双数")
_EN_RANGE = re.compile(r"\b(?:less than|under|below|up to|smaller than|between)\b")
_ZH_RANGE = re.compile(r"以内|小于|之间|以下")
# Questions about primes that are not "is this one prime?": left to the model.
_EN_OTHER = re.compile(r"\b(?:how many|first|largest|biggest|smallest|next|twin|why|sum)\b")
_ZH_OTHER = re.compile(r"几个|多少个|最大|最小|第|下一个|孪生|为什么|和是")
_EN_MEAN = re.compile(r"\b(?:mean|average) of ((?:#\d+\s*(?:,|and)?\s*){2,})")
_ZH_MEAN = re.compile(f"((?:{NUMERAL}+\\s*[、,，和与及]\\s*)+{NUMERAL}+)\\s*的?平均数")
_ZH_NUMBER = re.compile(f"{NUMERAL}+")
_KINDS = {
    "prime": re.compile(r"\b(?:primes?|composite)\b|质数|素数|合数", re.IGNORECASE),
    "factors": re.compile(r"\b(?:factors|divisors)\b|因数|约数", re.IGNORECASE),
    "parity": re.compile(r"\b(?:odd|even|parity)\b|奇数|偶数|单数|双数", re.IGNORECASE),
    "mean": re.compile(r"\b(?:mean|average)\b|平均数", re.IGNORECASE),
}


def _kinds(text: str) -> set[str]:
    """What `text` asks about whole numbers (or what a Calculation's expression computed)."""
    return {kind for kind, pattern in _KINDS.items() if pattern.search(text)}


def number_fact(question: str) -> Calculation | None:
    """The computed answer to a question about whole numbers (see the module); None when it
    asks none of these things."""
    text = unicodedata.normalize("NFKC", question)
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)
    read = _chinese if has_cjk(text) else _english
    parts = [p for p in re.split(r"(?<=[?？!！。])\s*", text) if p.strip()]
    if len(parts) <= 1:
        return read(text)
    # The question and, before it, the one it follows up. The last asks on its own ("Is 9
    # prime?"), or names only the number the one before asks about ("Is 9 one?"). When it asks
    # something else ("And is it prime?" after "What are the factors of 12?"), the one before
    # says nothing about it: the model answers.
    found = read(parts[-1])
    if found is not None:
        return found
    asked = _kinds(parts[-1])
    found = read(text)
    if found is None or asked and asked != _kinds(found.expression):
        return None
    return found


def _english(text: str) -> Calculation | None:
    if re.search(r"\d", text):
        # "Is 9 one?": "one" said last, beside a number in digits, stands for "a prime".
        text = re.sub(r"(?<![-\w])\bone(?=\s*(?:[?.!,]|$))", "it", text)
    said, nums = read_english(re.sub(r"(?<=[a-z])-(?=[a-z])", " ", text))  # "twenty-one"
    mean = _EN_MEAN.search(said)
    if mean is not None:
        picked = [nums[int(i)].value for i in re.findall(r"#(\d+)", mean[1])]
        return _mean(picked, zh=False)
    values = [n.value for n in nums]
    if _EN_FACTORS.search(said):
        return _factors(values, prime=_EN_PRIME.search(said) is not None, zh=False)
    if _EN_PRIME.search(said) or _EN_COMPOSITE.search(said):
        if _EN_RANGE.search(said):
            return _primes_below(values, zh=False)
        if _EN_OTHER.search(said):
            return None
        return _primality(values, zh=False)
    parity = _EN_PARITY.search(said)
    if parity is not None and said.lstrip().startswith(("is ", "are ")):
        return _parity(values, zh=False)
    return None


def _chinese(text: str) -> Calculation | None:
    mean = _ZH_MEAN.search(text)
    if mean is not None:
        picked = [zh_number(n) for n in _ZH_NUMBER.findall(mean[1])]
        return None if None in picked else _mean([v for v in picked if v is not None], zh=True)
    values = [v for n in _ZH_NUMBER.findall(text) if (v := zh_number(n)) is not None]
    if _ZH_FACTORS.search(text):
        prime = re.search(r"质因数|素因数|分解", text) is not None
        return _factors(values, prime=prime, zh=True)
    if _ZH_PRIME.search(text) or _ZH_COMPOSITE.search(text):
        if _ZH_RANGE.search(text):
            return _primes_below(values, zh=True)
        if _ZH_OTHER.search(text):
            return None
        return _primality(values, zh=True)
    if _ZH_PARITY.search(text) and re.search(r"吗|还是|是不是", text):
        return _parity(values, zh=True)
    return None


def _whole(values: list[Fraction]) -> list[int] | None:
    if not values or any(v.denominator != 1 or not 0 <= v <= MAX_VALUE for v in values):
        return None
    return [int(v) for v in values]


def _smallest_factor(n: int) -> int:
    if n % 2 == 0:
        return 2
    k = 3
    while k * k <= n:
        if n % k == 0:
            return k
        k += 2
    return n


def _prime_factors(n: int) -> list[int]:
    found = []
    while n > 1:
        k = _smallest_factor(n)
        found.append(k)
        n //= k
    return found


def _primality(values: list[Fraction], *, zh: bool) -> Calculation | None:
    numbers = _whole(values)
    if numbers is None or len(numbers) > 6:
        return None
    said = []
    primes = []
    for n in dict.fromkeys(numbers):
        if n < 2:
            said.append(
                f"{n}不是质数，也不是合数：质数要有两个因数，1和它本身。"
                if zh
                else f"{n} is not a prime number: a prime has exactly two factors, 1 and itself."
            )
            continue
        k = _smallest_factor(n)
        if k == n:
            primes.append(str(n))
            said.append(
                f"{n}是质数，它只有1和{n}两个因数。"
                if zh
                else f"{n} is a prime number: its only factors are 1 and {n}."
            )
        else:
            said.append(
                f"{n}不是质数，是合数：{n} = {k} × {n // k}。"
                if zh
                else f"{n} is not a prime number: {n} = {k} × {n // k}."
            )
    return Calculation(
        expression=f"prime? {', '.join(map(str, numbers))}",
        result=", ".join(primes) or "none",
        spoken=("" if zh else " ").join(said),
    )


def _primes_below(values: list[Fraction], *, zh: bool) -> Calculation | None:
    numbers = _whole(values)
    if numbers is None or not 1 <= len(numbers) <= 2 or max(numbers) > MAX_LISTED:
        return None
    low, high = (0, numbers[0]) if len(numbers) == 1 else sorted(numbers)
    primes = [n for n in range(max(low + 1, 2), high) if _smallest_factor(n) == n]
    listed = _list(primes, zh)
    count = len(primes)
    if zh:
        where = f"{high}以内" if len(numbers) == 1 else f"{low}和{high}之间"
        spoken = f"{where}的质数有{count}个：{listed}。" if primes else f"{where}没有质数。"
    else:
        where = f"less than {high}" if len(numbers) == 1 else f"between {low} and {high}"
        spoken = (
            f"There {'is' if count == 1 else 'are'} {count} prime "
            f"number{'' if count == 1 else 's'} {where}: {listed}."
            if primes
            else f"No prime is {where}."
        )
    return Calculation(expression=f"primes {where}", result=listed, spoken=spoken)


def _factors(values: list[Fraction], *, prime: bool, zh: bool) -> Calculation | None:
    numbers = _whole(values)
    if numbers is None or len(numbers) != 1 or numbers[0] < 2:
        return None
    n = numbers[0]
    if prime:
        factors = _prime_factors(n)
        product = " × ".join(map(str, factors))
        distinct = _list(list(dict.fromkeys(factors)), zh)
        spoken = (
            f"{n} = {product}，所以{n}的质因数是{distinct}。"
            if zh
            else f"{n} = {product}, so the prime factors of {n} are {distinct}."
        )
        return Calculation(expression=f"prime factors of {n}", result=product, spoken=spoken)
    small = [k for k in range(1, int(n**0.5) + 1) if n % k == 0]
    factors = sorted({*small, *(n // k for k in small)})
    listed = _list(factors, zh)
    spoken = f"{n}的因数有{listed}。" if zh else f"The factors of {n} are {listed}."
    return Calculation(expression=f"factors of {n}", result=listed, spoken=spoken)


def _parity(values: list[Fraction], *, zh: bool) -> Calculation | None:
    numbers = _whole(values)
    if numbers is None or len(numbers) != 1:
        return None
    n = numbers[0]
    even = n % 2 == 0
    if zh:
        spoken = f"{n}是{'偶数' if even else '奇数'}，因为它{'能' if even else '不能'}被2整除。"
    else:
        can = "can" if even else "cannot"
        spoken = f"{n} is {'even' if even else 'odd'}: it {can} be divided by 2 exactly."
    return Calculation(expression=f"parity of {n}", result="even" if even else "odd", spoken=spoken)


def _mean(values: list[Fraction], *, zh: bool) -> Calculation | None:
    if len(values) < 2 or any(abs(v) > MAX_VALUE for v in values):
        return None
    total = sum(values, Fraction(0))
    mean = total / len(values)
    shown = [exact_text(v) for v in values]
    result = exact_text(mean) if mean.denominator == 1 else f"{float(mean):.4g}"
    if zh:
        spoken = f"{'+'.join(shown)}={exact_text(total)}，再除以{len(values)}，平均数是{result}。"
    else:
        spoken = (
            f"{' + '.join(shown)} = {exact_text(total)}, and {exact_text(total)} ÷ "
            f"{len(values)} = {result}, so the mean is {result}."
        )
    return Calculation(expression=f"mean of {', '.join(shown)}", result=result, spoken=spoken)


def _list(items: list[int], zh: bool) -> str:
    words = [str(i) for i in items]
    if zh:
        return "、".join(words)
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"
