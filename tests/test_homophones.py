"""Course words a recogniser wrote as homophones are put right, from the demo material's own
words, and nothing a student really said is changed (real jieba and pypinyin)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from knowledge.homophones import Homophones, read_number

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "knowledge" / "demo"


@pytest.fixture(scope="module")
def sounds() -> Homophones:
    return Homophones.of_texts(p.read_text() for p in DEMO.glob("*_zh.md"))


@pytest.mark.parametrize(
    ("heard", "meant"),
    [
        ("十五练是什么？", "食物链是什么？"),  # shí wǔ liàn for shí wù liàn
        ("15链是什么?", "食物链是什么?"),  # the same, with the number in digits
        ("业绿素有什么用？", "叶绿素有什么用？"),
        ("光和作用需要什么？", "光合作用需要什么？"),
    ],
)
def test_a_course_word_written_as_a_homophone_is_put_right(
    sounds: Homophones, heard: str, meant: str
) -> None:
    assert sounds.correct(heard) == meant


def test_what_was_really_said_is_kept(sounds: Homophones) -> None:
    kept = [
        "你能讲讲水势怎么循环的吗？",  # 水势 is a word: kept, though 水是 was meant
        "植物是怎么制造养分的？",  # 物是 would sound like 误食: too short to be sure
        "三角形的内角和是多少度？",  # 和是 sounds like 合适
        "1升等于多少毫升？",  # 一升 sounds like 一生
        "What is photosynthesis?",
    ]
    for text in kept:
        assert sounds.correct(text) == text
    # Every sentence of the material, and every Chinese question of the answer set.
    material = [p.read_text() for p in DEMO.glob("*_zh.md")]
    sentences = [s for t in material for s in re.split(r"(?<=[。！？])", t) if s.strip()]
    questions = json.loads((ROOT / "bench" / "answer_questions.json").read_text())["questions"]
    asked = [q["q"] for q in questions if q["lang"] == "zh"]
    assert len(sentences) > 200 and len(asked) > 50
    changed = [s for s in sentences + asked if sounds.correct(s) != s]
    assert changed == []


def test_words_that_sound_alike_are_left_alone() -> None:
    sounds = Homophones.of_words(["食物链", "十五链", "叶绿素"])  # two words, one sound
    assert sounds.correct("十五练是什么？") == "十五练是什么？"
    assert sounds.correct("业绿素有什么用？") == "叶绿素有什么用？"


def test_numbers_are_read_as_they_are_said() -> None:
    assert [read_number(n) for n in ["0", "7", "10", "15", "20", "305", "1010"]] == [
        "零",
        "七",
        "十",
        "十五",
        "二十",
        "三百零五",
        "一千零一十",
    ]
