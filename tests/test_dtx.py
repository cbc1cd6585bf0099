"""DTX on the student's microphone: the answer asks for it, and the silence it leaves out is
heard mid-utterance (scripted tracks; the real call is in tests/test_voice_call.py)."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiortc.mediastreams import MediaStreamError

from media_engine import dtx
from media_engine.audio import ASR_RATE
from media_engine.dtx import InboundFrames, ask_for_dtx, asks_for_dtx

ANSWER = "\r\n".join(
    [
        "v=0",
        "m=audio 9 UDP/TLS/RTP/SAVPF 96 0",
        "a=rtpmap:96 opus/48000/2",
        "a=fmtp:96 minptime=10;useinbandfec=1",
        "a=rtpmap:0 PCMU/8000",
        "m=application 9 DTLS/SCTP 5000",
        "",
    ]
)


def test_the_answer_asks_for_dtx_on_opus_only() -> None:
    asked = ask_for_dtx(ANSWER)
    assert "a=fmtp:96 minptime=10;useinbandfec=1;usedtx=1\r\n" in asked
    assert asked.count("usedtx") == 1
    assert asks_for_dtx(asked) and not asks_for_dtx(ANSWER)
    assert ask_for_dtx(asked) == asked  # asked once


def test_an_opus_format_without_parameters_gets_them() -> None:
    bare = ANSWER.replace("a=fmtp:96 minptime=10;useinbandfec=1\r\n", "")
    asked = ask_for_dtx(bare)
    assert "a=rtpmap:96 opus/48000/2\r\na=fmtp:96 usedtx=1\r\n" in asked
    assert asks_for_dtx(asked)


def test_usedtx_on_another_codec_is_not_dtx_for_opus() -> None:
    other = ANSWER + "a=fmtp:0 usedtx=1\r\n"
    assert not asks_for_dtx(other)


class Track:
    """Frames handed in by the test; `end()` ends the track as aiortc's does."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[object] = asyncio.Queue()

    async def recv(self) -> object:
        item = await self.queue.get()
        if item is None:
            raise MediaStreamError
        return item

    def end(self) -> None:
        self.queue.put_nowait(None)


async def test_silence_is_filled_in_only_while_it_is_needed() -> None:
    track = Track()
    inbound = InboundFrames(track)  # type: ignore[arg-type]
    track.queue.put_nowait("frame")
    assert await inbound.next(fill=True) == "frame"
    # Nothing comes: after FILL_AFTER_S, the silence since the frame, then more as it passes.
    started = time.monotonic()
    first = await inbound.next(fill=True)
    assert isinstance(first, int)
    assert first >= int(dtx.FILL_AFTER_S * ASR_RATE)
    assert time.monotonic() - started >= dtx.FILL_AFTER_S * 0.9
    second = await inbound.next(fill=True)
    assert isinstance(second, int) and second >= int(dtx.FILL_EVERY_S * ASR_RATE)
    # Not needed (no utterance): it waits for the frame, however long.
    waiting = asyncio.ensure_future(inbound.next(fill=False))
    await asyncio.sleep(3 * dtx.FILL_AFTER_S)
    assert not waiting.done()
    track.queue.put_nowait("late")
    assert await waiting == "late"
    track.end()
    with pytest.raises(MediaStreamError):
        await inbound.next(fill=True)
    inbound.close()


async def test_close_cancels_the_waiting_read() -> None:
    track = Track()
    inbound = InboundFrames(track)  # type: ignore[arg-type]
    waiting = asyncio.ensure_future(inbound.next(fill=True))
    await asyncio.sleep(dtx.FILL_AFTER_S * 1.5)
    assert isinstance(waiting.result(), int)
    pending = inbound._pending
    assert pending is not None and not pending.done()
    inbound.close()
    await asyncio.sleep(0)
    assert pending.cancelled()
