"""The WebSocket transport's pieces on their own: audio payloads decoded (PCM, WAV, WebM and Ogg
streams cut into chunks), the microphone track's silence, the bounded send queue, the rate limit."""

from __future__ import annotations

import asyncio
import io
import wave
from typing import Any

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError

from media_engine.audio import SpeechChunk
from media_engine.protocol import ProtocolError, TextIn
from media_engine.socket_audio import AudioDecoder, AudioError, SocketMicrophone, pcm_frame
from media_engine.socket_call import Outbox, RateLimit, wav_bytes
from media_engine.socket_protocol import AudioIn, InterruptIn, parse_socket


def tone(seconds: float, rate: int) -> np.ndarray[Any, Any]:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)


def opus_stream(fmt: str, seconds: float) -> bytes:
    """A tone as MediaRecorder would record it: Opus in WebM or Ogg."""
    out = io.BytesIO()
    with av.open(out, "w", format=fmt) as container:
        stream = container.add_stream("libopus", rate=48_000, layout="mono")
        pcm = tone(seconds, 48_000)
        for start in range(0, len(pcm), 960):
            for packet in stream.encode(pcm_frame(pcm[start : start + 960], 48_000)):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


class Collect:
    def __init__(self) -> None:
        self.frames: list[av.AudioFrame] = []
        self.errors: list[AudioError] = []

    def seconds(self) -> float:
        return sum(f.samples / f.sample_rate for f in self.frames)


async def settle(check: Any, timeout: float = 20.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not in time")


async def test_raw_pcm_and_wav_become_frames() -> None:
    got = Collect()
    decoder = AudioDecoder(got.frames.append, got.errors.append)
    await decoder.feed(tone(0.5, 16_000).astype("<i2").tobytes())
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(44_100)
        wav.writeframes(np.repeat(tone(0.5, 44_100), 2).tobytes())
    await decoder.feed(out.getvalue())
    assert got.seconds() == pytest.approx(1.0, abs=0.01)
    with pytest.raises(AudioError):
        await decoder.feed(b"\x01\x02\x03")  # not whole samples
    with pytest.raises(AudioError):
        await decoder.feed(b"RIFF\x00\x00\x00\x00WAVEjunk")
    await decoder.aclose()


@pytest.mark.parametrize("fmt", ["webm", "ogg"])
async def test_a_chunked_opus_stream_is_decoded_as_it_comes(fmt: str) -> None:
    data = opus_stream(fmt, 2.0)
    got = Collect()
    decoder = AudioDecoder(got.frames.append, got.errors.append)
    for start in range(0, len(data), 1500):
        await decoder.feed(data[start : start + 1500])
    await decoder.aclose()  # the end of the stream flushes what the demuxer held
    await settle(lambda: got.seconds() >= 1.9)
    assert not got.errors
    # A new header starts a new stream.
    decoder = AudioDecoder(got.frames.append, got.errors.append)
    await decoder.feed(data)
    await decoder.feed(data)
    await decoder.aclose()
    await settle(lambda: got.seconds() >= 5.8)


async def test_a_broken_stream_is_reported() -> None:
    got = Collect()
    decoder = AudioDecoder(got.frames.append, got.errors.append)
    await decoder.feed(b"\x1a\x45\xdf\xa3" + b"\xff" * 4000)
    await decoder.aclose()
    await settle(lambda: bool(got.errors))
    assert got.errors[0].code == "bad_audio"


async def test_the_microphone_fills_silence_only_when_the_client_stops() -> None:
    mic = SocketMicrophone(fill_s=0.1, idle_s=0.05)
    mic.push(pcm_frame(tone(0.02, 16_000)))
    assert (await mic.recv()).to_ndarray().any()
    silence = [await mic.recv() for _ in range(5)]  # 0.1 s of silence after the pause
    assert not any(f.to_ndarray().any() for f in silence)
    waiting = asyncio.ensure_future(mic.recv())  # then nothing until audio comes
    await asyncio.sleep(0.2)
    assert not waiting.done()
    mic.push(pcm_frame(tone(0.02, 16_000)))
    assert (await waiting).to_ndarray().any()
    mic.stop()
    with pytest.raises(MediaStreamError):
        await mic.recv()


class StuckSocket:
    """A client that never reads: every send waits forever."""

    async def send_str(self, data: str) -> None:
        await asyncio.Event().wait()


async def test_a_client_that_does_not_read_is_given_up_on() -> None:
    outbox = Outbox(StuckSocket(), max_bytes=10_000)  # type: ignore[arg-type]
    runner = asyncio.ensure_future(outbox.run())
    for _ in range(50):
        outbox.put("x" * 500)
    reason = await asyncio.wait_for(runner, 10)
    assert "waiting" in reason


class Sink:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_str(self, data: str) -> None:
        self.sent.append(data)


async def test_speech_leaves_as_24khz_wav_in_order() -> None:
    sink = Sink()
    outbox = Outbox(sink)  # type: ignore[arg-type]
    runner = asyncio.ensure_future(outbox.run())
    outbox.put('{"type": "tts"}')
    outbox.put(SpeechChunk(pcm=tone(0.5, 48_000), text="hi"))
    await settle(lambda: len(sink.sent) == 2)
    runner.cancel()
    assert sink.sent[0] == '{"type": "tts"}' and '"audio"' in sink.sent[1]
    with wave.open(io.BytesIO(wav_bytes(tone(0.5, 48_000)))) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getnframes()) == (24_000, 1, 12_000)


class SignalSink(Sink):
    def __init__(self) -> None:
        super().__init__()
        self.arrived = asyncio.Event()

    async def send_str(self, data: str) -> None:
        await super().send_str(data)
        self.arrived.set()


async def test_the_outbox_ends_when_cancelled_just_as_a_send_completes() -> None:
    # The socket's teardown cancels the outbox, often just as the call's `bye` leaves: the
    # cancel must end it, not be lost to the finished send (teardown would wait for ever).
    sink = SignalSink()
    outbox = Outbox(sink)  # type: ignore[arg-type]
    runner = asyncio.ensure_future(outbox.run())
    outbox.put('{"type": "bye"}')
    await sink.arrived.wait()
    runner.cancel()
    await asyncio.wait({runner}, timeout=5)
    assert runner.cancelled()


def test_messages_and_the_rate_limit() -> None:
    assert parse_socket('{"type": "text", "content": " hi "}', max_text_bytes=100) == TextIn("hi")
    assert parse_socket('{"type": "interrupt"}', max_text_bytes=100) == InterruptIn()
    assert parse_socket('{"type": "audio", "data": "AAA="}', max_text_bytes=100) == AudioIn(
        b"\x00\x00"
    )
    with pytest.raises(ProtocolError) as error:
        parse_socket('{"type": "text", "content": "' + "x" * 200 + '"}', max_text_bytes=100)
    assert error.value.code == "message_too_large"
    limit = RateLimit(rate=10)
    assert sum(limit.allow() for _ in range(100)) == 20  # the burst, then nothing at once
