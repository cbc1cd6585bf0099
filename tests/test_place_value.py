"""What a digit is worth in a number, in English and Chinese (media_engine.place_value)."""

from __future__ import annotations

from media_engine.answering import plan
from media_engine.place_value import place_value
from media_engine.tutor import TutorProfile


def spoken(question: str) -> str | None:
    found = place_value(question)
    return None if found is None else found.spoken


def test_a_digit_is_worth_its_place() -> None:
    assert spoken("What's the 6 worth in 8612?") == (
        "In 8612, the 6 in the hundreds place is worth 600."
    )
    assert spoken("What is the value of the digit 3 in 4,352?") == (
        "In 4352, the 3 in the hundreds place is worth 300."
    )
    assert spoken("What place is the 4 in, in 3.45?") == (
        "In 3.45, the 4 in the tenths place is worth 0.4."
    )
    # A digit that is there more than once is each of its places.
    assert spoken("In 6616, what is the 6 worth?") == (
        "In 6616, the 6 in the thousands place is worth 6000; the 6 in the hundreds place is "
        "worth 600; the 6 in the ones place is worth 6."
    )


def test_chinese_digits_and_numerals() -> None:
    assert spoken("8612里的6表示多少？") == "8612里的6在百位上，表示6个百，也就是600。"
    assert spoken("八千六百一十二里的六表示多少？") == "8612里的6在百位上，表示6个百，也就是600。"
    assert spoken("数字7在3724里表示多少？") == "3724里的7在百位上，表示7个百，也就是700。"
    assert spoken("3.45里的5表示多少？") == "3.45里的5在百分位上，表示5个0.01，也就是0.05。"


def test_other_questions_with_two_numbers_are_not_place_value() -> None:
    for question in [
        "What is 6 times 8612?",
        "How many 6s are in 8612?",
        "What is the value of x if 2x = 12?",
        "What is the value of the 5 in 8612?",  # no 5 there
        "2.768保留两位小数是多少？",
        "8612加6是多少？",
    ]:
        assert spoken(question) is None, question


def test_a_place_value_question_is_answered_by_the_engine() -> None:
    tutor = TutorProfile(id=3, name="Max", subject="Maths", kb_id=3)
    decided = plan("What's the 6 worth in 8612?", tutor, relevant=[])
    assert decided.route == "calculated" and decided.said and "600" in decided.said
