"""Test speech and scripted fakes for the voice pipeline: tracks, VAD, turn detector, ASR, LLM,
TTS, channel."""

from __future__ import annotations

import asyncio
import fractions
import io
import json
import shutil
import subprocess
import threading
import time
import wave
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import soxr
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from core.paths import ModelPaths
from media_engine.asr import ASR
from media_engine.audio import ASR_RATE, OUT_RATE, Samples
from media_engine.conversation import Conversation
from media_engine.llm.base import LLM, ChatMessage, GenerationOptions
from media_engine.reply import Reply
from media_engine.tts import TTS, TTSError
from media_engine.tts_piper import PiperTTS
from media_engine.turn import Turns
from media_engine.turn_detector import THRESHOLD, TurnGuess
from media_engine.vad import SpeechScorer, VadModel

ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = ROOT / "var" / "models"


# --- audio -------------------------------------------------------------------------------------


def espeak(text: str, *, voice: str = "en", rate: int = ASR_RATE, wpm: int = 150) -> Samples:
    """`text` spoken by espeak-ng (a little slower than its default 175 words a minute, which
    tiny.en mishears), as float32 mono at `rate`."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.fail("espeak-ng is needed for test speech: apt-get install espeak-ng")
    wav = subprocess.run(
        [exe, "-v", voice, "-s", str(wpm), "--stdout", text], capture_output=True, check=True
    )
    with wave.open(io.BytesIO(wav.stdout)) as w:
        source_rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    audio = pcm.astype(np.float32) / 32768.0
    out: Samples = soxr.resample(audio, source_rate, rate).astype(np.float32)
    return out


def load_piper() -> PiperTTS:
    """The Piper voice "joe", or the test is skipped where it is not installed."""
    pytest.importorskip("piper", reason="piper-tts is not installed")
    paths = ModelPaths(MODELS_DIR)
    if not (paths.piper_voice.is_file() and paths.piper_config.is_file()):
        pytest.skip(f"no Piper voice at {paths.piper_voice}: run `virtual-tutor models`")
    return PiperTTS(paths.piper_voice, paths.piper_config)


def piper_speech(tts: TTS, text: str) -> Samples:
    """`text` in Piper's voice (natural English, unlike espeak's) as 16 kHz float32 mono: what
    the VAD and the turn detector hear. Call it outside a running event loop."""
    speech = asyncio.run(tts.synthesize(text, voice="joe", language="en"))
    audio = speech.pcm.astype(np.float32) / 32768.0
    out: Samples = soxr.resample(audio, OUT_RATE, ASR_RATE).astype(np.float32)
    return out


def tone(
    seconds: float, *, rate: int = ASR_RATE, freq: float = 220.0, level: float = 0.3
) -> Samples:
    t = np.arange(int(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def silence(seconds: float, *, rate: int = ASR_RATE) -> Samples:
    return np.zeros(int(seconds * rate), dtype=np.float32)


def rms(audio: Any) -> float:
    if len(audio) == 0:
        return 0.0
    return float(np.sqrt(np.mean(np.square(np.asarray(audio, dtype=np.float64)))))


class ScriptedTrack(MediaStreamTrack):
    """The student's audio as aiortc's Opus decoder hands it over: 48 kHz stereo s16, 20 ms
    frames, paced in real time. `then()` appends more audio while it plays."""

    kind = "audio"

    def __init__(self, audio: Samples, *, rate: int = ASR_RATE, realtime: bool = True) -> None:
        super().__init__()
        self._pcm = self._convert(audio, rate)
        self._pos = 0
        self._pts = 0
        self._start: float | None = None
        self._realtime = realtime
        self.finished = asyncio.Event()

    @staticmethod
    def _convert(audio: Samples, rate: int) -> np.ndarray[Any, Any]:
        at48 = soxr.resample(audio, rate, OUT_RATE) if rate != OUT_RATE else audio
        return (np.clip(at48, -1, 1) * 32767).astype(np.int16)

    def then(self, audio: Samples, *, rate: int = ASR_RATE) -> None:
        """Play `audio` next (after the silence sent since the script ran out)."""
        gap = np.zeros(max(0, self._pos - len(self._pcm)), dtype=np.int16)
        self._pcm = np.concatenate([self._pcm, gap, self._convert(audio, rate)])
        self.finished.clear()

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        elif self._realtime:
            await asyncio.sleep(max(0.0, self._start + self._pts / OUT_RATE - time.monotonic()))
        chunk = self._pcm[self._pos : self._pos + 960]
        if len(chunk) < 960:
            self.finished.set()
            chunk = np.concatenate([chunk, np.zeros(960 - len(chunk), dtype=np.int16)])
        self._pos += 960
        stereo = np.repeat(chunk, 2).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
        frame.sample_rate = OUT_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, OUT_RATE)
        self._pts += 960
        return frame


class OpusDecoder:
    """Decodes the Opus packets an outbound track hands aiortc, as the student's side would."""

    def __init__(self) -> None:
        self._codec = av.CodecContext.create("libopus", "r")
        assert isinstance(self._codec, av.AudioCodecContext)
        self._codec.sample_rate = 48_000
        self._codec.layout = "mono"

    def decode(self, packet: Any) -> Any:
        frames = self._codec.decode(av.Packet(bytes(packet)))
        pcm = [f.to_ndarray().reshape(-1) for f in frames]
        return np.concatenate(pcm).astype(np.float64) if pcm else np.zeros(960)


class Listener:
    """Plays the part of aiortc's RTP sender: pulls the outbound track and notes each frame."""

    def __init__(self, track: MediaStreamTrack) -> None:
        self.frames: list[tuple[float, float]] = []  # (monotonic, rms)
        self.stamps: list[tuple[float, int]] = []  # (monotonic, pts)
        self._decoder = OpusDecoder()
        self._task = asyncio.create_task(self._pull(track))

    async def _pull(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if isinstance(frame, av.Packet):  # the engine's track hands the sender Opus
                samples = self._decoder.decode(frame)
            else:
                assert isinstance(frame, av.AudioFrame)
                samples = frame.to_ndarray()[0]
            self.frames.append((time.monotonic(), rms(samples / 32768.0)))
            self.stamps.append((self.frames[-1][0], int(frame.pts or 0)))

    def voiced_after(self, moment: float) -> int:
        return sum(1 for at, level in self.frames if at > moment and level > 0.001)

    def voiced(self) -> int:
        return sum(1 for _, level in self.frames if level > 0.001)

    async def aclose(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


# --- scripted stages ---------------------------------------------------------------------------


class LoudnessVad(VadModel):
    """Speech is anything louder than a whisper: deterministic, for tone-based scripts."""

    def scorer(self) -> SpeechScorer:
        return _Loudness()


class _Loudness(SpeechScorer):
    def score(self, window: Samples) -> float:
        return 1.0 if rms(window) > 0.02 else 0.0


class ScriptedDetector:
    """A turn detector that reads its probabilities off a list (the last one forever)."""

    name = "scripted-turn"

    def __init__(self, *probabilities: float, delay: float = 0.0) -> None:
        self.probabilities = list(probabilities) or [1.0]
        self.delay = delay
        self.heard: list[float] = []
        """Seconds of audio judged, one entry a call."""
        self.threads: set[str] = set()

    def predict(self, audio: Samples) -> TurnGuess:
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)  # a model at work, on the detector's own thread
        probability = self.probabilities[min(len(self.heard), len(self.probabilities) - 1)]
        self.heard.append(len(audio) / ASR_RATE)
        return TurnGuess(
            complete=probability >= THRESHOLD,
            probability=probability,
            inference_ms=self.delay * 1000,
        )


class FakeASR(ASR):
    """Says each scripted transcript in turn (the last one forever)."""

    name = "fake-asr"

    def __init__(self, *transcripts: str, delay: float = 0.05, partial: str = "what is") -> None:
        super().__init__()
        self.transcripts = list(transcripts) or ["what is photosynthesis"]
        self.partial = partial
        self.delay = delay
        self.finals = 0
        self.partials = 0
        self.hints: list[str | None] = []
        """The hotwords of each transcription, in order."""
        self.final_seconds: list[float] = []
        """How long the audio of each final transcription was."""

    def _transcribe(
        self, audio: Samples, language: str, partial: bool, hotwords: str | None = None
    ) -> str:
        time.sleep(self.delay)  # runs on the ASR's own thread, like a real model
        self.hints.append(hotwords)
        if partial:
            self.partials += 1
            return self.partial
        self.finals += 1
        self.final_seconds.append(len(audio) / 16_000)
        return self.transcripts[min(self.finals - 1, len(self.transcripts) - 1)]

    @property
    def calls(self) -> int:
        return self.finals + self.partials


class FakeTTS(TTS):
    """A tone `seconds_per_char` long per character; fails on text containing `fail_on`."""

    name = "fake-tts"

    def __init__(
        self, *, seconds_per_char: float = 0.02, fail_on: str | None = None, delay: float = 0.0
    ) -> None:
        super().__init__()
        self.seconds_per_char = seconds_per_char
        self.fail_on = fail_on
        self.delay = delay
        self.texts: list[str] = []

    def _synthesize(self, text: str, voice: str, language: str) -> tuple[Samples, int]:
        self.texts.append(text)
        time.sleep(self.delay)  # a busy model, on its own thread
        if self.fail_on is not None and self.fail_on in text:
            raise RuntimeError("the synthesizer broke")
        return tone(len(text) * self.seconds_per_char, rate=24_000, freq=330.0), 24_000


class BrokenVoiceTTS(FakeTTS):
    def _synthesize(self, text: str, voice: str, language: str) -> tuple[Samples, int]:
        raise TTSError("no such voice", code="tts_voice")


class ScriptedLLM(LLM):
    """Replies with each scripted reply in turn, a word at a time."""

    name = "scripted"

    def __init__(self, *replies: str, delay: float = 0.01) -> None:
        self.replies = list(replies)
        self.delay = delay
        self.requests: list[list[ChatMessage]] = []
        self.prefills: list[list[ChatMessage]] = []

    async def prefill(self, messages: list[ChatMessage]) -> None:
        self.prefills.append(messages)

    async def stream(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[str]:
        self.requests.append(messages)
        text = self.replies[min(len(self.requests) - 1, len(self.replies) - 1)]
        for i, word in enumerate(text.split(" ")):
            await asyncio.sleep(self.delay)
            yield word if i == 0 else " " + word


class FakeStore:
    """Keeps the turns the conversation stores."""

    def __init__(self) -> None:
        self.turns: list[dict[str, Any]] = []

    async def add_turn(self, **turn: Any) -> None:
        self.turns.append(turn)

    def of(self, role: str) -> list[dict[str, Any]]:
        return [t for t in self.turns if t["role"] == role]


class FakeChannel:
    """An open data channel that keeps what is sent, with the time it was sent."""

    readyState = "open"
    label = "chat"
    bufferedAmount = 0

    def __init__(self) -> None:
        self.sent: list[tuple[float, dict[str, Any]]] = []
        self._changed = asyncio.Event()

    def send(self, message: str) -> None:
        self.sent.append((time.monotonic(), json.loads(message)))
        self._changed.set()

    def events(self, kind: str, **match: Any) -> list[dict[str, Any]]:
        return [
            m
            for _, m in self.sent
            if m["type"] == kind and all(m.get(k) == v for k, v in match.items())
        ]

    def time_of(self, kind: str, **match: Any) -> float:
        return next(
            at
            for at, m in self.sent
            if m["type"] == kind and all(m.get(k) == v for k, v in match.items())
        )

    async def wait_for(
        self, kind: str, timeout: float = 10.0, count: int = 1, **match: Any
    ) -> dict[str, Any]:
        async def until() -> dict[str, Any]:
            while len(found := self.events(kind, **match)) < count:
                self._changed.clear()
                await self._changed.wait()
            return found[count - 1]

        return await asyncio.wait_for(until(), timeout)


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def ask(
    conversation: Conversation, text: str, *, turn_id: str, sent: list[str] | None = None
) -> Reply:
    """A typed question answered as a call answers it (media_engine.turn), to the end, with
    everything stored; the events go to `sent`."""
    turns = Turns(
        session_id=conversation.session_id,
        conversation=conversation,
        send=sent.append if sent is not None else (lambda message: None),
    )
    turns.typed(text, turn_id=turn_id)
    turn = turns.current
    assert turn is not None
    await turn.task
    await conversation.drain()
    return turn.reply
