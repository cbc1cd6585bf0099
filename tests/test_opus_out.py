"""The engine's outbound track hands aiortc Opus packets: speech encoded, silence never."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from media_engine import opus_out
from media_engine.audio import FRAME_SAMPLES, OUT_RATE, PacingStats, SpeechChunk
from media_engine.opus_out import HANGOVER_FRAMES, SILENCE_PACKET, TAIL_FRAMES, OpusOutbound
from tests.voice_helpers import OpusDecoder, rms, tone


async def test_silence_is_one_constant_packet_and_speech_is_encoded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Silence is sent once every so often: made long here, so a packet that comes at once can
    # only have been woken by the speech queued.
    monkeypatch.setattr(opus_out, "SILENT_PACKET_EVERY_S", 30.0)
    stats = PacingStats()
    track = OpusOutbound(stats)
    decoder = OpusDecoder()
    first = await track.recv()
    assert bytes(first) == SILENCE_PACKET and first.pts == 0
    assert track._opus._encoder is None, "silence must not start the encoder"
    waiting = asyncio.create_task(track.recv())
    await asyncio.sleep(0.1)
    assert not waiting.done(), "a silent track sends nothing until its next silent packet"
    track.play(SpeechChunk(pcm=(tone(0.1, rate=OUT_RATE) * 20000).astype(np.int16), text="hi"))
    spoken = [await asyncio.wait_for(waiting, 10)] + [await track.recv() for _ in range(4)]
    after = [await track.recv() for _ in range(TAIL_FRAMES)]
    packets = spoken + after
    # The frames slept through are skipped: speech takes the slot of the moment it came.
    assert spoken[0].pts >= 4 * FRAME_SAMPLES and spoken[0].pts % FRAME_SAMPLES == 0
    assert [p.pts for p in packets] == [spoken[0].pts + i * FRAME_SAMPLES for i in range(8)]
    assert all(p.time_base.denominator == OUT_RATE for p in packets)
    assert all(len(bytes(p)) > 20 for p in spoken)
    levels = [rms(decoder.decode(p) / 32768) for p in [first, *packets]]
    assert levels[0] == 0.0
    assert all(level > 0.05 for level in levels[1:6])
    # Silent again: silence every 20 ms for a while, then the next packet waits for its time.
    hangover = [await track.recv() for _ in range(HANGOVER_FRAMES - TAIL_FRAMES)]
    assert all(bytes(p) == SILENCE_PACKET for p in hangover)
    assert [p.pts for p in hangover] == [
        after[-1].pts + (i + 1) * FRAME_SAMPLES for i in range(len(hangover))
    ]
    monkeypatch.setattr(opus_out, "SILENT_PACKET_EVERY_S", 0.2)
    quiet = await asyncio.wait_for(track.recv(), 10)
    assert bytes(quiet) == SILENCE_PACKET and quiet.pts >= hangover[-1].pts + 5 * FRAME_SAMPLES
    assert stats.frames == 2 + len(packets) + len(hangover)
    track.stop()


async def test_a_held_track_sleeps_until_released(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(opus_out, "SILENT_PACKET_EVERY_S", 30.0)
    track = OpusOutbound()
    await track.recv()
    track.hold()  # a maybe-barge-in: speech queued, silence sent
    track.play(SpeechChunk(pcm=np.full(FRAME_SAMPLES * 5, 4000, dtype=np.int16), text="a"))
    waiting = asyncio.create_task(track.recv())
    await asyncio.sleep(0.1)
    assert not waiting.done()
    track.release()
    assert len(bytes(await asyncio.wait_for(waiting, 10))) > 20
    track.stop()


def _threads() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("Threads:"))


async def test_a_stopped_track_frees_its_encoder_and_the_encoders_threads() -> None:
    before = _threads()
    tracks = [OpusOutbound() for _ in range(3)]
    for track in tracks:
        track.play(SpeechChunk(pcm=np.full(FRAME_SAMPLES * 2, 4000, dtype=np.int16), text="a"))
        for _ in range(3):
            await track.recv()
        assert track._opus._encoder is not None
    for track in tracks:
        track.stop()
        assert track._opus._encoder is None
    assert _threads() <= before  # FFmpeg's threads of each encoder end with it
