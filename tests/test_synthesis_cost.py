"""The synthesizer's cost per chunk, learnt from the chunks it made; and a chunk cut to fit."""

from __future__ import annotations

import jieba
import pytest

from media_engine.chunking import split_to_fit
from media_engine.synthesis_cost import LEAST_SAMPLES, SAMPLES, SynthesisCost
from tests.voice_helpers import FakeTTS


def test_nothing_is_estimated_before_a_few_chunks() -> None:
    cost = SynthesisCost()
    for n in range(LEAST_SAMPLES - 1):
        cost.add(10 + n, 1.0)
        assert cost.estimate(10) is None
    cost.add(20, 2.0)
    assert cost.estimate(10) is not None


def test_a_fixed_part_and_a_part_per_character_are_found() -> None:
    cost = SynthesisCost()
    for n in (6, 9, 13, 19, 7, 24):
        cost.add(n, 0.3 + 0.15 * n)
    assert cost.estimate(10) == pytest.approx(1.8)
    assert cost.estimate(20) == pytest.approx(3.3)


def test_the_latest_chunks_count_as_the_load_changes() -> None:
    cost = SynthesisCost()
    for n in range(SAMPLES):
        cost.add(5 + n % 10, 0.1 * (5 + n % 10))  # an idle machine
    for n in range(SAMPLES):
        cost.add(5 + n % 10, 0.3 * (5 + n % 10))  # the model writing beside it
    assert cost.estimate(10) == pytest.approx(3.0)


def test_chunks_of_one_size_are_costed_in_proportion() -> None:
    cost = SynthesisCost()
    for seconds in (1.0, 1.2, 0.8, 1.0):
        cost.add(10, seconds)
    assert cost.estimate(20) == pytest.approx(2.0)


def test_chinese_is_cut_at_a_clause_when_one_is_near() -> None:
    text = "太阳照射海洋、湖泊和河流，水受热蒸发变成水蒸气"
    head, rest = split_to_fit(text, lambda part: len(part) <= 14) or ("", "")
    assert (head, rest) == ("太阳照射海洋、湖泊和河流，", "水受热蒸发变成水蒸气")


def test_chinese_is_cut_at_a_word() -> None:
    text = "植物利用光能把二氧化碳和水转变成葡萄糖"
    cut = split_to_fit(text, lambda part: len(part) <= 9)
    assert cut is not None
    head, rest = cut
    assert head + rest == text and 4 <= len(head) <= 9
    words = list(jieba.cut(text))
    assert head in {"".join(words[:i]) for i in range(len(words))}  # whole words only


def test_english_is_cut_at_a_space() -> None:
    cut = split_to_fit("The Sun heats water in oceans, lakes and rivers", lambda p: len(p) <= 34)
    assert cut == ("The Sun heats water in oceans,", "lakes and rivers")


def test_nothing_is_cut_that_would_leave_a_word_alone_or_fit_nowhere() -> None:
    assert split_to_fit("Two words", lambda part: True) is None
    assert split_to_fit("光合作用", lambda part: True) is None
    assert split_to_fit("The Sun heats water in oceans", lambda part: False) is None


@pytest.mark.asyncio
async def test_the_synthesizer_learns_its_live_costs_not_the_stores() -> None:
    tts = FakeTTS(seconds_per_char=0.01, delay=0.05)
    for i in range(LEAST_SAMPLES):
        assert tts.estimate_s("a chunk of text", language="en") is None
        await tts.synthesize(f"chunk number {i} of a reply", voice="af_heart", language="en")
    estimate = tts.estimate_s("a chunk of text", language="en")
    assert estimate is not None and estimate >= 0.03  # each took the fake model's 50 ms
    assert tts.estimate_s("一段话", language="zh") is None  # each language on its own
    await tts.aclose()
