"""Exact answers for the questions that ask for a calculation or a unit conversion.

The small language model guesses arithmetic; this module computes it, so the reply can be
grounded in the true result. `calculate` reads a question (a speech transcript in English or
Chinese: numbers may be words, operators spoken) and returns the calculation it asks for,
computed exactly with `fractions.Fraction`, or None when it asks none.

It is conservative, because a false calculation is worse than none: the whole question, less a
few polite and question words ("what's", "请问", "等于多少"), must be the calculation, so
"Who was the first person on the Moon in 1969?" is not one. It never evaluates code and never
raises: odd input, huge numbers and deep nesting are refused with None.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from fractions import Fraction

from media_engine import numbers as nb
from media_engine.numbers import Num

MAX_QUESTION = 1000  # characters; a longer utterance is not a calculation question
MAX_TOKENS = 64
MAX_DEPTH = 24  # nesting of brackets and unary operators
MAX_BITS = 4000  # size of any value met on the way (numerator and denominator)
MAX_EXPONENT = 1000


@dataclass(frozen=True)
class Calculation:
    """A calculation the student asked for, with its exact result."""

    expression: str  # normalised: "17 × 23", "15% of 80", "3 km in m"
    result: str  # "391", "0.75", "3/4" (when a fraction is asked for), "3000 m", "undefined"
    spoken: str  # the whole fact in the question's language: "17 × 23 = 391", "17 乘以 23 等于 391"


class _Refused(Exception):
    """Not a calculation this module will answer."""


class _Undefined(Exception):
    """A calculation without a value: division by zero ("zero"), a negative root ("root")."""


@dataclass(frozen=True)
class _Node:
    op: str  # "num" + - * / mod of ^ neg sqrt cbrt sq cube pct
    args: tuple[_Node, ...] = ()
    num: Num | None = None


_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "mod": 2, "of": 2, "neg": 3, "sqrt": 3, "cbrt": 3}
_PREC |= {"^": 4, "sq": 5, "cube": 5, "pct": 5, "num": 6}
_LEVELS = [("+", "-", "sub"), ("*", "/", "rdiv", "mod", "of")]  # 减 is "sub", never a sign;
# "rdiv" is 除: a 除 b is b / a


def _portion(node: _Node) -> bool:
    """Whether `node` can be taken "of" something: 15%, 3/4, half."""
    value = node.num.value if node.num else Fraction(0)
    return node.op in ("pct", "/") or node.op == "num" and value.denominator != 1


class _Parser:
    """Recursive descent over tokens: numbers "#i", + - * / ^ ( ) and named operators."""

    def __init__(self, tokens: list[str], nums: list[Num]) -> None:
        if len(tokens) > MAX_TOKENS:
            raise _Refused
        self.tokens, self.nums, self.i, self.depth = tokens, nums, 0, 0

    def parse(self) -> _Node:
        node = self._expr()
        if self.i != len(self.tokens):
            raise _Refused
        return node

    def _peek(self) -> str:
        return self.tokens[self.i] if self.i < len(self.tokens) else ""

    def _take(self) -> str:
        self.i += 1
        return self.tokens[self.i - 1] if self.i <= len(self.tokens) else ""

    def _expr(self, level: int = 0) -> _Node:
        """A sum (level 0) of products (level 1) of unary terms."""
        node = self._expr(1) if level == 0 else self._unary()
        while self._peek() in _LEVELS[level]:
            op = self._take()
            right = self._expr(1) if level == 0 else self._unary()
            if op == "of" and not _portion(node):
                raise _Refused
            args = (right, node) if op == "rdiv" else (node, right)
            node = _Node({"rdiv": "/", "sub": "-"}.get(op, op), args)
        return node

    def _unary(self) -> _Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Refused
        if self._peek() in ("-", "neg", "sqrt", "cbrt"):
            op = self._take()
            node = _Node("neg" if op in ("-", "neg") else op, (self._unary(),))
        else:
            node = self._postfix()
            if self._peek() == "^":
                self._take()
                node = _Node("^", (node, self._unary()))
        self.depth -= 1
        return node

    def _postfix(self) -> _Node:
        node = self._primary()
        while self._peek() in ("sq", "cube", "%", "psqrt", "pcbrt", "rof"):
            op = self._take()
            if op == "rof":  # Chinese 的: "80 的 15%" is 15% of 80
                part = self._primary()
                if self._peek() == "%":
                    self._take()
                    part = _Node("pct", (part,))
                if not _portion(part):
                    raise _Refused
                node = _Node("of", (part, node))
            else:
                node = _Node({"%": "pct", "psqrt": "sqrt", "pcbrt": "cbrt"}.get(op, op), (node,))
        return node

    def _primary(self) -> _Node:
        tok = self._take()
        if tok == "(":
            node = self._expr()
            if self._take() != ")":
                raise _Refused
            return node
        if re.fullmatch(r"#\d{1,3}", tok) and int(tok[1:]) < len(self.nums):
            return _Node("num", num=self.nums[int(tok[1:])])
        raise _Refused


def _check(node: _Node, parent: str = "") -> None:
    """Refuse the ambiguous: a percentage only multiplies ("15% of 80"; "80 + 15%" means
    different things to different people)."""
    if node.op == "pct" and parent not in ("*", "/", "of"):
        raise _Refused
    if node.op == "neg" and node.args[0].op in ("^", "sq", "cube"):
        raise _Refused  # "minus 2 squared": is it -4 or 4?
    for arg in node.args:
        _check(arg, node.op)


def _ops(node: _Node) -> set[str]:
    return {node.op}.union(*(_ops(a) for a in node.args))


def _power(x: Fraction, e: Fraction) -> Fraction:
    if e.denominator != 1 or abs(e) > MAX_EXPONENT:
        raise _Refused
    if max(x.numerator.bit_length(), x.denominator.bit_length()) * abs(e) > MAX_BITS:
        raise _Refused
    if x == 0 and e < 0:
        raise _Undefined("zero")
    return x ** int(e)


def _eval(node: _Node) -> tuple[Fraction, bool]:
    """The value of `node` and whether it is exact (roots of non-squares are not)."""
    if node.num is not None:
        return node.num.value, True
    vals = [_eval(a) for a in node.args]
    x, y = vals[0][0], vals[-1][0]
    exact = all(e for _, e in vals)
    op = node.op
    if op in ("/", "mod") and y == 0:
        raise _Undefined("zero")
    if op == "mod" and not (x.denominator == y.denominator == 1 and x >= 0 and y > 0):
        raise _Refused
    if op in ("sqrt", "cbrt"):
        if x < 0 and op == "sqrt":
            raise _Undefined("root")
        v, root_exact = nb.root(x, 2 if op == "sqrt" else 3)
        exact = exact and root_exact
    elif op in ("^", "sq", "cube"):
        v = _power(x, y if op == "^" else Fraction(2 if op == "sq" else 3))
    else:
        v = {
            "+": lambda: x + y, "-": lambda: x - y, "*": lambda: x * y, "of": lambda: x * y,
            "/": lambda: x / y, "mod": lambda: x % y, "neg": lambda: -x, "pct": lambda: x / 100,
        }[op]()  # fmt: skip
    if max(v.numerator.bit_length(), v.denominator.bit_length()) > MAX_BITS:
        raise _Refused
    return v, exact


_EN_OP = {"+": "+", "-": "-", "*": "×", "/": "÷", "mod": "mod", "of": "of"}
_ZH_OP = {"+": "加", "-": "减", "*": "乘以", "/": "除以"}
_ZH_POST = {"sqrt": "的平方根", "cbrt": "的立方根", "sq": "的平方", "cube": "的立方"}


def _show(node: _Node, zh: bool) -> str:
    """`node` written out: "3 + 4 × 2" (English) or "3 加 4 乘以 2" (Chinese)."""
    if node.num is not None:
        return node.num.text

    def wrap(child: _Node, need: int) -> str:
        text = _show(child, zh)
        prec = 2 if child.num and "/" in text else _PREC[child.op]  # "3/4" is a division
        return f"({text})" if prec < need else text

    op, args, prec = node.op, node.args, _PREC[node.op]
    if op == "neg" or op in ("sqrt", "cbrt") and not zh:
        return {"neg": "-", "sqrt": "√", "cbrt": "∛"}[op] + wrap(args[0], 5)
    if op in ("sq", "cube", "pct", "sqrt", "cbrt"):
        inner = wrap(args[0], 6 if op in ("sq", "cube", "pct") else 5)
        post = "%" if op == "pct" else f" {_ZH_POST[op]}" if zh else "²" if op == "sq" else "³"
        return inner + post
    if op == "^":
        base, exp = wrap(args[0], 5), wrap(args[1], 4)
        return f"{base} 的 {exp} 次方" if zh else f"{base}^{exp}"
    left = wrap(args[0], prec)
    right = wrap(args[1], 7 if args[1].op == "neg" else prec + (op in ("-", "/", "mod", "of")))
    if zh and op in ("of", "mod"):
        return f"{right} 的 {left}" if op == "of" else f"{left} 除以 {right} 的余数"
    return f"{left} {(_ZH_OP if zh else _EN_OP)[op]} {right}"


_UNDEFINED = {
    ("zero", False): "is undefined: you cannot divide by zero.",
    ("zero", True): "没有意义，因为不能除以零。",
    ("root", False): "is not a real number.",
    ("root", True): "不是实数：负数没有实数平方根。",
}


def _answer(node: _Node, zh: bool, mode: str) -> Calculation:
    """The calculation `node` stands for; `mode` is "", "fraction", "decimal", "rem" (only the
    remainder is asked) or "quotrem" (quotient and remainder)."""
    _check(node)
    if mode in ("rem", "quotrem") and node.op not in ("/", "mod"):
        raise _Refused
    if mode == "rem":
        node = _Node("mod", node.args)
    ops = _ops(node) - {"num", "neg", "pct"}
    if not ops and mode not in ("fraction", "decimal"):
        raise _Refused  # a single number is not a calculation
    expr = _show(node, False)
    said = _show(node, True) if zh else expr
    try:
        value, exact = _eval(node)
    except _Undefined as why:
        tail = _UNDEFINED[why.args[0], zh]
        return Calculation(expr, "undefined", f"{said} {tail}")
    if node.op == "mod" or mode == "quotrem":
        a, b = (_eval(arg)[0] for arg in node.args)
        if not (a.denominator == b.denominator == 1 and a >= 0 and b > 0):
            raise _Refused
        q, r = divmod(int(a), int(b))
        left = f"{_show(node.args[0], zh)} {'除以' if zh else '÷'} {_show(node.args[1], zh)}"
        full = f"{left} 等于 {q} 余 {r}" if zh else f"{left} = {q} remainder {r}"
        if node.op == "mod":
            return Calculation(
                expr, str(r), f"{full}，余数是 {r}" if zh else f"{full}, so the remainder is {r}"
            )
        return Calculation(expr, f"{q} 余 {r}" if zh else f"{q} remainder {r}", full)
    if mode == "fraction" and exact:
        text, rounded = str(value), True
    else:
        text, rounded = nb.decimal_text(value)
    if len(text.split(".")[0].split("/")[0].lstrip("-")) > nb.MAX_DIGITS or text == expr:
        raise _Refused  # too big to be a school answer, or nothing to calculate: "5 as a fraction"
    approx = not (exact and rounded)
    eq = ("约等于" if approx else "等于") if zh else ("≈" if approx else "=")
    return Calculation(expr, text, f"{said} {eq} {text}")


# ----------------------------------------------------------------------------------- English

_EN_PREFIX = re.compile(
    r"^(?:ok(?:ay)?|so|um+|uh+|er+|hmm+|hey|hi|hello|well|and|but|please|now|then|also|right"
    r"|teacher|sir|miss|(?:quick|next|my) question|(?:can|could|would|will) you(?: please)?"
    r"|(?:tell|show|help) me(?: with)?|i (?:want|would like|d like|need) to know|i wonder|let s"
    r"|do you know|what (?:is|s|are|was|would be|will be|does|do you get (?:if|when) you)|whats"
    r"|how much (?:is|are|would be|does)|calculate|compute|work out|figure out|solve|evaluate"
    r"|find|convert|change|turn|do|give me|(?:the )?(?:answer|result|value|total) (?:to|of|for)"
    r"|what|how much)"
    r"(?: |$)"
)
_EN_SUFFIX = re.compile(
    r"(?:^| )(?:equals?|equal to|is|are|make|makes|give|gives|comes? to|be|please|exactly|then"
    r"|again|in total|altogether|for me|=|right|now|thanks|thank you|what)$"
)
_EN_MODES = [
    ("fraction", r"as an? (?:simplified |proper |improper |common )?fraction|in fraction form"),
    ("fraction", r"in (?:its )?(?:simplest|lowest) (?:form|terms)"),
    ("decimal", r"as an? decimal(?: number)?|in decimal(?: form)?|in decimals"),
]
_X = r"#\d+"
_EN_PHRASES = [  # (shape, calculation): "subtract 3 from 10" is "10 - 3"
    (rf"(?:add|the sum of) ({_X}) (?:and|to) ({_X})", "{0} + {1}"),
    (rf"(?:subtract|take|-) ({_X}) (?:away )?from ({_X})", "{1} - {0}"),
    (rf"(?:multiply|the product of) ({_X}) (?:by|and|with) ({_X})", "{0} * {1}"),
    (rf"divide ({_X}) by ({_X})", "{0} / {1}"),
    (rf"(?:the )?remainder (?:when|if|of|after|for) ({_X}) (?:is )?/ ({_X})", "{0} mod {1}"),
    (rf"(?:the )?remainder (?:when|if|after) you divide ({_X}) by ({_X})", "{0} mod {1}"),
]
_EN_QUOTREM = re.compile(
    rf"^({_X}) / ({_X}) (?:with (?:a |the )?remainders?|and (?:the |a )?remainder"
    r"|remainder)$"
)


def _strip(text: str, zh: bool) -> tuple[str, str]:
    """`text` without leading and trailing question words, and the answer mode it asks for."""
    prefix, suffix, modes = (
        (_ZH_PREFIX, _ZH_SUFFIX, _ZH_MODES) if zh else (_EN_PREFIX, _EN_SUFFIX, _EN_MODES)
    )
    mode = ""
    while True:
        before = text
        for name, shape in modes:
            if m := re.search(rf"{'' if zh else '(?:^| )'}(?:{shape})$", text):
                text, mode = text[: m.start()].strip(), name
        text = suffix.sub("", prefix.sub("", text, count=1)).strip()
        if text == before:
            return text, mode


def _english(clause: str, remainder: bool = False) -> Calculation | None:
    if re.search(r"\b(?:1\d|20)\d\d-(?:1\d|20)\d\d\b", clause):
        return None  # "1939-1945" is a span of years
    clause = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", clause.lower().replace("°", " degrees "))
    said, nums = nb.read_english(clause)
    text, mode = _strip(said, False)
    if text.startswith("simplify "):
        text, mode = text[9:], "fraction"
    if conversion := nb.conversion(text, nums, False):
        return Calculation(*conversion)
    if m := _EN_QUOTREM.fullmatch(text):
        text, mode = f"{m[1]} / {m[2]}", "quotrem"
    for shape, calc in _EN_PHRASES:
        if m := re.fullmatch(shape, text):
            text = calc.format(*m.groups())
    return _answer(_Parser(text.split(), nums).parse(), False, mode or "quotrem" * remainder)


# ----------------------------------------------------------------------------------- Chinese

_ZH_PREFIX = re.compile(
    r"^(?:请问|请你|请|老师|你好|嗯+|呃+|那么|那|好的|帮我|帮忙|麻烦你?|我想知道|我想问|想问"
    r"|问一下|你知道|告诉我|计算一下|计算|算一下|算一算|算算|一下|求|用)"
)
_ZH_SUFFIX = re.compile(
    r"(?:呢|啊|呀|吗|吧|哦|的结果|结果|的答案|答案|等于|是|得|为|会是|多少|几|(?<!为)什么|一共)$"
)
_ZH_MODES = [
    ("rem", r"的?余数(?:是|为|等于)?(?:多少|几|什么)?"),
    ("quotrem", r"(?:商|等于|得|是)?(?:多少|几)?余(?:数是|数为)?(?:多少|几)"),
    ("fraction", r"(?:用|写成|化成|是|等于)?(?:分数表示|分数|几分之几)"),
]


def _chinese(clause: str, remainder: bool = False) -> Calculation | None:
    text = re.sub(r"\s+", "", clause).replace("零下", "负")
    text = re.sub(rf"(?<={nb.NUMERAL})个半", "点五", text.replace("一半", "二分之一"))
    text = re.sub(rf"(?<!{nb.NUMERAL})半个?(?={nb.ZH_UNIT})", "零点五", text)
    text, mode = _strip(text, True)
    if conversion := nb.conversion(text, [], True):
        return Calculation(*conversion)
    read = nb.read_chinese(text)
    if read is None:
        return None
    tokens = re.sub(r"rof ((?:neg )?#\d+) powend", r"^ \1", " ".join(read[0])).split()
    return _answer(_Parser(tokens, read[1]).parse(), True, mode or "quotrem" * remainder)


# A remainder asked in a clause of its own ("25 除以 4，商是多少，余数是多少？").
_ASKS_REMAINDER = re.compile(r"余数|余几|余多少|\bremainders?\b", re.IGNORECASE)


def calculate(question: str) -> Calculation | None:
    """The calculation the question asks for, computed exactly; None when it asks none."""
    if not isinstance(question, str) or len(question) > MAX_QUESTION:
        return None
    zh = re.search(r"[\u4e00-\u9fff]", question) is not None
    for mark, zh_word, en_word in (("²", "的平方", " squared "), ("³", "的立方", " cubed ")):
        question = question.replace(mark, zh_word if zh else en_word)  # NFKC makes ² a 2
    text = unicodedata.normalize("NFKC", question)
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text.replace("−", "-").replace("–", "-"))
    remainder = _ASKS_REMAINDER.search(text) is not None
    for clause in re.split(r"[!?;:。,、]|(?<!\d)\.|\.(?!\d)", text):
        try:
            found = _chinese(clause, remainder) if zh else _english(clause, remainder)
        except Exception:  # whatever we cannot read is not a calculation; never raise
            found = None
        if found is not None:
            return found
    return None
