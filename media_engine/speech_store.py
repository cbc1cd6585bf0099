"""Speech kept on disk: the audio of text a tutor says often, made once, read back in ms.

A spoken answer from the notes is the course's own sentences (media_engine.conversation), so
their audio can be made before any student asks (media_engine.course_speech) instead of while
the student waits: Kokoro takes 1-2.5 s for a Chinese reply's first few words on 2 cores.

Each piece of audio is one Ogg Opus file named by a hash of what makes it (engine, voice,
language, text), under a folder per synthesizer build, so a new model never serves old audio.
Opus at 32 kb/s keeps an hour of speech in about 15 MB; decoding a sentence takes a few ms.
Files are written whole and renamed into place, so a crash leaves no half file behind.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray

from media_engine.audio import FRAME_SAMPLES, OUT_RATE

log = logging.getLogger(__name__)

BIT_RATE = 32_000
SUFFIX = ".opus.ogg"


def speech_name(engine: str, voice: str, language: str, text: str) -> str:
    """The file name (without folder) of the audio of `text`."""
    digest = hashlib.sha256("\x1f".join((engine, voice, language, text)).encode()).hexdigest()
    return digest[:40]


def encode(pcm: NDArray[np.int16]) -> bytes:
    """48 kHz mono s16 as an Ogg Opus file's bytes."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="ogg") as out:
        stream = out.add_stream("libopus", rate=OUT_RATE, layout="mono")
        stream.bit_rate = BIT_RATE
        padded = np.pad(pcm, (0, -len(pcm) % FRAME_SAMPLES))
        for start in range(0, len(padded), FRAME_SAMPLES):
            block = padded[start : start + FRAME_SAMPLES].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(block, format="s16", layout="mono")
            frame.sample_rate = OUT_RATE
            frame.pts = start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


def decode(data: bytes) -> NDArray[np.int16]:
    """An Ogg Opus file's bytes as 48 kHz mono s16 (ending with up to a frame of the silence
    `encode` padded it with)."""
    with av.open(io.BytesIO(data), "r") as source:
        blocks = [frame.to_ndarray().reshape(-1) for frame in source.decode(audio=0)]
    # libopus decodes to float.
    audio = np.concatenate(blocks).astype(np.float32) if blocks else np.zeros(0, np.float32)
    pcm: NDArray[np.int16] = np.clip(audio * 32767.0, -32768, 32767).astype(np.int16)
    return pcm


class SpeechStore:
    """A folder of synthesized speech. `scan` once (blocking) before use; `load` and `save`
    block too, for a worker thread; `__contains__` only looks at what is known in memory, so
    the event loop can ask it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._have: set[tuple[str, str]] = set()

    def scan(self, engine: str) -> int:
        """Learn what is stored for `engine`; returns how many pieces."""
        folder = self.root / engine
        names = {p.name.removesuffix(SUFFIX) for p in folder.glob(f"*{SUFFIX}")}
        self._have |= {(engine, name) for name in names}
        return len(names)

    def __contains__(self, item: tuple[str, str]) -> bool:
        return item in self._have

    def count(self, engine: str) -> int:
        return sum(e == engine for e, _ in self._have)

    def load(self, engine: str, name: str) -> NDArray[np.int16] | None:
        """The stored audio, or None if it is gone or unreadable (it is then forgotten)."""
        path = self.root / engine / f"{name}{SUFFIX}"
        try:
            return decode(path.read_bytes())
        except (OSError, ValueError, av.FFmpegError) as exc:
            log.warning("stored speech %s unreadable (%s): made again", path.name, exc)
            self._have.discard((engine, name))
            return None

    def save(self, engine: str, name: str, pcm: NDArray[np.int16]) -> None:
        folder = self.root / engine
        folder.mkdir(parents=True, exist_ok=True)
        data = encode(pcm)
        fd, partial = tempfile.mkstemp(dir=folder, suffix=".partial")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(partial, folder / f"{name}{SUFFIX}")
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
        self._have.add((engine, name))
