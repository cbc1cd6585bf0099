"""A reply that only says the question back is replaced by an answer beyond the material."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

from knowledge.prompt import dont_know
from media_engine.answering import NOT_COVERED, NOT_COVERED_LEAD, Plan
from media_engine.no_answer import beyond_material, checked, says_something, unless_empty
from media_engine.tutor import TutorProfile


class Pieces:
    """A model's reply a few characters at a time, noting whether it was closed."""

    def __init__(self, text: str, size: int = 3) -> None:
        self.text, self.size, self.closed = text, size, False

    async def stream(self) -> AsyncGenerator[str, None]:
        try:
            for i in range(0, len(self.text), self.size):
                yield self.text[i : i + self.size]
        finally:
            self.closed = True


async def _instead() -> AsyncIterator[str]:
    yield "INSTEAD"


async def _join(pieces: AsyncIterator[str]) -> str:
    return "".join([piece async for piece in pieces])


def test_a_sentence_of_the_questions_own_words_says_nothing() -> None:
    assert not says_something("圆的面积怎么算？", "圆的面积怎么算？")
    assert not says_something("常温下是液体的金属是金属。", "常温下是液体的金属是什么？")
    assert not says_something("What is the Hendricks rule?", "What's the Hendricks rule?")
    assert says_something("圆的面积等于圆周率乘半径的平方。", "圆的面积怎么算？")
    assert says_something("Photosynthesis is how plants make food.", "What is photosynthesis?")


def test_questions_are_checked_statements_are_not() -> None:
    assert checked("Is the Sun a star?")
    assert checked("月亮自己会发光吗？")
    assert checked("What is the largest organ?")
    assert checked("圆的面积怎么算？")
    assert checked("常温下是液体的金属是什么？")
    # A statement (a student answering, or thinking aloud) said back is a confirmation.
    assert not checked("植物需要阳光和水。")
    assert not checked("I think plants need sunlight and water.")


async def test_a_yes_or_no_answer_in_the_question_s_words_is_an_answer() -> None:
    # "It is a star." answers "Is the Sun a star?" in the question's own words.
    for question, text in [
        ("Is the Sun a star?", "It is a star."),
        ("Is the Sun a star?", "Yes."),
        ("月亮自己会发光吗？", "月亮自己不会发光。"),
    ]:
        said = await _join(unless_empty(Pieces(text).stream(), question, _instead))
        assert said == text, question
    # Said back as a question, it is no answer; the answer after it is.
    question = "月亮自己会发光吗？"
    said = await _join(unless_empty(Pieces(question).stream(), question, _instead))
    assert said == "INSTEAD"
    model = Pieces("月亮自己会发光吗？月球本身不发光，它反射太阳光。")
    said = await _join(unless_empty(model.stream(), question, _instead))
    assert said == "月球本身不发光，它反射太阳光。"


async def test_an_echo_is_replaced_and_the_model_stopped() -> None:
    model = Pieces("圆的面积怎么算？圆的面积……")
    assert await _join(unless_empty(model.stream(), "圆的面积怎么算？", _instead)) == "INSTEAD"
    assert model.closed


async def test_a_statement_of_the_question_is_replaced() -> None:
    model = Pieces("常温下是液体的金属是金属。")
    question = "常温下是液体的金属是什么？"
    assert await _join(unless_empty(model.stream(), question, _instead)) == "INSTEAD"


async def test_the_question_said_back_before_the_answer_is_dropped() -> None:
    # The notes say 月球 where the student said 月亮; the model says the question back first.
    model = Pieces("月亮为什么会发光？月亮本身不发光，它反射太阳光。")
    said = await _join(unless_empty(model.stream(), "月亮为什么会发光？", _instead))
    assert said == "月亮本身不发光，它反射太阳光。"
    model = Pieces("What is the Hendricks rule? The Hendricks rule is a law of motion.")
    said = await _join(unless_empty(model.stream(), "What's the Hendricks rule?", _instead))
    assert said == "The Hendricks rule is a law of motion."


async def test_the_question_said_back_twice_is_replaced() -> None:
    model = Pieces("圆的面积怎么算？怎么算圆的面积？圆的面积等于πr²。")
    assert await _join(unless_empty(model.stream(), "圆的面积怎么算？", _instead)) == "INSTEAD"
    assert model.closed


async def test_a_real_answer_passes_whole_and_unchanged() -> None:
    for question, text in [
        ("圆的面积怎么算？", "圆的面积等于圆周率乘半径的平方。它的单位是平方厘米。"),
        ("What is photosynthesis?", "Photosynthesis is how green plants make food. Easy!"),
        ("What colour is the sky?", "Blue"),  # no end mark: its last word was whole
    ]:
        model = Pieces(text)
        assert await _join(unless_empty(model.stream(), question, _instead)) == text


async def test_nothing_said_is_not_replaced() -> None:
    assert await _join(unless_empty(Pieces("").stream(), "What is it?", _instead)) == ""


def _tutor(policy: str) -> TutorProfile:
    return TutorProfile(
        id=1, name="王老师", subject="数学", language="zh", kb_id=1, answer_policy=policy
    )


async def test_beyond_the_material_as_the_policy_says() -> None:
    asked: list[tuple[Plan, str]] = []

    def generate(plan: Plan, lead: str) -> AsyncGenerator[str, None]:
        asked.append((plan, lead))
        return Pieces("圆的面积等于πr²。再说一句。还有一句。").stream()

    first = await _join(beyond_material(_tutor("course_first"), generate, 1))
    assert first == NOT_COVERED_LEAD["zh"] + "圆的面积等于πr²。"
    plan, lead = asked[0]
    assert (plan.route, plan.context, lead) == (
        "general",
        NOT_COVERED["zh"],
        NOT_COVERED_LEAD["zh"],
    )
    only = await _join(beyond_material(_tutor("course_only"), generate, 1))
    assert only == dont_know("zh", "数学")
    assert len(asked) == 1  # course_only asks no model
