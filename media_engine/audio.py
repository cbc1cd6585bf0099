"""Audio at the edges of a call: the student's frames in, the tutor's paced frames out.

Inbound, whatever PyAV hands us (any rate, mono or stereo, integer or float, packed or planar)
becomes 16 kHz mono float32 for the VAD and ASR. Outbound, one track plays queued speech as
20 ms frames at 48 kHz and silence in between, pacing itself on the wall clock the way aiortc's
own tracks do, and keeps account of what was played so an interrupted reply stores only that.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import av
import numpy as np
import soxr
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from numpy.typing import NDArray

ASR_RATE = 16_000
OUT_RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms at 48 kHz, what the Opus encoder wants
FRAME_SECONDS = FRAME_SAMPLES / OUT_RATE
TIME_BASE = fractions.Fraction(1, OUT_RATE)

Samples = NDArray[np.float32]

_INT_SCALE = {"u8": 128.0, "s16": 32768.0, "s32": 2147483648.0, "s64": 9223372036854775808.0}


def frame_to_float(frame: av.AudioFrame) -> Samples:
    """Mono float32 in [-1, 1] at the frame's own rate, whatever its sample format."""
    data = frame.to_ndarray()
    fmt = frame.format.name.rstrip("p")  # planar and packed hold the same numbers
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        planes = data.reshape(channels, -1)
    else:  # packed: one row of interleaved samples
        planes = data.reshape(-1, channels).T
    if fmt == "u8":
        samples = (planes.astype(np.float32) - 128.0) / _INT_SCALE["u8"]
    elif fmt in _INT_SCALE:
        samples = planes.astype(np.float32) / _INT_SCALE[fmt]
    else:  # flt, dbl
        samples = planes.astype(np.float32)
    mono: Samples = samples.mean(axis=0, dtype=np.float32) if channels > 1 else samples[0]
    return mono


class InboundResampler:
    """Turns a stream of frames into 16 kHz mono float32, keeping filter state across frames."""

    def __init__(self, out_rate: int = ASR_RATE) -> None:
        self._out_rate = out_rate
        self._in_rate: int | None = None
        self._stream: soxr.ResampleStream | None = None

    def push(self, frame: av.AudioFrame) -> Samples:
        """Resample one frame; the output may lag the input by a few milliseconds."""
        samples = frame_to_float(frame)
        rate = int(frame.sample_rate)
        if rate == self._out_rate:
            return samples
        if rate != self._in_rate or self._stream is None:
            # A new rate (a renegotiated codec) starts a new filter; its tail is lost, a few ms.
            self._in_rate = rate
            self._stream = soxr.ResampleStream(rate, self._out_rate, 1, dtype="float32")
        out: Samples = self._stream.resample_chunk(samples)
        return out


def to_output_pcm(audio: Samples, rate: int) -> NDArray[np.int16]:
    """Float audio at `rate` as 48 kHz mono s16, the outbound track's format."""
    if rate != OUT_RATE:
        audio = soxr.resample(audio, rate, OUT_RATE).astype(np.float32)
    pcm: NDArray[np.int16] = (np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)
    return pcm


@dataclass(eq=False)
class SpeechChunk:
    """One piece of a reply queued for playing, and what became of it."""

    pcm: NDArray[np.int16]
    """48 kHz mono s16 samples."""
    text: str
    """The text it says."""
    played: int = 0
    """Samples sent so far."""
    on_start: Callable[[SpeechChunk], None] | None = None
    """Called (on the event loop, from `recv`) as its first frame is sent."""
    started_at: float | None = None
    """time.monotonic() when its first frame was sent."""
    start_sample: int | None = None
    """Where it starts on the outbound track's clock (48 kHz samples since the track began):
    the clock a client's playback follows, gaps of silence included."""
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when it was played to the end, or dropped by `clear()`."""

    @property
    def fraction_played(self) -> float:
        return 1.0 if len(self.pcm) == 0 else min(1.0, self.played / len(self.pcm))

    def played_text(self) -> str:
        """The part of `text` already heard, cut at a word (or, for Chinese, a character)."""
        fraction = self.fraction_played
        if fraction >= 1.0:
            return self.text
        words = self.text.split()
        if len(words) > 1:
            return " ".join(words[: int(len(words) * fraction)])
        return self.text[: int(len(self.text) * fraction)]


# A frame this far behind its time is one the student's jitter buffer may not hide.
LATE_S = 0.040


@dataclass
class PacingStats:
    """How well outbound frames kept time, summed over every call of an engine."""

    frames: int = 0
    late_frames: int = 0
    """Frames sent more than LATE_S after their time: the event loop or the CPU fell behind."""

    def as_dict(self) -> dict[str, int]:
        return {"frames": self.frames, "late_frames": self.late_frames}


class OutboundAudio(MediaStreamTrack):
    """The tutor's voice: queued speech chunks, else silence, as paced 20 ms frames."""

    kind = "audio"

    def __init__(self, stats: PacingStats | None = None) -> None:
        super().__init__()
        self._stats = stats or PacingStats()
        self._queue: deque[SpeechChunk] = deque()
        self._start: float | None = None
        self._pts = 0
        self._silence = np.zeros((1, FRAME_SAMPLES), dtype=np.int16)
        self._held = False
        self._sound = asyncio.Event()
        """Set when there is something to play (`sleep_through_silence` waits for it)."""

    def play(self, chunk: SpeechChunk) -> None:
        """Queue a chunk after whatever is already queued."""
        if len(chunk.pcm) == 0:
            chunk.finished.set()
            return
        self._queue.append(chunk)
        self._sound.set()

    def clear(self, chunks: Iterable[SpeechChunk] | None = None) -> None:
        """Drop `chunks` (default: everything queued), so the next frame sent is silence.

        This is barge-in: each chunk's `played` keeps telling how much of it was heard.
        """
        drop = set(self._queue) if chunks is None else set(chunks)
        self._queue = deque(c for c in self._queue if c not in drop)
        for chunk in drop:
            chunk.finished.set()

    def hold(self) -> None:
        """Send silence from the next frame on, keeping the queue where it is (maybe barge-in)."""
        self._held = True

    def release(self) -> None:
        """Carry on from where `hold` stopped (it was not barge-in after all)."""
        self._held = False
        self._sound.set()

    @property
    def speaking(self) -> bool:
        """True while a chunk is queued or playing."""
        return bool(self._queue)

    async def recv(self) -> av.AudioFrame:
        frame = av.AudioFrame.from_ndarray(await self.next_frame(), format="s16", layout="mono")
        frame.sample_rate = OUT_RATE
        frame.pts = self._pts
        frame.time_base = TIME_BASE
        return frame

    async def next_frame(self) -> NDArray[np.int16]:
        """The next 20 ms (1 x 960 samples), once it is due; its pts is `pts`. The very array
        `silence` is returned when nothing plays."""
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += FRAME_SAMPLES
            wait = self._start + self._pts / OUT_RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            elif wait < -LATE_S:
                self._stats.late_frames += 1
        self._stats.frames += 1
        return self._next_samples()

    async def sleep_through_silence(self, longest: float) -> None:
        """Wait, sending nothing, until there is something to play or `longest` seconds have
        passed; the next frame then takes the time slot of that moment. The slots slept
        through are never sent: the RTP timestamp jumps over them, as in Opus DTX, and a
        receiver's jitter buffer plays them as the silence they were."""
        if self._start is None:
            return
        if self._queue and not self._held:
            return
        self._sound.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(longest):
                await self._sound.wait()
        # next_frame moves on one frame, to the slot that is due now.
        due = int((time.monotonic() - self._start) * OUT_RATE) // FRAME_SAMPLES * FRAME_SAMPLES
        self._pts = max(self._pts, due - FRAME_SAMPLES)

    @property
    def pts(self) -> int:
        return self._pts

    @property
    def silence(self) -> NDArray[np.int16]:
        return self._silence

    def _next_samples(self) -> NDArray[np.int16]:
        """The next 960 samples: from the queue, padded with silence where it runs out."""
        if not self._queue or self._held:
            return self._silence
        out = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        filled = 0
        while filled < FRAME_SAMPLES and self._queue:
            chunk = self._queue[0]
            if chunk.played == 0:
                chunk.started_at = time.monotonic()
                chunk.start_sample = self._pts + filled
                if chunk.on_start is not None:
                    chunk.on_start(chunk)
            take = min(FRAME_SAMPLES - filled, len(chunk.pcm) - chunk.played)
            out[filled : filled + take] = chunk.pcm[chunk.played : chunk.played + take]
            chunk.played += take
            filled += take
            if chunk.played >= len(chunk.pcm):
                self._queue.popleft()
                chunk.finished.set()
        return out.reshape(1, -1)

    def stop(self) -> None:
        self.clear()
        super().stop()
