"""Inbound conversion to 16 kHz mono, and the paced outbound track."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import av
import numpy as np
import pytest

from media_engine.audio import (
    ASR_RATE,
    FRAME_SAMPLES,
    OUT_RATE,
    InboundResampler,
    OutboundAudio,
    PacingStats,
    SpeechChunk,
    frame_to_float,
    to_output_pcm,
)
from tests.voice_helpers import rms, tone


def make_frame(audio: np.ndarray, *, rate: int, fmt: str, layout: str) -> av.AudioFrame:
    """`audio` (mono float) as a PyAV frame of the given format and layout."""
    channels = 2 if layout == "stereo" else 1
    # The right channel is quieter, so a downmix that drops a channel is caught.
    planes = np.stack([audio, audio * 0.5][:channels])
    if fmt.startswith("s16"):
        planes = (planes * 32767).astype(np.int16)
    elif fmt.startswith("s32"):
        planes = (planes * 2147483647).astype(np.int32)
    else:
        planes = planes.astype(np.float32 if fmt.startswith("flt") else np.float64)
    data = planes if fmt.endswith("p") else planes.T.reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout=layout)
    frame.sample_rate = rate
    return frame


def dominant_freq(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.fft.rfftfreq(len(audio), 1 / rate)[int(np.argmax(spectrum))])


@pytest.mark.parametrize("fmt", ["s16", "s16p", "s32", "flt", "fltp", "dbl"])
@pytest.mark.parametrize("layout", ["mono", "stereo"])
def test_frame_to_float_reads_every_format(fmt: str, layout: str) -> None:
    audio = tone(0.02, rate=48_000, level=0.5)
    out = frame_to_float(make_frame(audio, rate=48_000, fmt=fmt, layout=layout))
    expected = audio if layout == "mono" else audio * 0.75
    assert out.dtype == np.float32
    assert np.allclose(out, expected, atol=1e-3)


@pytest.mark.parametrize("rate", [8_000, 11_025, 16_000, 22_050, 44_100, 48_000])
@pytest.mark.parametrize(("fmt", "layout"), [("s16", "stereo"), ("fltp", "mono"), ("s16p", "mono")])
def test_resampler_turns_any_stream_into_16k_mono(rate: int, fmt: str, layout: str) -> None:
    seconds, freq = 1.0, 440.0
    audio = tone(seconds, rate=rate, freq=freq, level=0.5)
    step = rate // 50  # 20 ms frames, as a decoder hands them out
    resampler = InboundResampler()
    parts = [
        resampler.push(make_frame(audio[i : i + step], rate=rate, fmt=fmt, layout=layout))
        for i in range(0, len(audio), step)
    ]
    out = np.concatenate(parts)
    assert out.dtype == np.float32
    # The filter holds back its delay (20 ms from 48 kHz, 70 ms from 8 kHz); no more is lost.
    assert ASR_RATE * seconds - 1100 <= len(out) <= ASR_RATE * seconds + 1
    level = 0.5 if layout == "mono" else 0.375
    assert rms(out[2000:-1000]) == pytest.approx(level / np.sqrt(2), rel=0.05)
    assert dominant_freq(out[2000:], ASR_RATE) == pytest.approx(freq, abs=5)


def test_resampler_follows_a_rate_change() -> None:
    resampler = InboundResampler()
    out = []
    for rate in (48_000, 8_000):
        for _ in range(25):
            frame = make_frame(tone(0.02, rate=rate), rate=rate, fmt="s16", layout="mono")
            out.append(resampler.push(frame))
    total = sum(len(part) for part in out)
    # One second in; only the two filters' delays (about 100 ms together) are missing.
    assert ASR_RATE - 2000 <= total <= ASR_RATE


def test_output_pcm_is_48k_s16() -> None:
    pcm = to_output_pcm(tone(1.0, rate=24_000, level=0.5), 24_000)
    assert pcm.dtype == np.int16
    assert len(pcm) == 48_000
    assert dominant_freq(pcm.astype(np.float32), 48_000) == pytest.approx(220, abs=3)


def test_played_text_is_cut_at_a_word() -> None:
    chunk = SpeechChunk(pcm=np.zeros(1000, dtype=np.int16), text="one two three four")
    assert chunk.played_text() == ""
    chunk.played = 500
    assert chunk.played_text() == "one two"
    chunk.played = 1000
    assert chunk.played_text() == "one two three four"
    chinese = SpeechChunk(pcm=np.zeros(1000, dtype=np.int16), text="光合作用", played=500)
    assert chinese.played_text() == "光合"


async def test_outbound_paces_silence_then_speech() -> None:
    track = OutboundAudio()
    started: list[SpeechChunk] = []
    chunk = SpeechChunk(
        pcm=(tone(0.05, rate=OUT_RATE) * 32767).astype(np.int16),
        text="hi",
        on_start=started.append,
    )
    t0 = time.monotonic()
    frames = [await track.recv() for _ in range(3)]
    track.play(chunk)
    assert track.speaking
    frames += [await track.recv() for _ in range(5)]
    elapsed = time.monotonic() - t0
    # 8 frames are 7 periods after the first: paced on the clock, not as fast as possible.
    assert 0.12 <= elapsed <= 0.3
    assert [f.pts for f in frames] == [i * FRAME_SAMPLES for i in range(8)]
    assert all(f.sample_rate == OUT_RATE and f.samples == FRAME_SAMPLES for f in frames)
    assert all(f.format.name == "s16" and len(f.layout.channels) == 1 for f in frames)
    levels = [rms(f.to_ndarray()[0] / 32768) for f in frames]
    assert levels[:3] == [0.0, 0.0, 0.0]
    assert all(level > 0.1 for level in levels[3:5])  # 50 ms: frames 3, 4 and half of 5
    assert levels[6:] == [0.0, 0.0]
    assert started == [chunk] and chunk.started_at is not None
    assert chunk.finished.is_set() and not track.speaking
    track.stop()


async def test_frames_sent_behind_their_time_are_counted() -> None:
    stats = PacingStats()
    track = OutboundAudio(stats)
    for _ in range(3):
        await track.recv()  # pulled as the sender does: on time
    assert stats.as_dict() == {"frames": 3, "late_frames": 0}
    await asyncio.sleep(0.2)  # a stalled loop: the next frames are 200 ms late...
    for _ in range(3):
        await track.recv()
    # ...and the track catches up at once, so only those past the 40 ms allowance count.
    assert stats.frames == 6 and stats.late_frames == 3
    track.stop()


async def test_clear_silences_the_next_frame() -> None:
    track = OutboundAudio()
    first = SpeechChunk(pcm=np.full(OUT_RATE, 8000, dtype=np.int16), text="a b c d")
    second = SpeechChunk(pcm=np.full(OUT_RATE, 8000, dtype=np.int16), text="e f")
    track.play(first)
    track.play(second)
    for _ in range(10):
        await track.recv()
    track.clear()
    after = await track.recv()
    assert rms(after.to_ndarray()[0]) == 0.0
    assert first.played == 10 * FRAME_SAMPLES and second.played == 0
    assert first.finished.is_set() and second.finished.is_set()
    assert first.played_text() == "" and second.played_text() == ""
    track.stop()
    with pytest.raises(Exception):  # noqa: B017 - aiortc raises its bare MediaStreamError
        await asyncio.wait_for(track.recv(), 1)


async def test_hold_hushes_at_once_and_release_carries_on() -> None:
    track = OutboundAudio()
    chunk = SpeechChunk(pcm=np.full(OUT_RATE, 8000, dtype=np.int16), text="a b c d")
    track.play(chunk)
    for _ in range(5):
        await track.recv()
    track.hold()  # the first window of what may be the student talking over the tutor
    held = [await track.recv() for _ in range(3)]
    assert all(rms(f.to_ndarray()[0]) == 0.0 for f in held)
    assert chunk.played == 5 * FRAME_SAMPLES and track.speaking
    track.release()  # it was a cough: the reply goes on where it stopped
    assert rms((await track.recv()).to_ndarray()[0]) > 0
    assert chunk.played == 6 * FRAME_SAMPLES
    track.stop()


async def test_the_inbound_jitter_buffer_holds_none_or_a_few_not_four() -> None:
    from aiortc import RTCPeerConnection
    from aiortc.rtp import RtpPacket

    from media_engine.jitter import set_jitter_packets

    def packets_until_first_frame(buffer: Any) -> int:
        for n in range(1, 16):
            packet = RtpPacket(payload_type=111, sequence_number=n, timestamp=960 * n)
            packet._data = b"\x00"  # type: ignore[attr-defined]
            if buffer.add(packet)[1] is not None:
                return n
        return -1

    pc = RTCPeerConnection()
    receiver = pc.addTransceiver("audio").receiver
    assert packets_until_first_frame(receiver._RTCRtpReceiver__jitter_buffer) == 5  # 80 ms held
    set_jitter_packets(receiver, 1)
    assert packets_until_first_frame(receiver._RTCRtpReceiver__jitter_buffer) == 2  # 20 ms
    set_jitter_packets(receiver, 0)
    assert packets_until_first_frame(receiver._RTCRtpReceiver__jitter_buffer) == 1  # at once
    await pc.close()


def test_packets_decoded_as_they_come_stay_in_order() -> None:
    from aiortc.rtp import RtpPacket

    from media_engine.jitter import PacketAtOnce

    buffer = PacketAtOnce()
    released: list[int] = []
    # In order, then one packet late (4 before 3), then a packet older than any released.
    for n in (1, 2, 4, 3, 5, 2, 6):
        packet = RtpPacket(payload_type=111, sequence_number=n, timestamp=960 * n)
        packet._data = bytes([n])  # type: ignore[attr-defined]
        frame = buffer.add(packet)[1]
        if frame is not None:
            released.append(frame.data[0])
            assert frame.timestamp == 960 * frame.data[0]
    # 4 waits for 3; after that each packet comes out one late (aiortc hands on one frame per
    # packet added), never out of order, and the stale 2 is dropped.
    assert released == [1, 2, 3, 4, 5]
