"""The student's audio over a WebSocket: message payloads decoded into frames, and a track that
plays them to the voice pipeline the way a microphone would.

A payload is 16-bit little-endian PCM (mono, 16 kHz), a whole WAV file, or a piece of a WebM or
Ogg Opus stream as MediaRecorder cuts it (only the first piece has the header). Streams are
demuxed and decoded on a thread of their own that reads the pieces as they come.
"""

from __future__ import annotations

import asyncio
import io
import logging
import queue
import threading
from collections.abc import Callable

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

log = logging.getLogger(__name__)

PCM_RATE = 16_000
_FRAME_S = 0.020
_SILENCE = np.zeros((1, int(PCM_RATE * _FRAME_S)), dtype=np.int16)
_EBML = b"\x1a\x45\xdf\xa3"


class AudioError(ValueError):
    """Audio the engine cannot decode; `code` goes back in the error event."""

    code = "bad_audio"


def pcm_frame(samples: np.ndarray, rate: int = PCM_RATE) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = rate
    return frame


def decode_file(data: bytes) -> list[av.AudioFrame]:
    """Every frame of a whole audio file (a WAV); runs off the event loop."""
    try:
        with av.open(io.BytesIO(data), "r") as container:
            if not container.streams.audio:
                raise AudioError("the file has no audio")
            return list(container.decode(audio=0))
    except (av.FFmpegError, ValueError) as exc:
        raise AudioError(f"the audio file cannot be decoded ({type(exc).__name__})") from exc


class _ContainerStream:
    """One WebM/Ogg stream: fed piece by piece, demuxed and decoded on its own thread."""

    def __init__(
        self,
        fmt: str,
        deliver: Callable[[av.AudioFrame], None],
        fail: Callable[[str], None],
    ) -> None:
        self._format = fmt
        self._deliver = deliver
        self._fail = fail
        self._pieces: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._buffer = b""
        self._ended = False
        self._thread = threading.Thread(target=self._run, name="socket-audio", daemon=True)
        self._thread.start()

    def feed(self, data: bytes) -> None:
        self._pieces.put(data)

    def read(self, size: int) -> bytes:
        """libav's read: blocks until a piece comes, b"" once the stream has ended."""
        while not self._buffer:
            if self._ended:
                return b""
            piece = self._pieces.get()
            if piece is None:
                self._ended = True
                return b""
            self._buffer = piece
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def _run(self) -> None:
        # A live stream has nothing to seek in and no time to probe: the format is known from
        # the first bytes, and the first packet tells the rest.
        options = {"probesize": "32", "analyzeduration": "0"}
        try:
            with av.open(self, "r", format=self._format, options=options) as container:
                for frame in container.decode(audio=0):
                    self._deliver(frame)
        except (av.FFmpegError, ValueError, IndexError) as exc:
            if not self._ended:
                self._fail(f"the {self._format} stream cannot be decoded ({type(exc).__name__})")
        finally:
            self._ended = True

    async def aclose(self) -> None:
        self._pieces.put(None)
        await asyncio.to_thread(self._thread.join, 5.0)


class AudioDecoder:
    """Turns audio payloads into frames for `sink`, in the order they were sent."""

    def __init__(
        self, sink: Callable[[av.AudioFrame], None], on_error: Callable[[AudioError], None]
    ) -> None:
        self._sink = sink
        self._on_error = on_error
        self._loop = asyncio.get_running_loop()
        self._stream: _ContainerStream | None = None

    async def feed(self, data: bytes) -> None:
        """Decode one payload; raise AudioError if it cannot be used."""
        kind = _sniff(data)
        if kind == "wav":
            for frame in await asyncio.to_thread(decode_file, data):
                self._sink(frame)
        elif kind in ("matroska", "ogg"):
            await self._end_stream()
            self._stream = _ContainerStream(kind, self._deliver, self._fail)
            self._stream.feed(data)
        elif self._stream is not None:
            self._stream.feed(data)
        else:
            if len(data) % 2:
                raise AudioError("raw audio must be whole 16-bit samples (an even byte count)")
            self._sink(pcm_frame(np.frombuffer(data, dtype="<i2").astype(np.int16)))

    def _deliver(self, frame: av.AudioFrame) -> None:
        self._loop.call_soon_threadsafe(self._sink, frame)

    def _fail(self, message: str) -> None:
        self._loop.call_soon_threadsafe(self._on_error, AudioError(message))

    async def _end_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            await stream.aclose()

    async def aclose(self) -> None:
        await self._end_stream()


def _sniff(data: bytes) -> str:
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:4] == _EBML:
        return "matroska"
    # Every Ogg page starts "OggS"; only a stream's first page has the beginning-of-stream flag.
    if data[:4] == b"OggS" and len(data) > 5 and data[5] & 0x02:
        return "ogg"
    return "raw"


class SocketMicrophone(MediaStreamTrack):
    """The student's audio as a track: frames in the order they came and, when the client stops
    sending, silence in real time for up to `fill_s` (so the turn it was speaking can end)."""

    kind = "audio"

    def __init__(self, *, fill_s: float, idle_s: float = 0.5, max_queued_s: float = 30.0) -> None:
        super().__init__()
        self._frames: asyncio.Queue[av.AudioFrame | None] = asyncio.Queue()
        self._fill_s = fill_s
        self._idle_s = idle_s
        self._max_queued_s = max_queued_s
        self._arrived = asyncio.Event()
        self._queued_s = 0.0
        self._filled_s = fill_s  # nothing to fill before the first audio

    def push(self, frame: av.AudioFrame) -> None:
        """Queue a frame; raise AudioError when the pipeline is this far behind the client."""
        if self._queued_s > self._max_queued_s:
            raise AudioError(f"more than {self._max_queued_s:.0f} s of audio is waiting")
        self._queued_s += frame.samples / frame.sample_rate
        self._frames.put_nowait(frame)
        self._arrived.set()

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        while self._frames.empty() and self._filled_s < self._fill_s:
            self._arrived.clear()
            wait = self._idle_s if self._filled_s == 0 else _FRAME_S
            try:
                # Not `wait_for`, which on Python 3.11 can swallow the pipeline's cancel.
                async with asyncio.timeout(wait):
                    await self._arrived.wait()
            except TimeoutError:
                self._filled_s += _FRAME_S
                return pcm_frame(_SILENCE)
        frame = await self._frames.get()
        if frame is None:
            raise MediaStreamError
        self._queued_s = max(0.0, self._queued_s - frame.samples / frame.sample_rate)
        self._filled_s = 0.0
        return frame

    def stop(self) -> None:
        super().stop()
        self._frames.put_nowait(None)
        self._arrived.set()
