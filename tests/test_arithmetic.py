"""Exact arithmetic and unit conversion for the questions that ask for them (pure unit tests)."""

from __future__ import annotations

import random
import time
from fractions import Fraction

import pytest

from media_engine.arithmetic import Calculation, calculate
from media_engine.numbers import decimal_text, read_english, zh_number


def calc(question: str) -> Calculation:
    found = calculate(question)
    assert found is not None, question
    return found


# ----------------------------------------------------------------------------------- English


@pytest.mark.parametrize(
    ("question", "expression", "result"),
    [
        ("seventeen times twenty-three", "17 × 23", "391"),
        ("What's 17 times 23?", "17 × 23", "391"),
        ("what's 3 plus 4 times 2", "3 + 4 × 2", "11"),
        ("what is (3 + 4) * 2", "(3 + 4) × 2", "14"),
        ("a hundred and five divided by seven", "105 ÷ 7", "15"),
        ("what is 2 to the power of 10", "2^10", "1024"),
        ("what is 2 to the 10th power", "2^10", "1024"),
        ("what is three to the fourth power", "3^4", "81"),
        ("2 ^ 8", "2^8", "256"),
        ("what is the square root of 144", "√144", "12"),
        ("square root of 2", "√2", "1.4142"),
        ("cube root of 27", "∛27", "3"),
        ("half of 50", "1/2 of 50", "25"),
        ("what is a third of 90", "1/3 of 90", "30"),
        ("three quarters of 20", "3/4 of 20", "15"),
        ("3/4 of 20", "3/4 of 20", "15"),
        ("15 percent of 80", "15% of 80", "12"),
        ("what's 20% of 150", "20% of 150", "30"),
        ("12 squared", "12²", "144"),
        ("twelve squared", "12²", "144"),
        ("what's 25 squared plus 1", "25² + 1", "626"),
        ("what is 3 cubed", "3³", "27"),
        ("what is 2³ + 12²", "2³ + 12²", "152"),
        ("what is 7 minus 10", "7 - 10", "-3"),
        ("what is 7 - 10", "7 - 10", "-3"),
        ("what is -5 plus 3", "-5 + 3", "-2"),
        ("negative four times three", "-4 × 3", "-12"),
        ("1.5 plus 2.25", "1.5 + 2.25", "3.75"),
        ("what is 0.1 plus 0.2", "0.1 + 0.2", "0.3"),
        ("what's two point five times four", "2.5 × 4", "10"),
        ("one and a half times 4", "1.5 × 4", "6"),
        ("what is one million divided by 1000", "1000000 ÷ 1000", "1000"),
        ("what is 1,000 times 3", "1000 × 3", "3000"),
        ("what is 2024 minus 1969", "2024 - 1969", "55"),
        ("what is 12 over 4", "12 ÷ 4", "3"),
        ("8 multiplied by 7", "8 × 7", "56"),
        ("100 take away 37", "100 - 37", "63"),
        ("what is 5 x 3", "5 × 3", "15"),
        ("17x23", "17 × 23", "391"),
        ("6 ÷ 4", "6 ÷ 4", "1.5"),
        ("what is 10 divided by 3", "10 ÷ 3", "3.3333"),
        ("what is 2 divided by 3", "2 ÷ 3", "0.6667"),
        ("what is 1 divided by 30000", "1 ÷ 30000", "0.00003333"),
        ("what is 2 to the power of -2", "2^(-2)", "0.25"),
        ("add 3 and 4", "3 + 4", "7"),
        ("add 3 to 4", "3 + 4", "7"),
        ("what is the sum of 12 and 30", "12 + 30", "42"),
        ("subtract 3 from 10", "10 - 3", "7"),
        ("take 3 away from 10", "10 - 3", "7"),
        ("multiply 6 by 7", "6 × 7", "42"),
        ("what is the product of 6 and 7", "6 × 7", "42"),
        ("divide 12 by 4", "12 ÷ 4", "3"),
        ("what do you get if you multiply 3 by 4", "3 × 4", "12"),
        ("17 mod 5", "17 mod 5", "2"),
        ("what is the remainder when 17 is divided by 5", "17 mod 5", "2"),
        ("what's the remainder of 20 divided by 6", "20 mod 6", "2"),
        ("17 divided by 5 with remainder", "17 ÷ 5", "3 remainder 2"),
        ("what is 1/2 plus 1/4 as a fraction", "1/2 + 1/4", "3/4"),
        ("what is 1/2 plus 1/4", "1/2 + 1/4", "0.75"),
        ("what is 10 divided by a half", "10 ÷ (1/2)", "20"),
        ("what is a half squared", "(1/2)²", "0.25"),
        ("simplify 6/8", "6/8", "3/4"),
        ("what is 3/4 as a decimal", "3/4", "0.75"),
        ("what is 0.5 as a fraction", "0.5", "1/2"),
        ("Hi! What's 17 times 23?", "17 × 23", "391"),
        ("okay so what is 12 times 12", "12 × 12", "144"),
        ("can you tell me what 6 times 7 is", "6 × 7", "42"),
        ("what does 17 times 23 equal", "17 × 23", "391"),
        ("how much is 5 plus 5", "5 + 5", "10"),
        ("calculate 9 times 9 please", "9 × 9", "81"),
        ("What is 3 + 4 =", "3 + 4", "7"),
        ("6 times 7 is what", "6 × 7", "42"),
        ("what is 2 to the power of 64", "2^64", "18446744073709551616"),
        ("(-2)^2", "(-2)^2", "4"),
        ("what is 0 minus 2 squared", "0 - 2²", "-4"),
    ],
)
def test_english_calculations(question: str, expression: str, result: str) -> None:
    found = calc(question)
    assert (found.expression, found.result) == (expression, result)


def test_english_spoken_states_the_whole_fact() -> None:
    assert calc("seventeen times twenty-three").spoken == "17 × 23 = 391"
    assert calc("what is 10 divided by 3").spoken == "10 ÷ 3 ≈ 3.3333"  # rounded: says so
    assert calc("square root of 2").spoken == "√2 ≈ 1.4142"
    assert calc("what is the remainder when 17 is divided by 5").spoken == (
        "17 ÷ 5 = 3 remainder 2, so the remainder is 2"
    )
    assert calc("17 divided by 5 with remainder").spoken == "17 ÷ 5 = 3 remainder 2"


def test_a_remainder_asked_in_another_clause_is_given() -> None:
    both = "What is 25 divided by 4, and what is the remainder?"
    assert calc(both).spoken == "25 ÷ 4 = 6 remainder 1"
    assert calc("二十五除以四，商是多少，余数是多少？").spoken == "25 除以 4 等于 6 余 1"
    # Without a remainder asked, division is exact.
    assert calc("二十五除以四等于多少？").spoken == "25 除以 4 等于 6.25"


@pytest.mark.parametrize(
    ("question", "expression", "result", "spoken"),
    [
        ("how many minutes in 3 hours", "3 h in min", "180 min", "3 hours is 180 minutes"),
        ("convert 5 kilometres to metres", "5 km in m", "5000 m", "5 kilometres is 5000 metres"),
        ("how many grams in 2.5 kilograms", "2.5 kg in g", "2500 g", "2.5 kilograms is 2500 grams"),
        (
            "what's 100 Fahrenheit in Celsius",
            "100 °F in °C",
            "37.78 °C",
            "100 degrees Fahrenheit is about 37.78 degrees Celsius",
        ),
        ("what is 37 degrees celsius in fahrenheit", "37 °C in °F", "98.6 °F", None),
        ("convert 0 °C to kelvin", "0 °C in K", "273.15 K", None),
        ("what's minus 40 celsius in fahrenheit", "-40 °C in °F", "-40 °F", None),
        ("how many seconds in a day", "1 d in s", "86400 s", "1 day is 86400 seconds"),
        ("how many days are there in a week", "1 wk in d", "7 d", None),
        ("how many feet in a mile", "1 mi in ft", "5280 ft", None),
        ("how many ounces in a pound", "1 lb in oz", "16 oz", None),
        ("how many centimetres are in a metre", "1 m in cm", "100 cm", None),
        ("convert 2 litres to millilitres", "2 L in ml", "2000 ml", None),
        ("what is 5 miles in kilometres", "5 mi in km", "8.0467 km", None),
        ("how many minutes in half an hour", "0.5 h in min", "30 min", None),
        ("how many minutes are in 2 and a half hours", "2.5 h in min", "150 min", None),
        ("12 inches is how many centimetres", "12 inch in cm", "30.48 cm", None),
        ("how many millimetres is 3 cm", "3 cm in mm", "30 mm", None),
    ],
)
def test_english_conversions(
    question: str, expression: str, result: str, spoken: str | None
) -> None:
    found = calc(question)
    assert (found.expression, found.result) == (expression, result)
    if spoken is not None:
        assert found.spoken == spoken


@pytest.mark.parametrize(
    "question",
    [
        "how many days in a year",  # a year is not a fixed number of days
        "how many grams in a kilometre",  # different kinds
        "how many days in a month",
        "what is -500 celsius in kelvin",  # below absolute zero
    ],
)
def test_ambiguous_or_impossible_conversions_are_refused(question: str) -> None:
    assert calculate(question) is None


# ----------------------------------------------------------------------------------- Chinese


@pytest.mark.parametrize(
    ("question", "expression", "result", "spoken"),
    [
        ("十二乘以三等于多少？", "12 × 3", "36", "12 乘以 3 等于 36"),
        ("一百减去三十七是多少", "100 - 37", "63", "100 减 37 等于 63"),
        ("一加一等于几？", "1 + 1", "2", "1 加 1 等于 2"),
        ("三乘四", "3 × 4", "12", None),
        ("请问12乘以3等于多少", "12 × 3", "36", None),
        ("3加4乘2", "3 + 4 × 2", "11", "3 加 4 乘以 2 等于 11"),
        ("(3加4)乘2", "(3 + 4) × 2", "14", None),
        ("（3加4）乘以2等于几", "(3 + 4) × 2", "14", None),
        ("负五加三", "-5 + 3", "-2", None),
        ("三减负二", "3 - (-2)", "5", "3 减 (-2) 等于 5"),
        ("3加4等于什么", "3 + 4", "7", None),
        ("一点五加二点二五", "1.5 + 2.25", "3.75", None),
        ("三点一四乘以二", "3.14 × 2", "6.28", None),
        ("10除以3", "10 ÷ 3", "3.3333", "10 除以 3 约等于 3.3333"),
        ("12除以4", "12 ÷ 4", "3", None),
        ("12除4", "4 ÷ 12", "0.3333", None),  # a 除 b is b ÷ a
        ("用3除12", "12 ÷ 3", "4", None),
        ("25的平方是多少", "25²", "625", None),
        ("二十五的平方", "25²", "625", None),
        ("八的立方", "8³", "512", None),
        ("5²等于多少", "5²", "25", None),
        ("144的平方根是多少", "√144", "12", None),
        ("144开方", "√144", "12", None),
        ("根号2是多少", "√2", "1.4142", "2 的平方根 约等于 1.4142"),
        ("27的立方根", "∛27", "3", None),
        ("2的10次方是多少", "2^10", "1024", "2 的 10 次方 等于 1024"),
        ("2的负2次方", "2^(-2)", "0.25", None),
        ("百分之十五乘以八十", "15% × 80", "12", None),
        ("八十的百分之十五是多少", "15% of 80", "12", "80 的 15% 等于 12"),
        ("100的一半是多少", "1/2 of 100", "50", None),
        ("60的三分之二是多少", "2/3 of 60", "40", None),
        ("四分之三加四分之一", "3/4 + 1/4", "1", None),
        ("三分之二乘以九", "2/3 × 9", "6", None),
        ("一百二减二十", "120 - 20", "100", None),
        ("两万五除以五", "25000 ÷ 5", "5000", None),
        ("1.5万加5000", "15000 + 5000", "20000", None),
        ("一千零五减五", "1005 - 5", "1000", None),
        ("三亿除以三", "300000000 ÷ 3", "100000000", None),
        ("17 除以 5 余几", "17 ÷ 5", "3 余 2", "17 除以 5 等于 3 余 2"),
        ("十七除以五商几余几", "17 ÷ 5", "3 余 2", None),
        ("17除以5的余数是多少", "17 mod 5", "2", "17 除以 5 等于 3 余 2，余数是 2"),
        ("3除以4是几分之几", "3 ÷ 4", "3/4", None),
        ("0.75用分数表示", "0.75", "3/4", None),
        ("5除以0", "5 ÷ 0", "undefined", "5 除以 0 没有意义，因为不能除以零。"),
    ],
)
def test_chinese_calculations(
    question: str, expression: str, result: str, spoken: str | None
) -> None:
    found = calc(question)
    assert (found.expression, found.result) == (expression, result)
    if spoken is not None:
        assert found.spoken == spoken


@pytest.mark.parametrize(
    ("question", "expression", "result", "spoken"),
    [
        ("3公斤是多少克", "3 kg in g", "3000 g", "3 公斤等于 3000 克"),
        ("两个小时是多少分钟", "2 h in min", "120 min", "2 小时等于 120 分钟"),
        ("一个半小时是多少分钟", "1.5 h in min", "90 min", None),
        ("两个半小时等于多少分钟", "2.5 h in min", "150 min", None),
        ("半小时是多少分钟", "0.5 h in min", "30 min", None),
        ("一千米是多少米", "1 km in m", "1000 m", None),
        ("三千克等于多少克", "3 kg in g", "3000 g", None),
        ("1公里等于多少米", "1 km in m", "1000 m", "1 公里等于 1000 米"),
        ("把5千米换算成米", "5 km in m", "5000 m", None),
        ("一天有多少小时", "1 d in h", "24 h", None),
        ("一周有几天", "1 wk in d", "7 d", None),
        ("一分钟有多少秒", "1 min in s", "60 s", None),
        ("2升是多少毫升", "2 L in ml", "2000 ml", None),
        ("一斤是多少克", "1 jin in g", "500 g", None),
        ("100华氏度是多少摄氏度", "100 °F in °C", "37.78 °C", "100 华氏度约等于 37.78 摄氏度"),
        ("零下10摄氏度是多少华氏度", "-10 °C in °F", "14 °F", None),
    ],
)
def test_chinese_conversions(
    question: str, expression: str, result: str, spoken: str | None
) -> None:
    found = calc(question)
    assert (found.expression, found.result) == (expression, result)
    if spoken is not None:
        assert found.spoken == spoken


# ------------------------------------------------------------------------- undefined and refused


@pytest.mark.parametrize(
    ("question", "expression"),
    [
        ("5 divided by 0", "5 ÷ 0"),
        ("1/0 plus 2", "1 ÷ 0 + 2"),
        ("what is 0 to the power of -1", "0^(-1)"),
        ("what is 7 mod 0", "7 mod 0"),
        ("what is the square root of minus 4", "√(-4)"),
    ],
)
def test_undefined_is_a_result_not_an_error(question: str, expression: str) -> None:
    found = calc(question)
    assert (found.expression, found.result) == (expression, "undefined")
    assert found.spoken.startswith(expression)


@pytest.mark.parametrize(
    "question",
    [
        "What is photosynthesis?",
        "Why is the sky blue?",
        "Who was the first person on the Moon in 1969?",
        "How many planets are there?",
        "What are the three states of matter?",
        "How many legs does a spider have?",
        "光合作用需要什么？",
        "太阳系有几大行星？",
        "What is 1969?",
        "42",
        "seventeen",
        "What happened in 1066?",
        "What is the 2nd law of thermodynamics?",
        "Tell me about 9/11",
        "what is 9/11",
        "1939-1945",
        "The war lasted from 1939-1945",
        "What is half of the moon made of?",
        "Give me 5 examples of mammals",
        "I have 3 apples and 4 oranges",
        "What is 10 percent?",
        "What is 100 minus 15 percent?",  # calculator percentages mean different things
        "what is 12 times table",
        "What is 2 + 2 = 5?",
        "is 7 times 8 56",
        "what is x plus 3",
        "How many times does 3 go into 12?",
        "what is 5 as a fraction",
        "minus 2 squared",  # -4 or 4? ambiguous, so refused
        "负二的平方",
        "减二平方",  # 减 is never a sign
        "二平方为什么",
        "two thousand and twenty four minus nineteen sixty nine",  # a year said in pairs
        "三角形的内角和是多少度",
        "九九乘法表",
        "参加比赛",
        "中国有多少个省",
        "一年有多少天",
        "一加一为什么等于二",
        "二零二四年",
        "太阳有多大",
        "一加",
        "加一",
        "3的4是多少",
        "",
        "   ",
        "?",
    ],
)
def test_questions_that_ask_no_calculation(question: str) -> None:
    assert calculate(question) is None


# ------------------------------------------------------------------------------- robustness


@pytest.mark.parametrize(
    "question",
    [
        "(" * 5000,
        "(" * 500,
        "(" * 30 + "1 + 1" + ")" * 30,
        "what is 10 to the power of 100000",
        "what is 10 to the power of 100",  # a googol: too long to be a useful answer
        "2 ^ 2 ^ 2 ^ 2 ^ 2 ^ 2",
        "9" * 5000 + " times 2",
        "9" * 60 + " times 2",
        "what is 2 to the power of 0.5",
        "九" * 900 + "乘以二",
        "一亿" * 400 + "加一",
        "根号" * 400 + "2",
        "1 plus " * 200 + "1",
        "the square root of " * 100 + "16",
        "minus " * 300 + "1",
        "\x00\x01\ufffd",
        "你好" * 600,
    ],
)
def test_hostile_inputs_are_refused_quickly(question: str) -> None:
    start = time.perf_counter()
    assert calculate(question) is None
    assert time.perf_counter() - start < 1.0


def test_moderate_nesting_still_works() -> None:
    assert calc("(" * 10 + "2 times 3" + ")" * 10).result == "6"
    assert calc("2 ^ 3 ^ 2").result == "512"  # right-associative


def test_fuzz_never_raises() -> None:
    rng = random.Random(1234)
    pieces = [
        "what is", "plus", "minus", "times", "divided by", "of", "half", "percent", "squared",
        "square root of", "to the power of", "and", "a", "hundred", "seventeen", "point", "x",
        "(", ")", "+", "-", "*", "/", "^", "%", "=", "0", "1", "7", "3.5", "1/0", "99999999",
        "km", "in", "how many", "degrees", "celsius", "加", "减", "乘以", "除以", "除", "的",
        "平方", "平方根", "次方", "分之", "百分之", "负", "点", "一", "十", "百", "万", "亿",
        "零", "两", "个", "半", "小时", "米", "千米", "余几", "是多少", "？", "，", "。",
    ]  # fmt: skip
    for _ in range(3000):
        question = " ".join(rng.choice(pieces) for _ in range(rng.randint(1, 9)))
        if rng.random() < 0.5:
            question = question.replace(" ", "")
        found = calculate(question)
        assert found is None or isinstance(found, Calculation)
    chars = "0123456789+-*/^%().,xX ×÷√²一二三十百千万亿点负加减乘除以的平方根次分之余 abcz?!"
    for _ in range(3000):
        question = "".join(rng.choice(chars) for _ in range(rng.randint(0, 30)))
        found = calculate(question)
        assert found is None or isinstance(found, Calculation)


def test_not_a_string_is_not_a_calculation() -> None:
    assert calculate(None) is None  # type: ignore[arg-type]
    assert calculate("1 plus 1" * 200) is None  # longer than any spoken question


# ----------------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("十", 10),
        ("十五", 15),
        ("一十五", 15),
        ("二十", 20),
        ("一百零五", 105),
        ("三千零五十", 3050),
        ("一百二", 120),
        ("两万五", 25000),
        ("一万两千三百", 12300),
        ("一亿两千万", 120000000),
        ("一千零十", 1010),
        ("一万亿", 10**12),
        ("五十六万七千八百九十", 567890),
        ("二零二四", 2024),
        ("三点一四", Fraction(314, 100)),
        ("一点零五", Fraction(105, 100)),
        ("1.5万", 15000),
        ("负三", -3),
        ("17", 17),
    ],
)
def test_chinese_numerals(text: str, value: Fraction | int) -> None:
    assert zh_number(text) == value


@pytest.mark.parametrize(
    "text", ["点五", "三四", "万", "三点", "abc", "", "0百", "百百", "一百一千", "一万万"]
)
def test_not_chinese_numerals(text: str) -> None:
    assert zh_number(text) is None


@pytest.mark.parametrize(
    ("text", "said", "values"),
    [
        ("a hundred and five", "#0", [105]),
        ("two thousand three hundred and one", "#0", [2301]),
        ("one million two hundred thousand", "#0", [1200000]),
        ("ninety nine", "#0", [99]),
        ("three quarters", "#0", [Fraction(3, 4)]),
        ("a half", "#0", [Fraction(1, 2)]),
        ("two point five", "#0", [Fraction(5, 2)]),
        ("3 million", "#0", [3000000]),
        ("3 seconds", "#0 seconds", [3]),  # "second" is not a fraction after a count
        ("seventeen times twenty three", "#0 * #1", [17, 23]),
        ("the third planet", "the third planet", []),
    ],
)
def test_english_number_words(text: str, said: str, values: list[Fraction | int]) -> None:
    got, nums = read_english(text)
    assert got == said
    assert [n.value for n in nums] == values


@pytest.mark.parametrize(
    ("value", "text", "exact"),
    [
        (Fraction(391), "391", True),
        (Fraction(3, 4), "0.75", True),
        (Fraction(1, 3), "0.3333", False),
        (Fraction(2, 3), "0.6667", False),
        (Fraction(-10, 3), "-3.3333", False),
        (Fraction(1, 30000), "0.00003333", False),
        (Fraction(-1, 10**9), "-0.000000001", True),
    ],
)
def test_decimal_text(value: Fraction, text: str, exact: bool) -> None:
    assert decimal_text(value) == (text, exact)
