"""The engine's outbound track hands aiortc Opus packets: speech encoded, silence never."""

from __future__ import annotations

import numpy as np

from media_engine.audio import FRAME_SAMPLES, OUT_RATE, PacingStats, SpeechChunk
from media_engine.opus_out import SILENCE_PACKET, TAIL_FRAMES, OpusOutbound
from tests.voice_helpers import OpusDecoder, rms, tone


async def test_silence_is_one_constant_packet_and_speech_is_encoded() -> None:
    stats = PacingStats()
    track = OpusOutbound(stats)
    decoder = OpusDecoder()
    silent = [await track.recv() for _ in range(3)]
    assert all(bytes(p) == SILENCE_PACKET for p in silent)
    assert track._opus._encoder is None, "silence must not start the encoder"
    track.play(SpeechChunk(pcm=(tone(0.1, rate=OUT_RATE) * 20000).astype(np.int16), text="hi"))
    spoken = [await track.recv() for _ in range(5)]
    after = [await track.recv() for _ in range(TAIL_FRAMES + 3)]
    packets = silent + spoken + after
    assert [p.pts for p in packets] == [i * FRAME_SAMPLES for i in range(len(packets))]
    assert all(p.time_base.denominator == OUT_RATE for p in packets)
    assert all(len(bytes(p)) > 20 for p in spoken)
    levels = [rms(decoder.decode(p) / 32768) for p in packets]
    assert max(levels[:3]) == 0.0
    assert all(level > 0.05 for level in levels[3:8])
    assert [bytes(p) for p in after[TAIL_FRAMES:]] == [SILENCE_PACKET] * 3
    assert stats.frames == len(packets)
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
