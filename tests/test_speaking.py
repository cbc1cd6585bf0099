"""The speaker keeps synthesis ahead of playback: generation waits while the lead is short,
and a wait for synthesis between two chunks is measured on the outbound clock."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

import pytest

from media_engine.audio import OutboundAudio, Samples
from media_engine.speaking import LEAD_LOW_S, Speaker, TurnClock
from tests.voice_helpers import FakeTTS, tone

pytestmark = pytest.mark.asyncio


class HeldTTS(FakeTTS):
    """Synthesizes each chunk only once the test lets it (`release`)."""

    def __init__(self, *, seconds_per_char: float) -> None:
        super().__init__(seconds_per_char=seconds_per_char)
        self._go = threading.Semaphore(0)
        self.started = threading.Semaphore(0)

    def release(self) -> None:
        self._go.release()

    def _synthesize(self, text: str, voice: str, language: str) -> tuple[Samples, int]:
        self.started.release()
        assert self._go.acquire(timeout=30), "the test never let this chunk through"
        return tone(len(text) * self.seconds_per_char, rate=24_000, freq=330.0), 24_000


async def _wait_started(tts: HeldTTS) -> None:
    assert await asyncio.to_thread(tts.started.acquire, True, 30)


@contextlib.asynccontextmanager
async def speaking(tts: FakeTTS):  # type: ignore[no-untyped-def]
    """A speaker on a real outbound track, read in real time as a peer would."""
    outbound = OutboundAudio()
    clock = TurnClock.typed("t1")
    gate = asyncio.Event()
    gate.set()
    speaker = Speaker(
        tts=tts,
        voice="af_heart",
        language="en",
        outbound=outbound,
        clock=clock,
        gate=gate,
        on_sound=lambda text, starts_at_ms: None,
    )

    async def read() -> None:
        while True:
            await outbound.recv()

    reader = asyncio.create_task(read())
    runner = asyncio.create_task(speaker.run())
    try:
        yield speaker, clock, runner
    finally:
        for task in (reader, runner):
            task.cancel()
        await asyncio.gather(reader, runner, return_exceptions=True)
        outbound.stop()


async def test_generation_waits_for_synthesis_while_the_lead_is_short() -> None:
    tts = HeldTTS(seconds_per_char=0.005)  # a 30-character chunk is 0.15 s of audio
    async with speaking(tts) as (speaker, _, _):
        speaker.feed("This first sentence is short. And a second one follows it. ")
        await _wait_started(tts)
        tts.release()  # the first chunk
        await _wait_started(tts)  # the second is being synthesized; little audio is queued
        assert speaker.lead_s() < LEAD_LOW_S
        ready = asyncio.create_task(speaker.ready())
        await asyncio.sleep(0.3)
        assert not ready.done(), "generation went on while synthesis was behind playback"
        tts.release()
        await asyncio.wait_for(ready, 10)


async def test_after_the_openings_first_chunk_the_model_is_asked_without_waiting() -> None:
    # The engine's own opening: once its first chunk is made, the model may start reading
    # while the rest of the opening is synthesized (it needs the time more than synthesis).
    tts = HeldTTS(seconds_per_char=0.005)
    async with speaking(tts) as (speaker, _, _):
        speaker.feed("This first sentence is short. And a second one follows it.")
        opened = asyncio.create_task(speaker.ready(hold=False))
        await _wait_started(tts)
        await asyncio.sleep(0.2)
        assert not opened.done(), "nothing is heard until the first chunk is made"
        tts.release()
        await asyncio.wait_for(opened, 10)
        speaker.opening_said()  # the opening's last sentence is a chunk now
        await _wait_started(tts)
        assert [c.text for c in speaker.chunks] == ["This first sentence is short."]
        tts.release()


async def test_generation_goes_on_with_enough_audio_ahead() -> None:
    tts = HeldTTS(seconds_per_char=0.2)  # the first chunk is several seconds of audio
    async with speaking(tts) as (speaker, _, _):
        speaker.feed("This first sentence is long. And a second one follows it. ")
        await _wait_started(tts)
        tts.release()
        await _wait_started(tts)
        assert speaker.lead_s() >= LEAD_LOW_S
        await asyncio.wait_for(speaker.ready(), 10)
        tts.release()


async def test_a_wait_for_synthesis_between_chunks_is_measured() -> None:
    tts = HeldTTS(seconds_per_char=0.004)
    async with speaking(tts) as (speaker, clock, runner):
        speaker.feed("One short sentence here. ")
        speaker.feed("Then another one. ")
        speaker.end()
        await _wait_started(tts)
        tts.release()
        await _wait_started(tts)
        await asyncio.wait_for(speaker.chunks[0].finished.wait(), 10)
        await asyncio.sleep(0.5)  # playback has nothing to play: silence on the track
        tts.release()
        await asyncio.wait_for(runner, 10)  # every chunk fed was played
        assert clock.longest_gap_s >= 0.45
        assert clock.gaps == 1
        assert clock.metrics()["longest_gap_ms"] >= 450


async def test_chunks_synthesized_in_time_leave_no_gap() -> None:
    tts = FakeTTS(seconds_per_char=0.01)
    async with speaking(tts) as (speaker, clock, runner):
        speaker.feed("One short sentence here. Then another one. And a third. ")
        speaker.end()
        await asyncio.wait_for(runner, 20)
        assert len(speaker.chunks) == 3
        # Measured in samples of the outbound clock, so a loaded machine adds nothing.
        assert clock.longest_gap_s < 0.021
        assert clock.gaps == 0


class CostlyTTS(FakeTTS):
    """Fast to run, but its chunks are expected to cost `per_char` seconds a character, as a
    loaded synthesizer's would."""

    def __init__(self, *, seconds_per_char: float, per_char: float) -> None:
        super().__init__(seconds_per_char=seconds_per_char)
        self.per_char = per_char

    def costs(self, language: str) -> Callable[[str], float] | None:
        return lambda text: self.per_char * len(text)


LONG = "It turns the light into sugar and lets oxygen out into the air around the leaves."


async def test_a_chunk_that_would_not_be_ready_in_time_is_cut_at_a_word() -> None:
    # The first chunk plays about 1.2 s; the long sentence is expected to take 1.6 s to make.
    tts = CostlyTTS(seconds_per_char=0.05, per_char=0.02)
    async with speaking(tts) as (speaker, clock, runner):
        speaker.feed("Here is the first part. " + LONG + " ")
        speaker.end()
        await asyncio.wait_for(runner, 30)
    first, *rest = [c.text for c in speaker.chunks]
    assert first == "Here is the first part."
    assert len(rest) >= 2, "the long sentence was made in one piece"
    assert " ".join(rest) == LONG  # cut at words, nothing lost or repeated
    assert tts.per_char * len(rest[0]) <= 0.85 * 1.3
    assert speaker.played_text() == "Here is the first part. " + LONG


async def test_audio_already_made_is_never_cut() -> None:
    tts = CostlyTTS(seconds_per_char=0.05, per_char=0.02)
    await tts.prepare(LONG, voice="af_heart", language="en")  # as the notes' sentences are
    async with speaking(tts) as (speaker, clock, runner):
        speaker.feed("Here is the first part. " + LONG + " ")
        speaker.end()
        await asyncio.wait_for(runner, 30)
    assert [c.text for c in speaker.chunks] == ["Here is the first part.", LONG]


async def test_nothing_is_cut_while_the_costs_are_unknown() -> None:
    tts = FakeTTS(seconds_per_char=0.05)  # its real, live costs: none recorded yet
    assert tts.estimate_s(LONG, language="en") is None
    async with speaking(tts) as (speaker, clock, runner):
        speaker.feed("Here is the first part. " + LONG + " ")
        speaker.end()
        await asyncio.wait_for(runner, 30)
    assert [c.text for c in speaker.chunks] == ["Here is the first part.", LONG]
