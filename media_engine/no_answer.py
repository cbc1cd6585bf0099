"""A reply that only says the question back is no answer.

Given course material that is near the question but does not answer it ("圆的面积怎么算？"
with notes on rectangles and triangles), a small model at temperature 0 may repeat the
question as its reply, or say it back as a statement ("常温下是液体的金属是金属。"). Such a
first sentence holds no term the question did not. `unless_empty` holds the model's words while
that is so, passes them on the moment a new term comes, and if the first sentence ends without
one, drops it and answers as beyond the material instead (`beyond_material`). The wait costs a
real answer only the few words that restate its subject.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable

from knowledge.prompt import dont_know, terms
from media_engine.answering import NOT_COVERED, Plan, not_covered_lead
from media_engine.chunking import word_pieces
from media_engine.fact_guard import SENTENCE_END, at_most_sentences
from media_engine.tutor import TutorProfile

# A yes-or-no question is answered in its own words ("It is a star."): not checked.
_YES_OR_NO = re.compile(
    r"^\s*(is|are|was|were|do|does|did|can|could|will|would|should|has|have|had)\b|"
    r"[吗嘛][?？]?\s*$|是不是|有没有|会不会|能不能|对不对",
    re.IGNORECASE,
)

Generate = Callable[[Plan, str], AsyncGenerator[str, None]]
"""The model's continuation of `lead` for a plan (the conversation's prompt for it)."""


def says_something(text: str, question: str) -> bool:
    """Whether `text` holds a term (a word; in Chinese, a character) `question` does not: "not",
    "本身", a number, a name. Words every sentence has (the, is, 的, 是) are no terms."""
    return bool(terms(text) - terms(question))


def checked(question: str) -> bool:
    """Whether a reply to `question` can be told empty by its words alone."""
    return _YES_OR_NO.search(question) is None


async def unless_empty(
    pieces: AsyncIterator[str], question: str, instead: Callable[[], AsyncIterator[str]]
) -> AsyncGenerator[str]:
    """`pieces`, or `instead()`'s if their first sentence says nothing new (see the module)."""
    held: str | None = ""
    try:
        async for piece in pieces:
            if held is None:
                yield piece
                continue
            held += piece
            if says_something(held, question):
                yield held
                held = None
            elif SENTENCE_END.search(held):
                break  # a whole sentence of the question's own words
    finally:
        close = getattr(pieces, "aclose", None)
        if close is not None:
            await close()
    if held is None or not held.strip():
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
