"""The turn owner (media_engine.turn): speculation committed or dropped, interruptions, a stage
failing mid-reply, and messages back to back, each stored in order, on scripted models."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from media_engine.audio import OutboundAudio, PacingStats
from media_engine.conversation import Conversation
from media_engine.llm.base import ChatMessage, GenerationOptions, LLMError
from media_engine.speaking import Speaker, TurnClock
from media_engine.turn import Turns, TurnState
from media_engine.tutor import TutorProfile
from tests.voice_helpers import FakeStore, FakeTTS, Listener, ScriptedLLM, eventually

ANSWER = "Plants make food from light. They need water too."


class Rig:
    def __init__(
        self, llm: ScriptedLLM, *, spoken: bool = False, tts: FakeTTS | None = None
    ) -> None:
        self.llm = llm
        self.store = FakeStore()
        self.sent: list[dict[str, Any]] = []
        self.conversation = Conversation(
            session_id="s1",
            tutor=TutorProfile(id=1, name="Ada", subject="science"),
            llm=llm,
            store=self.store,  # type: ignore[arg-type]
            options=GenerationOptions(),
        )
        self.turns = Turns(session_id="s1", conversation=self.conversation, send=self._send)
        self.outbound = OutboundAudio(PacingStats())
        self.listener: Listener | None = None
        if spoken:
            tts = tts or FakeTTS()
            self.listener = Listener(self.outbound)

            def make_speaker(clock: TurnClock, gate: asyncio.Event, on_sound: Any) -> Speaker:
                return Speaker(
                    tts=tts,
                    voice="af_heart",
                    language="en",
                    outbound=self.outbound,
                    clock=clock,
                    gate=gate,
                    on_sound=on_sound,
                )

            self.turns.make_speaker = make_speaker

    def _send(self, message: str) -> None:
        self.sent.append(json.loads(message))

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.sent if e["type"] == kind]

    def stored(self) -> list[tuple[str, str, str]]:
        return [(t["turn_id"], t["role"], t["text"]) for t in self.store.turns]

    async def aclose(self) -> None:
        await self.turns.aclose()
        if self.listener is not None:
            await self.listener.aclose()
        self.outbound.stop()


def spoken_clock(turn_id: str = "u1") -> TurnClock:
    return TurnClock.spoken(turn_id, end_of_speech=time.monotonic(), speech_s=1.0)


async def test_an_answer_prepared_ahead_is_sent_and_stored_only_once_committed() -> None:
    rig = Rig(ScriptedLLM(ANSWER, delay=0.001))
    clock = spoken_clock()
    rig.turns.speculate("what do plants need", clock)
    ahead = rig.turns.ahead
    assert ahead is not None and ahead.state is TurnState.SPECULATIVE
    await eventually(lambda: ahead.reply.text == ANSWER)  # generated in full, but held
    assert rig.sent == [] and rig.store.turns == []
    ended = TurnClock.spoken("u1", end_of_speech=clock.reference, speech_s=1.0)
    ended.endpoint = "smart_turn"
    assert rig.turns.spoken("what do plants need", ended) == "u1"
    await ahead.task
    assert ahead.state is TurnState.DONE and rig.turns.commits == 1
    assert len(rig.llm.requests) == 1  # the answer prepared ahead is the one given
    assert [e["type"] for e in rig.sent][-2:] == ["text_delta", "text"]
    assert rig.events("text")[0]["content"] == ANSWER
    assert rig.stored() == [
        ("u1", "user", "what do plants need"),
        ("u1", "assistant", ANSWER),
    ]
    await rig.aclose()


async def test_an_answer_prepared_ahead_is_dropped_when_the_student_goes_on() -> None:
    rig = Rig(ScriptedLLM("Too early.", "The whole answer.", delay=0.05))
    rig.turns.speculate("the answer is", spoken_clock())
    dropped = rig.turns.ahead
    assert dropped is not None
    await eventually(lambda: bool(rig.llm.requests))
    rig.turns.drop_ahead()  # speech resumed
    await asyncio.gather(dropped.task, return_exceptions=True)
    assert dropped.state is TurnState.DROPPED and dropped.task.cancelled()
    assert rig.sent == [] and rig.store.turns == []
    # The student finishes; the words differ from the pause's, so the turn is answered afresh.
    rig.turns.speculate("the answer is", spoken_clock())
    rig.turns.spoken("the answer is seven", spoken_clock())
    current = rig.turns.current
    assert current is not None
    await current.task
    assert rig.turns.drops == 2 and rig.turns.commits == 0
    assert [e["content"] for e in rig.events("text")] == ["The whole answer."]
    assert rig.stored() == [
        ("u1", "user", "the answer is seven"),
        ("u1", "assistant", "The whole answer."),
    ]
    await rig.aclose()


async def test_messages_back_to_back_are_all_stored_in_order() -> None:
    # Each new message interrupts the reply to the one before: never its storing.
    rig = Rig(ScriptedLLM("A long reply that takes a while to generate.", delay=0.02))
    ids = [rig.turns.typed(f"message {n}") for n in range(20)]
    last = rig.turns.current
    assert last is not None
    await last.task
    await rig.conversation.drain()
    users = [(tid, text) for tid, role, text in rig.stored() if role == "user"]
    assert users == [(tid, f"message {n}") for n, tid in enumerate(ids)]
    # Every reply that showed anything is kept, after its own message and before the next.
    order = [(tid, role) for tid, role, _ in rig.stored()]
    for tid, role in order:
        if role == "assistant":
            assert order.index((tid, "user")) == order.index((tid, role)) - 1
    assert rig.store.turns[-1]["role"] == "assistant" and not rig.store.turns[-1]["interrupted"]
    assert len(rig.events("text")) == 1  # only the last reply ran to its end


async def test_a_spoken_reply_interrupted_keeps_what_was_heard() -> None:
    rig = Rig(ScriptedLLM(ANSWER, "Fine."), spoken=True)
    first = rig.turns.typed("what do plants need")
    await eventually(lambda: bool(rig.events("tts")))  # the first sound went out
    assert rig.listener is not None
    await eventually(lambda: rig.listener is not None and rig.listener.voiced() >= 10)
    assert rig.turns.interrupt()
    await eventually(lambda: bool(rig.events("metrics")))
    (interrupted,) = [e for e in rig.events("tts") if e["state"] == "interrupted"]
    assert interrupted["turn_id"] == first
    (kept,) = [t for t in rig.store.turns if t["role"] == "assistant"]
    assert kept["interrupted"] and ANSWER.startswith(kept["text"]) and kept["text"] != ANSWER
    # The history the next turn starts from holds what was heard, not what was generated.
    rig.turns.typed("and then?")
    current = rig.turns.current
    assert current is not None
    await current.task
    prompt: list[ChatMessage] = rig.llm.requests[-1]
    assert [m["content"] for m in prompt[1:]] == ["what do plants need", kept["text"], "and then?"]
    await rig.aclose()


class FailingMidway(ScriptedLLM):
    """Says a few words, then fails (the first reply only)."""

    async def stream(self, messages: Any, options: Any) -> AsyncIterator[str]:
        failing = not self.requests
        words = 0
        async for piece in super().stream(messages, options):
            yield piece
            words += 1
            if failing and words == 3:
                raise LLMError("the model fell over", retryable=True)


async def test_a_stage_failing_mid_reply_keeps_what_was_said_and_the_call_goes_on() -> None:
    rig = Rig(FailingMidway(ANSWER, "Back again."))
    first = rig.turns.typed("what do plants need")
    current = rig.turns.current
    assert current is not None
    await current.task
    (error,) = rig.events("error")
    assert error["turn_id"] == first and error["code"] == "llm_error" and error["retryable"]
    second = rig.turns.typed("try again")
    current = rig.turns.current
    assert current is not None
    await current.task
    assert rig.stored() == [
        (first, "user", "what do plants need"),
        (first, "assistant", "Plants make food"),
        (second, "user", "try again"),
        (second, "assistant", "Back again."),
    ]
    await rig.aclose()


async def test_closing_stores_what_was_delivered_and_stops_every_task() -> None:
    rig = Rig(ScriptedLLM(ANSWER, delay=0.05), spoken=True)
    rig.turns.typed("what do plants need")
    await eventually(lambda: len(rig.events("text_delta")) >= 2)
    rig.turns.speculate("something else", spoken_clock("u2"))
    tasks = [t for t in (rig.turns.current, rig.turns.ahead) if t is not None]
    await rig.aclose()
    assert all(t.task.done() for t in tasks)
    assert [t["role"] for t in rig.store.turns] == ["user"] + (
        ["assistant"] if rig.store.of("assistant") else []
    )
    assert np.all([t["session_id"] == "s1" for t in rig.store.turns])


async def test_the_tutor_asking_a_question_is_known_to_the_listener() -> None:
    rig = Rig(ScriptedLLM("Good. What do plants need to make food?", "Well done."))
    assert not rig.conversation.asked_question()
    for text, asked in (("photosynthesis", True), ("sunlight", False)):
        rig.turns.typed(text)
        current = rig.turns.current
        assert current is not None
        await current.task
        assert rig.conversation.asked_question() is asked
    await rig.aclose()


class TrackedLLM(ScriptedLLM):
    """Counts the streams that were closed."""

    def __init__(self, *replies: str, delay: float = 0.01) -> None:
        super().__init__(*replies, delay=delay)
        self.closed = 0

    async def stream(self, messages: Any, options: Any) -> AsyncIterator[str]:
        try:
            async for piece in super().stream(messages, options):
                yield piece
        finally:
            self.closed += 1


async def test_a_dropped_answer_stops_the_model_at_once() -> None:
    # The answer is waiting for its first chunk to be synthesized (outside the model's stream)
    # when the student goes on: the stream is closed then, not whenever garbage is collected,
    # or the model's thread would wait for a reader that never comes.
    import gc

    llm = TrackedLLM(ANSWER, delay=0.001)
    rig = Rig(llm, spoken=True, tts=FakeTTS(delay=2.0))
    gc.disable()
    try:
        rig.turns.speculate("what do plants need", spoken_clock())
        ahead = rig.turns.ahead
        assert ahead is not None
        await eventually(lambda: ahead.clock.first_chunk_at is not None)
        rig.turns.drop_ahead()
        await asyncio.gather(ahead.task, return_exceptions=True)
        assert llm.closed == 1
    finally:
        gc.enable()
    await rig.aclose()
