"""The headless client's voice: WAV files as the microphone, the tutor's audio recorded and timed.

Latency is measured here, on the client, from what it actually sent and received: the end of its
own speech (the last voiced sample of the WAV, as sent) to the first non-silent frame of reply
audio that arrives. The server's metrics events are not used for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from numpy.typing import NDArray

from media_engine.audio import (
    OUT_RATE,
    OutboundAudio,
    SpeechChunk,
    frame_to_float,
    to_output_pcm,
)
from media_engine.opus_out import OpusOutbound

# A 20 ms frame whose RMS is above this (about -46 dBFS) is sound; below it, silence.
SOUND_RMS = 0.005
# Silence for this long after the tutor spoke means its audio stopped.
STOPPED_FRAMES = 3
FRAME_S = 0.020  # the engine sends 20 ms frames (media_engine.audio)


class WavError(ValueError):
    """A WAV file that cannot be used as the microphone."""


# WAV sample widths the microphone takes, as the sample formats `frame_to_float` reads.
_WAV_FORMATS: dict[int, tuple[str, type[np.integer[Any]]]] = {
    1: ("u8", np.uint8),
    2: ("s16", np.int16),
    4: ("s32", np.int32),
}


def read_wav(path: Path) -> NDArray[np.int16]:
    """Any PCM WAV (8/16/32-bit, mono or stereo, any rate) as 48 kHz mono s16."""
    try:
        with wave.open(str(path), "rb") as wav:
            width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
            raw = wav.readframes(wav.getnframes())
    except (OSError, wave.Error, EOFError) as exc:
        raise WavError(f"{path}: not a readable PCM WAV file ({exc})") from exc
    if width not in _WAV_FORMATS:
        raise WavError(f"{path}: {8 * width}-bit samples are not supported")
    fmt, dtype = _WAV_FORMATS[width]
    # A truncated file can end inside a sample frame; that partial frame is dropped.
    usable = len(raw) - len(raw) % (width * channels)
    if usable == 0:
        raise WavError(f"{path}: no audio")
    # Wrapped as a packed frame so the engine's own conversion (scaling, the u8 offset, the
    # channel mix) and resampling are the ones used, not a second copy of them.
    frame = av.AudioFrame.from_ndarray(
        np.frombuffer(raw[:usable], dtype=dtype).reshape(1, -1),
        format=fmt,
        # "N channels" has no speaker order, so it exists for any count; the channels are only
        # averaged. A named layout ("9c" and the like) is missing for some counts.
        layout=av.AudioLayout(f"{channels} channels"),
    )
    frame.sample_rate = rate
    return to_output_pcm(frame_to_float(frame), rate)


def voiced_span(pcm: NDArray[np.int16]) -> tuple[int, int]:
    """First and last sample (exclusive) of the frames that are sound, not silence."""
    frames = len(pcm) // 960
    if frames == 0:
        return 0, len(pcm)
    blocks = (pcm[: frames * 960].astype(np.float32) / 32768).reshape(frames, 960)
    loud = np.flatnonzero(np.sqrt(np.mean(blocks**2, axis=1)) > SOUND_RMS)
    if len(loud) == 0:
        return 0, 0
    return int(loud[0] * 960), int((loud[-1] + 1) * 960)


@dataclass
class Received:
    """One 20 ms frame of the tutor's audio as it arrived."""

    at: float
    rms: float
    start: float = 0.0
    """Where the frame begins on the sender's audio clock (its RTP time), in seconds."""
    duration: float = FRAME_S


# RTP timestamps are 32 bits and wrap.
_RTP_WRAP = 1 << 32


@dataclass
class Listener:
    """Reads the tutor's track: keeps every frame for the recording and its arrival times."""

    frames: list[Received] = field(default_factory=list)
    pcm: list[NDArray[np.int16]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _last_pts: int | None = None

    def start(self, track: MediaStreamTrack) -> None:
        self.task = asyncio.create_task(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                at = time.monotonic()
                if not isinstance(frame, av.AudioFrame):
                    continue
                samples = frame_to_float(frame)
                rate = int(frame.sample_rate)
                self.pcm.append(to_output_pcm(samples, rate))
                rms = float(np.sqrt(np.mean(samples**2))) if len(samples) else 0.0
                start = self._clock(frame.pts, rate)
                self.frames.append(Received(at, rms, start, frame.samples / rate))
                self.arrived.set()

    def _clock(self, pts: int | None, rate: int) -> float:
        """Seconds since the first frame on the sender's clock. A silent sender leaves frames
        out (DTX) and its timestamps jump over them; arrival counts would not see that time."""
        if pts is None or not self.frames:
            self._last_pts = pts
            return self.frames[-1].start + FRAME_S if self.frames else 0.0
        last = self._last_pts if self._last_pts is not None else pts
        self._last_pts = pts
        step = (pts - last) % _RTP_WRAP
        return self.frames[-1].start + step / rate

    async def wait_sound(self, *, after: float, timeout: float) -> float:
        """When the first non-silent frame after `after` arrived, waiting for it if need be."""

        async def wait() -> float:
            while (found := self.first_sound_after(after)) is None:
                self.arrived.clear()
                await self.arrived.wait()
            return found

        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise WavError(f"no reply audio within {timeout:.0f} s") from None

    def first_sound_after(self, t: float) -> float | None:
        return next((f.at for f in self.frames if f.at > t and f.rms > SOUND_RMS), None)

    def longest_silence(self, after: float) -> float:
        """Seconds of the longest quiet stretch between two sounding frames that arrived after
        `after`: a pause inside the reply, on the sender's clock, so network jitter does not
        enter and the frames a silent sender left out (DTX) do."""
        longest = 0.0
        sound_ended: float | None = None
        for f in self.frames:
            if f.at <= after or f.rms <= SOUND_RMS:
                continue
            if sound_ended is not None:
                longest = max(longest, f.start - sound_ended)
            sound_ended = f.start + f.duration
        return round(longest, 3)

    def stopped_after(self, t: float) -> float | None:
        """When the audio went silent (for good, or for STOPPED_FRAMES frames) after `t`."""
        quiet = 0
        first_quiet: float | None = None
        for f in self.frames:
            if f.at <= t:
                continue
            if f.rms <= SOUND_RMS:
                if quiet == 0:
                    first_quiet = f.at
                quiet += 1
                if quiet >= STOPPED_FRAMES:
                    return first_quiet
            else:
                quiet = 0
        return None

    def save(self, path: Path) -> None:
        pcm = np.concatenate(self.pcm) if self.pcm else np.zeros(0, dtype=np.int16)
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(OUT_RATE)
            wav.writeframes(pcm.tobytes())

    async def aclose(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


class Microphone:
    """The client's outbound track: WAVs spoken in real time, silence otherwise.

    `pre_encoded`: the track encodes its own Opus, and its silence is one constant packet,
    encoded never: every 20 ms, as a browser's microphone stream without DTX, or every 0.4 s
    once the engine's answer asks for DTX, as a browser does then (`CallConnection` sets it).
    For a benchmark whose client runs many calls on the cores the server uses (otherwise aiortc
    encodes every frame, on a thread)."""

    def __init__(self, *, pre_encoded: bool = False) -> None:
        self.track: OutboundAudio = OpusOutbound(dtx=False) if pre_encoded else OutboundAudio()

    async def speak(self, pcm: NDArray[np.int16]) -> tuple[float, float]:
        """Play `pcm` in real time; return when its voiced part started and ended being sent."""
        start, end = voiced_span(pcm)
        chunk = SpeechChunk(pcm=pcm, text="")
        self.track.play(chunk)
        await chunk.finished.wait()
        began = chunk.started_at or time.monotonic()
        return began + start / OUT_RATE, began + end / OUT_RATE
