"""The prompt a conversation gives the model: stable at its start, so the model's cache holds."""

from __future__ import annotations

from media_engine.conversation import HISTORY_MESSAGES, Conversation
from media_engine.llm.base import GenerationOptions
from media_engine.tutor import TutorProfile
from tests.voice_helpers import FakeStore, ScriptedLLM, ask


def _conversation(llm: ScriptedLLM) -> Conversation:
    return Conversation(
        session_id="s1",
        tutor=TutorProfile(id=1, name="Ada", subject="science"),
        llm=llm,
        store=FakeStore(),  # type: ignore[arg-type]
        options=GenerationOptions(),
    )


async def test_each_turn_starts_with_what_the_model_read_after_the_last() -> None:
    llm = ScriptedLLM("A short answer.")
    conv = _conversation(llm)
    await conv.prefill()
    reused = 0
    for n in range(20):
        await ask(conv, f"Question {n}?", turn_id=f"t{n}")
        prompt = llm.requests[-1]
        read = llm.prefills[-1]
        assert prompt[0]["role"] == "system" and len(prompt) <= 1 + HISTORY_MESSAGES
        assert prompt[-1]["content"] == f"Question {n}?"
        reused += prompt[: len(read)] == read
        await conv.prefill()  # what the call does after each reply
    # The history window moves a few turns at a time, and the prefill after each reply
    # already reads it where the next turn will cut it: every turn starts as read.
    assert reused == 20


async def test_the_oldest_turns_leave_the_prompt_a_few_at_a_time() -> None:
    llm = ScriptedLLM("Yes.")
    conv = _conversation(llm)
    starts = []
    for n in range(14):
        await ask(conv, f"Q{n}", turn_id=f"t{n}")
        starts.append(llm.requests[-1][1]["content"])
    # Six turns fit; then three leave at once, and the start holds for three more turns.
    assert starts[:6] == ["Q0"] * 6
    assert starts[6:9] == ["Q3"] * 3
    assert starts[9:12] == ["Q6"] * 3
    assert starts[12:] == ["Q9"] * 2
