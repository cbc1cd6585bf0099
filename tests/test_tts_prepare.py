"""A reply's likely first chunk is made ahead (`TTS.prepare`) and then costs no synthesis; the
same words asked for twice at once are made once, and one waiter giving up does not stop them
for the other."""

from __future__ import annotations

import asyncio

import pytest

from tests.voice_helpers import FakeTTS

pytestmark = pytest.mark.asyncio

CHUNK = "Plants make their own food from light, water and air,"  # longer than a kept phrase


async def test_a_prepared_chunk_is_not_made_again() -> None:
    tts = FakeTTS()
    try:
        await tts.prepare(CHUNK, voice="af_heart", language="en")
        speech = await tts.synthesize(CHUNK, voice="af_heart", language="en", first=True)
        assert tts.texts == [CHUNK] and len(speech.pcm) > 0 and speech.ready_made
        # Another voice, or other words, are other audio.
        other = await tts.synthesize(CHUNK, voice="bf_emma", language="en", first=True)
        assert len(tts.texts) == 2 and not other.ready_made
    finally:
        await tts.aclose()


async def test_words_being_made_are_shared_and_a_waiter_may_give_up() -> None:
    tts = FakeTTS(delay=0.3)
    try:
        preparing = asyncio.create_task(tts.prepare(CHUNK, voice="af_heart", language="en"))
        await asyncio.sleep(0.05)
        first = asyncio.create_task(
            tts.synthesize(CHUNK, voice="af_heart", language="en", first=True)
        )
        await asyncio.sleep(0.05)
        first.cancel()  # barge-in: this reply no longer wants it
        await preparing
        again = await tts.synthesize(CHUNK, voice="af_heart", language="en", first=True)
        assert tts.texts == [CHUNK] and len(again.pcm) > 0
        with pytest.raises(asyncio.CancelledError):
            await first
    finally:
        await tts.aclose()
