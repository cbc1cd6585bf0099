"""Numbers as students say them (English number words, Chinese numerals), units, exact values.

`read_english` and `read_chinese` turn a question into words with every number replaced by a
placeholder ("#0", "#1", ...) plus the numbers, so `media_engine.arithmetic` can match the
shapes of questions with regular expressions. Odd input may raise ValueError; the caller
catches it."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

MAX_DIGITS = 40  # a number with more digits than this is nothing a student asks about


@dataclass(frozen=True)
class Num:
    """A number as the question gave it."""

    value: Fraction
    text: str  # how an expression shows it: "17", "1.5", "3/4"


def exact_text(value: Fraction) -> str:
    """`value` written exactly: "17", "1.5", or "1/3" when no short decimal is exact."""
    text, exact = decimal_text(value, MAX_DIGITS)
    return text if exact else f"{value.numerator}/{value.denominator}"


def decimal_text(value: Fraction, places: int = 4) -> tuple[str, bool]:
    """`value` rounded to at most `places` decimals (4 significant digits when tiny), trimmed,
    and whether that is exact."""
    if value.denominator == 1:
        return str(value.numerator), True
    with localcontext() as ctx:
        ctx.prec = 2 * MAX_DIGITS + 20
        exact = Decimal(value.numerator) / Decimal(value.denominator)
        step = Decimal(1).scaleb(-places)
        if abs(exact) < step / 2:  # would round to 0: keep 4 significant digits instead
            step = Decimal(1).scaleb(exact.adjusted() - 3)
        rounded = exact.quantize(step, rounding=ROUND_HALF_UP)
    text = format(rounded, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return ("0" if text == "-0" else text), Fraction(rounded) == value


def root(x: Fraction, n: int) -> tuple[Fraction, bool]:
    """The n-th root (n is 2 or 3) of `x` (not negative when n is 2), and whether it is exact:
    to 40 digits when it is not."""
    sign, a, b = (1 if x >= 0 else -1), abs(x.numerator), x.denominator
    ra, rb = _iroot(a, n), _iroot(b, n)
    if ra**n == a and rb**n == b:
        return sign * Fraction(ra, rb), True
    with localcontext() as ctx:
        ctx.prec = 40
        d = Decimal(a) / Decimal(b)
        return sign * Fraction(d.sqrt() if n == 2 else (d.ln() / 3).exp()), False


def _iroot(k: int, n: int) -> int:
    """The integer n-th root of k >= 0, rounded down."""
    if n == 2 or k < 2:
        return math.isqrt(k) if n == 2 else k
    r = 1 << -(-k.bit_length() // 3)
    while (s := (2 * r + k // (r * r)) // 3) < r:
        r = s
    return r


# ----------------------------------------------------------------------------------- English

_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty "
    "ninety second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth"
).split()
_SMALL = dict(zip(_WORDS[:20], range(20), strict=True))
_TENS = dict(zip(_WORDS[20:28], range(20, 100, 10), strict=True))
_ORDINALS = dict(zip(_WORDS[28:], range(2, 13), strict=True))
_SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
_DENOMINATORS = _ORDINALS | {"half": 2, "halve": 2, "quarter": 4, "hundredth": 100}
del _DENOMINATORS["second"]  # "3 seconds" is a time
_OPERATORS = [  # spoken operators, in the order they are replaced
    (r"multiplied by|times|×", "*"), (r"divided by|over|÷", "/"), (r"plus", "+"),
    (r"minus|take away", "-"), (r"(?:raised )?to the power(?: of)?|raised to(?: the)?|\*\*", "^"),
    (r"to the (#\d+)(?: power)?", r"^ \1"), (r"squared", "sq"), (r"cubed", "cube"),
    (r"(?:the )?square root(?: of)?|√", "sqrt"), (r"(?:the )?cube root(?: of)?", "cbrt"),
    (r"per ?cent", "%"), (r"modulo", "mod"), (r"negative", "neg"), (r"(?<=[\d)] )x(?= [#(])", "*"),
]  # fmt: skip
_EN_TOKEN = re.compile(
    r"\d+/0*[1-9]\d*(?![\d.])|\d+(?:\.\d+)?(?:st|nd|rd|th)?|[a-z]+|\*\*|[-+*/×÷^%()=√]"
)


def _denominator(word: str) -> int | None:
    return _DENOMINATORS.get(word[:-1] if word.endswith("s") else word)


def _cardinal(words: list[str], i: int) -> tuple[int, int] | None:
    """An integer spelt in words from words[i] ("a hundred and five"): (value, next index)."""
    total = current = 0
    last = ""  # the kind of the previous word: "", "unit", "ten", "hundred", "scale", "and"
    j = i
    while j < len(words):
        w = words[j]
        nxt = words[j + 1] if j + 1 < len(words) else ""
        if w in ("a", "an") and j == i and (nxt == "hundred" or nxt in _SCALES):
            current, last = 1, "unit"
        elif w in _SMALL and (
            last in ("", "hundred", "scale", "and") or last == "ten" and _SMALL[w] < 10
        ):
            current, last = current + _SMALL[w], "unit"
        elif w in _TENS and last in ("", "hundred", "scale", "and"):
            current, last = current + _TENS[w], "ten"
        elif w == "hundred" and last in ("unit", "ten") and 0 < current < 100:
            current, last = current * 100, "hundred"
        elif w in _SCALES and last in ("unit", "ten", "hundred"):
            total, current, last = total + current * _SCALES[w], 0, "scale"
        elif w == "and" and last in ("hundred", "scale") and (nxt in _SMALL or nxt in _TENS):
            last = "and"
        else:
            break
        j += 1
    if last in ("", "and"):
        return None
    return total + current, j


def _en_number(words: list[str], i: int) -> tuple[Num, int] | None:
    """The number that starts at words[i], if one does: (number, next index)."""
    w = words[i]
    nxt = words[i + 1] if i + 1 < len(words) else ""
    if "/" in w[1:]:  # "3/4", written as one fraction
        a, b = w.split("/")
        return Num(Fraction(int(a), int(b)), f"{int(a)}/{int(b)}"), i + 1
    if w in ("a", "an", "half") and (w == "half" or _denominator(nxt)):
        d = 2 if w == "half" else _denominator(nxt) or 1
        return Num(Fraction(1, d), f"1/{d}"), i + (1 if w == "half" else 2)
    j = i + 1
    if w[0].isdigit():
        digits = w.rstrip("stndrh")
        if len(digits) > MAX_DIGITS:
            return None
        value = Fraction(digits)
        if nxt == "hundred" or nxt in _SCALES:
            value, j = value * (_SCALES.get(nxt) or 100), j + 1
    else:
        got = _cardinal(words, i)
        if got is None:
            return None
        value, j = Fraction(got[0]), got[1]
        if j + 1 < len(words) and words[j] == "point":  # "two point five": digits one by one
            k = j + 1
            if words[k].isdigit():
                k += 1
            while k < len(words) and _SMALL.get(words[k], 10) < 10:
                k += 1
            said = "".join(w if w.isdigit() else str(_SMALL[w]) for w in words[j + 1 : k])
            if said and len(said) <= MAX_DIGITS:
                value, j = value + Fraction(int(said), 10 ** len(said)), k
    rest = words[j : j + 3]
    if value.denominator == 1 and j < len(words) and (den := _denominator(words[j])):
        return Num(value / den, f"{value}/{den}"), j + 1
    if len(rest) == 3 and rest[:2] == ["and", "a"] and (den := _denominator(rest[2])):
        value += Fraction(1, den)
        return Num(value, exact_text(value)), j + 3
    return Num(value, exact_text(value)), j


def read_english(text: str) -> tuple[str, list[Num]]:
    """The words of `text`, lower case, with numbers as "#i" and spoken operators as symbols
    ("seventeen times 23" is "#0 * #1"), and the numbers."""
    words = _EN_TOKEN.findall(text.lower())
    out: list[str] = []
    nums: list[Num] = []
    i = 0
    while i < len(words):
        w = words[i]
        got = _en_number(words, i)
        if w in _ORDINALS and out[-2:] == ["to", "the"]:  # "to the tenth power"
            got = Num(Fraction(_ORDINALS[w]), str(_ORDINALS[w])), i + 1
        if got is None:
            out.append(w)
            i += 1
        else:
            out.append(f"#{len(nums)}")
            nums.append(got[0])
            i = got[1]
    said = " ".join(out)
    for words_re, symbol in _OPERATORS:
        said = re.sub(rf"(?<!\S)(?:{words_re})(?!\S)", symbol, said)
    return said, nums


# ----------------------------------------------------------------------------------- Chinese

_ZH_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000}
NUMERAL = "[0-9.零〇一二两三四五六七八九十百千万亿点]"  # a character of a Chinese number


def _zh_int(s: str) -> Fraction | None:
    if re.fullmatch(r"\d+(?:\.\d+)?", s):
        return Fraction(s) if len(s) <= MAX_DIGITS else None
    digits = all(c in _ZH_DIGITS for c in s)
    if digits and (len(s) == 1 or 3 <= len(s) <= MAX_DIGITS):  # 二零二四 is read digit by digit
        return Fraction(int("".join(str(_ZH_DIGITS[c]) for c in s)))
    total = section = Fraction(0)
    number: Fraction | None = None
    last, zero = 0, False
    for tok in re.findall(r"\d+(?:\.\d+)?|.", s):
        if tok[0].isdigit() or tok in _ZH_DIGITS:
            if number is not None or len(tok) > MAX_DIGITS:
                return None
            digit = Fraction(tok) if tok[0].isdigit() else Fraction(_ZH_DIGITS[tok])
            zero = zero or digit == 0
            number = digit or None
        elif tok in _ZH_UNITS:  # 十 may stand alone first or after 零, units only go down
            unit, bare = _ZH_UNITS[tok], not (section or total or zero) or zero and tok == "十"
            if number is None and not bare or last and unit >= last:
                return None
            section += (1 if number is None else number) * unit
            number, last, zero = None, unit, False
        elif tok in "万亿" and (number is not None or section or tok == "亿" and total):
            big = 10**4 if tok == "万" else 10**8
            section += number or 0
            total = total + section * big if tok == "万" else (total + section) * big
            section, number, last, zero = Fraction(0), None, big, False
        else:
            return None
    if number is not None:  # "一百二" is 120, "两万五" 25000; "一百零二" is 102
        section += number * last / 10 if last >= 100 and not zero else number
    return total + section if s else None


def zh_number(s: str) -> Fraction | None:
    """The value of a Chinese (or Arabic, or mixed) numeral: "一百零五", "三点一四", "1.5万"."""
    if s.startswith("负"):
        return None if (value := zh_number(s[1:])) is None else -value
    whole, dot, decimals = s.partition("点")
    value = _zh_int(whole)
    if value is None or dot and not (decimals and all(c in _ZH_DIGITS for c in decimals)):
        return None
    if decimals:
        value += Fraction(int("".join(str(_ZH_DIGITS[c]) for c in decimals)), 10 ** len(decimals))
    return value


_ZH_OPS = {
    "加上": "+", "加": "+", "减去": "sub", "减": "sub", "乘以": "*", "乘": "*", "除以": "/",
    "除": "rdiv", "的平方根": "psqrt", "的立方根": "pcbrt", "的平方": "sq", "的立方": "cube",
    "平方根": "psqrt", "立方根": "pcbrt", "开平方": "psqrt", "开方": "psqrt", "平方": "sq",
    "立方": "cube", "根号": "sqrt", "次方": "powend", "次幂": "powend", "分之": "over",
    "的": "rof", "负": "neg", "x": "*", "X": "*", "×": "*", "÷": "/",
}  # fmt: skip
_ZH_TOKEN = re.compile(
    rf"(?P<num>{NUMERAL}+)|(?P<op>{'|'.join(sorted(_ZH_OPS, key=len, reverse=True))}|[-+*/^%()])"
)


def read_chinese(text: str) -> tuple[list[str], list[Num]] | None:
    """The tokens of a Chinese calculation (numbers as "#i") and the numbers; None when some of
    `text` is neither a number nor an operator."""
    out: list[str] = []
    nums: list[Num] = []
    pos = 0
    while pos < len(text):
        m = _ZH_TOKEN.match(text, pos)
        if m is None:
            return None
        pos = m.end()
        if m.group("op"):
            out.append(_ZH_OPS.get(m.group("op"), m.group("op")))
            continue
        value = zh_number(m.group("num"))
        if value is None:
            return None
        num, percent = Num(value, exact_text(value)), False
        if out[-1:] == ["over"] and re.fullmatch(r"#\d+", out[-2] if len(out) > 1 else ""):
            den = nums[int(out[-2][1:])]  # 四分之三 is 3/4, 百分之五 is 5%
            if not den.value:
                return None
            del out[-2:]
            percent = den.value == 100
            num = num if percent else Num(value / den.value, f"{num.text}/{den.text}")
        out += [f"#{len(nums)}", "%"] if percent else [f"#{len(nums)}"]
        nums.append(num)
    return out, nums


# ------------------------------------------------------------------------------------- units


@dataclass(frozen=True)
class Unit:
    """A unit of measure; `size` is in the base unit of its kind (m, g, ml, s; kelvin)."""

    kind: str
    size: Fraction
    symbol: str
    en: tuple[str, str]  # singular, plural
    zh: str


_UNIT_TABLE = """
length 1/1000 mm millimetre/millimetres 毫米 | mm millimeter millimeters
length 1/100 cm centimetre/centimetres 厘米 公分 | cm centimeter centimeters
length 1 m metre/metres 米 | m meter meters
length 1000 km kilometre/kilometres 千米 公里 | km kms kilometer kilometers
length 127/5000 inch inch/inches 英寸 |
length 381/1250 ft foot/feet 英尺 | ft
length 1143/1250 yd yard/yards 码 | yd yds
length 201168/125 mi mile/miles 英里 |
mass 1 g gram/grams 克 公克 | g gramme grammes
mass 1000 kg kilogram/kilograms 千克 公斤 | kg kgs kilo kilos kilogramme kilogrammes
mass 1000000 t tonne/tonnes 吨 | metric_ton metric_tons
mass 500 jin jin/jin 斤 |
mass 45359237/100000 lb pound/pounds 磅 | lb lbs
mass 45359237/1600000 oz ounce/ounces 盎司 | oz
volume 1 ml millilitre/millilitres 毫升 | ml milliliter milliliters
volume 1000 L litre/litres 升 公升 | l liter liters
time 1 s second/seconds 秒 秒钟 | sec secs
time 60 min minute/minutes 分钟 | min mins
time 3600 h hour/hours 小时 钟头 | hr hrs
time 86400 d day/days 天 |
time 604800 wk week/weeks 周 星期 礼拜 |
temperature 1 °C degree_Celsius/degrees_Celsius 摄氏度 | c celsius centigrade
temperature 5/9 °F degree_Fahrenheit/degrees_Fahrenheit 华氏度 | f fahrenheit
temperature 1 K kelvin/kelvin 开尔文 | k kelvins
"""  # kind, size in the kind's base unit, symbol, English names, Chinese names | more English
EN_UNITS: dict[str, Unit] = {}
ZH_UNITS: dict[str, Unit] = {}
for _line in _UNIT_TABLE.strip().splitlines():
    _kind, _size, _symbol, _en, *_zh = _line.split("|")[0].split()
    _names = tuple(n.replace("_", " ") for n in _en.split("/"))
    _unit = Unit(_kind, Fraction(_size), _symbol, (_names[0], _names[1]), _zh[0])
    for _name in (*_names, *_line.split("|")[1].split()):
        EN_UNITS[_name.lower().replace("_", " ")] = _unit
        if _kind == "temperature" and not _name.startswith("degree"):  # "degrees c"
            EN_UNITS[f"degrees {_name}"] = EN_UNITS[f"degree {_name}"] = _unit
    ZH_UNITS.update(dict.fromkeys(_zh, _unit))
_ZERO = {"°C": Fraction(27315, 100), "°F": Fraction(45967, 180), "K": Fraction(0)}  # in kelvin


def convert(value: Fraction, source: Unit, target: Unit) -> Fraction | None:
    """`value` in `source` units expressed in `target` units; None across kinds or below 0 K."""
    if source.kind != target.kind:
        return None
    if source.kind != "temperature":
        return value * source.size / target.size
    kelvin = (value + _ZERO[source.symbol] / source.size) * source.size
    return None if kelvin < 0 else kelvin / target.size - _ZERO[target.symbol] / target.size


_EN_UNIT = "|".join(sorted(map(re.escape, EN_UNITS), key=len, reverse=True))
ZH_UNIT = "|".join(sorted(map(re.escape, ZH_UNITS), key=len, reverse=True))
"""Any Chinese unit name, as a regular expression."""
_Q, _ZQ = r"(?P<q>(?:(?:-|neg) )?(?:#\d+|an?))(?: of)?(?: an?)?", rf"(?P<q>负?{NUMERAL}+?)个?"
_EN_CONVERSIONS = [
    rf"how many (?P<b>{_EN_UNIT}) (?:are |is )?(?:there )?in {_Q} (?P<a>{_EN_UNIT})",
    rf"how many (?P<b>{_EN_UNIT}) (?:is|are|make|makes|equals?) {_Q} (?P<a>{_EN_UNIT})",
    rf"{_Q} (?P<a>{_EN_UNIT}) (?:in|into|to|as|in terms of) (?P<b>{_EN_UNIT})",
    rf"{_Q} (?P<a>{_EN_UNIT}) (?:is|are|equals?|makes?) how many (?P<b>{_EN_UNIT})",
]
_ZH_CONVERSIONS = [
    rf"(?:把|将)?{_ZQ}(?P<a>{ZH_UNIT})(?:是|等于|有|合|相当于|能换算成|换算成|能换)?(?:多少|几)个?"
    rf"(?P<b>{ZH_UNIT})",
    rf"(?:把|将)?{_ZQ}(?P<a>{ZH_UNIT})(?:换算成|换成|转换成|转换为|换算为|化成|化为|变成)"
    rf"(?P<b>{ZH_UNIT})(?:是多少|等于多少|是几|有多少|多少)?",
    rf"(?:多少|几)个?(?P<b>{ZH_UNIT})(?:是|等于){_ZQ}(?P<a>{ZH_UNIT})",
]


def conversion(text: str, nums: list[Num], zh: bool) -> tuple[str, str, str] | None:
    """The unit conversion `text` asks for ("how many #0 in #1 kg" with `nums`, or "3公斤是多少克"):
    its expression, result and spoken sentence; None when it asks none."""
    shapes = _ZH_CONVERSIONS if zh else _EN_CONVERSIONS
    m = next((m for shape in shapes if (m := re.fullmatch(shape, text))), None)
    if m is None:
        return None
    units, q = (ZH_UNITS if zh else EN_UNITS), m["q"].split()[-1]
    value = zh_number(q) if zh else nums[int(q[1:])].value if q[0] == "#" else Fraction(1)
    value = -value if value is not None and m["q"][0] in "-n" else value  # "- #0", "neg #0"
    if value is None or (target := convert(value, units[m["a"]], units[m["b"]])) is None:
        return None
    a, b, said = units[m["a"]], units[m["b"]], exact_text(value)
    text, exact = decimal_text(target, 2 if a.kind == "temperature" else 4)
    if zh:
        spoken = f"{said} {m['a']}{'' if exact else '约'}等于 {text} {m['b']}"
    else:
        name_a, name_b = a.en[abs(value) != 1], b.en[abs(target) != 1]
        spoken = f"{said} {name_a} is {'' if exact else 'about '}{text} {name_b}"
    return f"{said} {a.symbol} in {b.symbol}", f"{text} {b.symbol}", spoken
