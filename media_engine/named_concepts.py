"""Named rules, laws and kinds: is "the Hendricks rule" or "蓝莓定理" something schools teach?

A made-up name built from real words passes every dictionary look-up (`media_engine.lexicon`),
and the model, asked about it, explains it with confidence. A rule, law, theorem or effect is
named after a person or a thing, and the ones a school subject teaches are few: they are listed
here (a few hundred, English and Chinese). A question about a named one that is neither listed
nor in the tutor's material is asked back instead of answered. The same holds for a kind of
animal in Chinese written as a thing plus 虫/鱼/鸟/兽 ("闪光虫") that jieba's dictionary of
350,000 words does not hold; a rare real one ("鹦鹉鱼") is asked back too, which costs a
student one more sentence, where an invented answer would teach them something false.
"""

from __future__ import annotations

import re

from knowledge.text import in_jieba_dictionary, jieba_words
from knowledge.vocabulary import zipf

# People (and places) the rules, laws, theorems and effects of school science and maths are named
# after, lowercase, as English writes them.
EPONYMS = frozenset(
    """
    abel ampere amdahl apollonius archimedes aristotle arrhenius avogadro babbage bayes beer
    benford bernoulli bezout bohr boltzmann boole boyle bragg brahmagupta brewster brown
    brownian carnot cartesian cauchy cavalieri cavendish celsius ceva charles chebyshev clausius
    compton copernicus coriolis coulomb cramer curie dalton darwin de descartes diophantus
    dirac doppler einstein euclid euclidean euler fahrenheit faraday fermat fermi fibonacci fick
    fitts fleming foucault fourier fraunhofer fresnel galileo galilean gauss gaussian gay-lussac
    gibbs goldbach graham green hall hardy hardy-weinberg heisenberg henry heron hess hilbert
    hooke hubble hund huygens joule kelvin kepler kirchhoff kolmogorov lagrange lamarck laplace
    lavoisier le leibniz lenz linnaeus lorentz lussac malthus mandelbrot markov markovnikov maxwell
    mendel mendeleev menelaus michelson millikan mobius moore murphy napier navier nernst newton
    newtonian noether occam ohm pappus pareto pascal pauli pavlov pell pick planck plato poisson
    ptolemy pythagoras pythagorean raman raoult rayleigh riemann rolle rutherford schrodinger
    seebeck sierpinski simpson snell stefan stokes sturm taylor thales thevenin thomson
    torricelli turing van venn vieta volta watt weber wien wilson young zeeman zeno zipf
    aufbau banach chatelier collatz coanda drake fleming hasselbalch henderson hubble kruger
    leidenfrost magnus meissner moivre morley mpemba napoleon olbers parkinson peltier russell
    rydberg stark tarski tyndall venturi viviani zaitsev godwin metcalfe lambert dunning
    """.split()
)

# The kinds of named things the check covers: "X's law", "the X rule".
_NAMED_EN = re.compile(
    r"\b([A-Z][a-z]+(?:-[A-Z][a-z]+)?)(?:['’]s?)?\s+(?:rules?|laws?|theorem|principle|effect|"
    r"paradox|constant|equation|conjecture|lemma|formula)\b"
)
# The kind word in lowercase: "the Greenhouse Effect" is a title, its words capitalised, not a
# name. Names as common as everyday words ("the Golden rule", "Smith's law") cannot be told
# from them.
_EVERYDAY_ZIPF = 4.0

# Chinese names of rules and laws school subjects teach that jieba's dictionary writes as two
# words (正弦 + 定理), so its look-up alone would take them for made up.
ZH_NAMED = frozenset(
    """
    正弦定理 余弦定理 中值定理 韦达定理 费马大定理 二项式定理 因式定理 余数定理 垂径定理
    射影定理 切线长定理 相交弦定理 托勒密定理 中线定理 角平分线定理 三垂线定理 勾股定理
    万有引力定律 惯性定律 反射定律 折射定律 分离定律 遗传定律 自由组合定律 运动定律
    能量守恒定律 质量守恒定律 动量守恒定律 电荷守恒定律 焦耳定律 库仑定律 欧姆定律 胡克定律
    浮力原理 杠杆原理 连通器原理 抽屉原理 鸽巢原理 加法原理 乘法原理 化学原理 工作原理
    温室效应 光电效应 蝴蝶效应 热岛效应 多普勒效应 磁效应 热效应 引力常数 普朗克常数
    阿伏伽德罗常数 气体常数
    """.split()
)
_LAW_HEADS = frozenset({"定理", "定律", "原理", "效应", "法则", "常数"})
_ANIMAL_HEADS = frozenset("虫鱼鸟兽")
# What a made-up name is built from: a common noun ("蓝莓", "闪光"), not a person's or a place's
# name, which jieba tags nr, ns, nrt ("牛顿", "阿基米德") and whose rules are left to the model.
_COMMON_NOUN_TAGS = frozenset({"n", "nz"})


def unknown_named(question: str, language: str) -> list[str]:
    """The named rules, laws or kinds `question` asks about that no list here holds (see the
    module); the caller checks them against the tutor's material."""
    if language == "zh":
        return _unknown_named_zh(question)
    if language == "en":
        return [
            f"{match.group(0)}"
            for match in _NAMED_EN.finditer(question)
            if match.start() > 0
            and (name := match.group(1).lower()) not in EPONYMS
            and not set(name.split("-")) <= EPONYMS
            and zipf()(name, "en") < _EVERYDAY_ZIPF
        ]
    return []


def _unknown_named_zh(question: str) -> list[str]:
    words = list(jieba_words()(question))
    found = []
    for (word, tag), (head, _) in zip(words, words[1:], strict=False):
        if head not in _LAW_HEADS and head not in _ANIMAL_HEADS:
            continue
        name = word + head
        if (
            tag in _COMMON_NOUN_TAGS
            and len(word) >= 2
            and name not in ZH_NAMED
            and not in_jieba_dictionary(name)
        ):
            found.append(name)
    return found
