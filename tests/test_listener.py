"""The test client's ear: silences inside a reply are measured on the sender's clock, so the
frames a silent sender leaves out (Opus DTX) count as the silence they are."""

from __future__ import annotations

import asyncio

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from virtual_tutor.voice_client import Listener

RATE = 48_000
FRAME = 960  # 20 ms


def frame(pts: int, loud: bool) -> av.AudioFrame:
    level = 8000 if loud else 0
    pcm = np.full((1, FRAME), level, dtype=np.int16)
    out = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
    out.sample_rate = RATE
    out.pts = pts % (1 << 32)
    return out


class Frames(MediaStreamTrack):
    kind = "audio"

    def __init__(self, frames: list[av.AudioFrame]) -> None:
        super().__init__()
        self._frames = frames

    async def recv(self) -> av.AudioFrame:
        if not self._frames:
            raise MediaStreamError
        await asyncio.sleep(0)
        return self._frames.pop(0)


async def heard(frames: list[av.AudioFrame]) -> Listener:
    listener = Listener()
    listener.start(Frames(frames))
    assert listener.task is not None
    await listener.task
    return listener


async def test_a_silence_left_out_by_dtx_is_measured() -> None:
    start = (1 << 32) - 5 * FRAME  # the RTP clock wraps inside the reply
    frames = [frame(start + i * FRAME, True) for i in range(10)]
    frames += [frame(start + (10 + i) * FRAME, False) for i in range(10)]  # 200 ms sent
    # Then one silent packet every 0.4 s: three of them, then speech again.
    frames += [frame(start + (20 + 20 * i) * FRAME, False) for i in range(1, 4)]
    frames += [frame(start + (80 + i) * FRAME, True) for i in range(5)]
    listener = await heard(frames)
    # From the end of the 10th frame to the start of the 80th: 70 frames of 20 ms.
    assert abs(listener.longest_silence(0.0) - 1.4) < 1e-6


async def test_a_reply_without_pauses_has_none() -> None:
    listener = await heard([frame(i * FRAME, True) for i in range(20)])
    assert listener.longest_silence(0.0) == 0.0
