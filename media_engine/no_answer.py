"""A reply that only says the question back is no answer.

Given course material that is near the question but does not answer it ("圆的面积怎么算？"
with notes on rectangles and triangles), a small model at temperature 0 may repeat the
question as its reply, or say it back as a statement ("常温下是液体的金属是金属。"). Such a
first sentence holds no term the question did not. `unless_empty` holds the model's words while
that is so and passes them on the moment a new term comes. A first sentence that ends without
one is dropped: the model often goes on with the answer after saying the question back (the
notes say 月球 where the student said 月亮), and answering beyond the material instead would
say the notes do not have what they have. When the next sentence says nothing new either, the
question is answered as beyond the material (`beyond_material`). The wait costs a real answer
only the few words that restate its subject.

A statement ("植物需要阳光和水。", a student answering) is not checked: said back, it is a
confirmation. A yes-or-no question is answered in its own words ("It is a star."): its reply is
no answer only when it says the question back as a question.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable

from knowledge.prompt import dont_know, looks_like_question, terms
from media_engine.answering import NOT_COVERED, Plan, not_covered_lead
from media_engine.chunking import word_pieces
from media_engine.fact_guard import SENTENCE_END, at_most_sentences
from media_engine.tutor import TutorProfile

log = logging.getLogger(__name__)

# A yes-or-no question is answered in its own words ("It is a star."): see `_echo`.
_YES_OR_NO = re.compile(
    r"^\s*(is|are|was|were|do|does|did|can|could|will|would|should|has|have|had)\b|"
    r"[吗嘛][?？]?\s*$|是不是|有没有|会不会|能不能|对不对",
    re.IGNORECASE,
)

_PART_WORD = re.compile(r"[A-Za-z'-]+$")
# Sentences of the question's own words let by before the reply is taken for no answer.
ECHOES = 1

Generate = Callable[[Plan, str], AsyncGenerator[str, None]]
"""The model's continuation of `lead` for a plan (the conversation's prompt for it)."""


def says_something(text: str, question: str) -> bool:
    """Whether `text` holds a term (a word; in Chinese, a character) `question` does not: "not",
    "本身", a number, a name. Words every sentence has (the, is, 的, 是) are no terms."""
    return bool(terms(text) - terms(question))


def checked(question: str) -> bool:
    """Whether a reply to `question` can be told empty by its words alone."""
    return looks_like_question(question)


# A sentence said back as a question: the only echo a yes-or-no question's answer can be told
# by ("月亮自己会发光吗？" answered "月亮自己会发光吗？"), since "It is a star." answers "Is the
# Sun a star?" in the question's own words.
_ASKED_BACK = re.compile(r"[?？]\s*$")


def _echo(sentence: str, question: str, yes_or_no: bool) -> bool:
    if says_something(sentence, question):
        return False
    return not yes_or_no or _ASKED_BACK.search(sentence) is not None


async def unless_empty(
    pieces: AsyncIterator[str], question: str, instead: Callable[[], AsyncIterator[str]]
) -> AsyncGenerator[str]:
    """`pieces`, or `instead()`'s if they say nothing new (see the module). The model's first
    sentence may be the question said back with the answer after it ("月亮为什么会发光？月亮
    本身不发光……"): that sentence is dropped and the next one judged, once."""
    held: str | None = ""
    echoes = 0
    yes_or_no = _YES_OR_NO.search(question) is not None
    try:
        async for piece in pieces:
            if held is None:
                yield piece
                continue
            held += piece
            # Judged a sentence at a time: the start of the next one is no term of this one.
            while (end := SENTENCE_END.search(held)) is not None and _echo(
                held[: end.end()], question, yes_or_no
            ):
                echoes += 1
                log.debug("a sentence that says nothing new dropped: %r", held[: end.end()])
                held = held[end.end() :]
                if echoes > ECHOES:
                    break
            if echoes > ECHOES:
                break  # the question's own words again: no answer is coming
            # A word still being written ("Hen" of "Hendricks") is no term yet; a yes-or-no
            # answer's first sentence, once it ends other than as a question, is an answer.
            if says_something(_PART_WORD.sub("", held), question) or (
                yes_or_no and SENTENCE_END.search(held) is not None
            ):
                yield held.lstrip() if echoes else held
                held = None
    finally:
        close = getattr(pieces, "aclose", None)
        if close is not None:
            await close()
    if held is None or (echoes == 0 and not held.strip()):
        return
    if echoes <= ECHOES and (
        says_something(held, question)
        or yes_or_no
        and held.strip()
        and not _echo(held, question, yes_or_no)
    ):
        yield held.lstrip() if echoes else held  # its last word was whole after all
        return
    async for piece in instead():
        yield piece


async def beyond_material(
    tutor: TutorProfile, generate: Generate, sentences: int
) -> AsyncGenerator[str]:
    """The answer to a question the material does not answer, as the tutor's policy says:
    course_only, that it is not in the material; course_first, the engine's opening for an
    answer beyond it, and the model's `sentences` after it."""
    language = tutor.language
    if tutor.answer_policy == "course_only":
        for piece in word_pieces(dont_know(language, tutor.subject)):
            yield piece
        return
    lead = not_covered_lead(language)
    for piece in word_pieces(lead):
        yield piece
    generated = generate(
        Plan("general", context=NOT_COVERED.get(language, NOT_COVERED["en"])), lead
    )
    try:
        async for piece in at_most_sentences(generated, sentences):
            yield piece
    finally:
        await generated.aclose()
