"""The ASR stage: 16 kHz mono audio in, text out, on models shared by every call.

A backend implements only `_transcribe`, a blocking call. The base runs it on the model's own
single thread, so one model never runs twice at once and never on the event loop, and it keeps
partial transcripts best-effort: a partial is skipped, not queued, while the model is busy,
and not made at all by a model too slow for one to be worth it.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import functools
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from media_engine import cores
from media_engine.audio import ASR_RATE, Samples
from media_engine.errors import StageError

log = logging.getLogger(__name__)

# Whisper writes Chinese in either script; a prompt in simplified characters keeps it there.
_PROMPTS = {"zh": "以下是普通话的句子。"}
# A partial transcript is worth its cost only while it cannot hold up the final one: the final
# starts when the student's speech dips (64 ms into silence), and a partial already running then
# makes it wait. One that costs no more than this (about the pause the turn is judged at) is
# done by the time the turn is; a recogniser slower than that (Whisper base on Chinese, 2 CPU
# cores: 0.35-0.6 s) makes no partials, and the student's words show once they stop.
PARTIAL_BUDGET_S = 0.25
# How quickly the running estimate of a transcription's cost follows the latest one.
COST_WEIGHT = 0.3
# Chinese speech runs up to ~6 tokens a second in Whisper's vocabulary; English fewer.
TOKENS_PER_SECOND = 8
MAX_TOKENS = 200


class ASRError(StageError):
    """Transcription failed for one utterance."""

    code = "asr_error"


@dataclass(frozen=True)
class Transcript:
    """What was said, and what it cost."""

    text: str
    compute_s: float
    """Seconds the model spent on it (not counting waiting for the model)."""


class ASR(abc.ABC):
    """A speech recogniser for one language, shared by every call that speaks it."""

    name = "asr"

    def __init__(self) -> None:
        # One worker: the model runs one utterance at a time and the rest wait their turn.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.name)
        self._in_flight = 0
        self.cost_s = 0.0
        """What a transcription has cost lately (seconds of compute; 0 before the first)."""

    @property
    def busy(self) -> bool:
        """True while a transcription runs or waits; partials are skipped then."""
        return self._in_flight > 0

    @property
    def makes_partials(self) -> bool:
        """Whether a partial transcript is cheap enough not to hold up a final one."""
        return self.cost_s <= PARTIAL_BUDGET_S

    async def transcribe(
        self,
        audio: Samples,
        *,
        language: str,
        partial: bool = False,
        hotwords: str | None = None,
    ) -> Transcript | None:
        """Transcribe `audio` spoken in `language` (a code such as "en" or "zh").

        A partial returns None at once when the model is busy. `hotwords` (terms the speaker
        is likely to use, separated by spaces) go to the backend as a hint.
        """
        if partial and (self.busy or not self.makes_partials):
            return None
        loop = asyncio.get_running_loop()
        job = self._executor.submit(self._timed, audio, language, partial, hotwords)
        # Busy until the thread is really done: a cancelled caller does not stop the model.
        self._in_flight += 1
        job.add_done_callback(lambda _: _call_soon(loop, self._job_done))
        try:
            text, compute_s = await asyncio.wrap_future(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("%s failed", self.name)
            raise ASRError(f"speech recognition failed ({type(exc).__name__})") from exc
        # Finals too: one comes every turn, so the estimate follows the machine's load, and a
        # recogniser that got faster makes partials again.
        self.cost_s = (
            compute_s
            if not self.cost_s
            else (COST_WEIGHT * compute_s + (1 - COST_WEIGHT) * self.cost_s)
        )
        return Transcript(text=text.strip(), compute_s=compute_s)

    def _job_done(self) -> None:
        self._in_flight -= 1

    def _timed(
        self, audio: Samples, language: str, partial: bool, hotwords: str | None
    ) -> tuple[str, float]:
        started = time.perf_counter()
        # A final transcript is what the student waits for; a partial is best-effort.
        with contextlib.nullcontext() if partial else cores.hearing():
            if hotwords is None:  # a backend that takes no hints needs no `hotwords` parameter
                text = self._transcribe(audio, language, partial)
            else:
                text = self._transcribe(audio, language, partial, hotwords=hotwords)
        return text, time.perf_counter() - started

    @abc.abstractmethod
    def _transcribe(
        self, audio: Samples, language: str, partial: bool, hotwords: str | None = None
    ) -> str:
        """Blocking transcription; partials may trade accuracy for speed. `hotwords`: terms
        to expect, a hint the backend may ignore."""

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class WhisperASR(ASR):
    """faster-whisper (CTranslate2) on the CPU.

    Whisper's encoder is built for 30 s windows and faster-whisper pads every utterance to one,
    so a two-second question costs as much as thirty (about 0.7 s of tiny.en on two cores). The
    encoder also takes shorter windows: `window_s` (0: always 30 s) encodes the speech plus
    `WINDOW_TAIL_S` of padding, at least `window_s`. Whisper needs that trailing silence to hear
    where the speech ends (with only a second of it, it repeats the sentence until the token
    cap); a transcript that still repeats itself is redone in the full window.
    """

    def __init__(
        self,
        model_dir: Path,
        *,
        beam_size: int,
        threads: int,
        compute_type: str,
        window_s: float = 0.0,
    ) -> None:
        self.name = f"whisper-{model_dir.name}"
        super().__init__()
        self._beam_size = beam_size
        self._window_s = window_s
        self.model = _windowed_model()(
            str(model_dir),
            device="cpu",
            compute_type=compute_type,
            cpu_threads=threads,
            local_files_only=True,
        )
        self.redone = 0
        """Transcripts redone in the full window (a short one repeated itself)."""

    def _transcribe(
        self, audio: Samples, language: str, partial: bool, hotwords: str | None = None
    ) -> str:
        speech_s = len(audio) / ASR_RATE
        window_s = window_for(speech_s, self._window_s)
        if self._window_s <= 0 or window_s >= FULL_WINDOW_S:
            return self._decode(audio, language, partial, hotwords)[0]
        self.model.window_frames = int(window_s * FRAMES_PER_SECOND)
        try:
            text, capped = self._decode(audio, language, partial, hotwords)
        finally:
            self.model.window_frames = None
        if not capped and not repeats(text):
            return text
        self.redone += 1
        return self._decode(audio, language, partial, hotwords)[0]

    def _decode(
        self, audio: Samples, language: str, partial: bool, hotwords: str | None
    ) -> tuple[str, bool]:
        """The text, and whether the decoder stopped at the token cap, not by itself."""
        cap = _token_cap(len(audio))
        segments, _ = self.model.transcribe(
            audio,
            # An English-only model takes no language; a multilingual one is told, not left to
            # guess from a second of speech.
            language=language if self.model.model.is_multilingual else None,
            beam_size=1 if partial else self._beam_size,
            # One fixed temperature: the fallback ladder can multiply the cost of a bad
            # utterance several times over, which a live turn cannot afford.
            temperature=0.0,
            condition_on_previous_text=False,
            initial_prompt=_PROMPTS.get(language),
            # Go before the prompt (faster-whisper drops them only given a `prefix`) and are cut
            # to 223 tokens, which with our short prompts and the token cap fits Whisper's
            # 448-token context.
            hotwords=hotwords or None,
            # Given hotwords, Whisper may write them over noise or a cough: a segment it thinks
            # is not speech is dropped on that alone, however sure it is of its words.
            **({"no_speech_threshold": 0.4, "log_prob_threshold": None} if hotwords else {}),
            without_timestamps=True,
            vad_filter=False,  # our VAD already cut the utterance
            # Speech carries at most a few tokens a second: a cap in proportion to the audio
            # stops a decoder that loops on unintelligible sound (seconds of CPU) early.
            max_new_tokens=cap,
        )
        segments = list(segments)
        text = "".join(segment.text for segment in segments)
        capped = sum(len(segment.tokens) for segment in segments) >= cap
        return (to_simplified(text) if language == "zh" else text), capped


FULL_WINDOW_S = 30.0
FRAMES_PER_SECOND = 100  # Whisper's mel frames (10 ms hops)
WINDOW_TAIL_S = 10.0
"""Silence after the speech in a short window (measured on tiny.en and base: with 1-6 s of it
Whisper often repeats the sentence; with 10 s its word error rate on the ASR benchmark was
the 30 s window's)."""
WINDOW_STEP_S = 1.0
"""Windows come in whole steps, so the encoder sees a few dozen shapes, not one per utterance:
oneDNN (under CTranslate2) builds and keeps kernels for each new shape, so windows of any
length kept the engine's heap growing call after call."""


@functools.cache
def _windowed_model() -> Any:
    from faster_whisper import WhisperModel

    class WindowedWhisper(WhisperModel):  # type: ignore[misc]
        """Encodes only the first `window_frames` of faster-whisper's padded 30 s features."""

        window_frames: int | None = None

        def encode(self, features: Any) -> Any:
            if self.window_frames is not None and features.shape[-1] > self.window_frames:
                import numpy as np

                features = np.ascontiguousarray(features[..., : self.window_frames])
            return super().encode(features)

    return WindowedWhisper


def window_for(speech_s: float, shortest_s: float) -> float:
    """The encoder's window for `speech_s` of speech: the speech and its tail, at least
    `shortest_s`, rounded up to a whole `WINDOW_STEP_S`."""
    return max(shortest_s, math.ceil((speech_s + WINDOW_TAIL_S) / WINDOW_STEP_S) * WINDOW_STEP_S)


def repeats(text: str) -> bool:
    """True if `text` ends with a phrase said twice in a row ("Why? Why?" is two words, fine;
    "What is it? What is it?" is not), the sign of a decoder that did not see the speech end."""
    words = " " in text.strip()
    units = text.split() if words else [c for c in text if c.isalnum()]
    units = [u.strip(".,?!").lower() for u in units]
    for size in range(3 if words else 4, len(units) // 2 + 1):
        if units[-size:] == units[-2 * size : -size]:
            return True
    return False


def _token_cap(samples: int) -> int:
    return min(MAX_TOKENS, 12 + int(samples / ASR_RATE * TOKENS_PER_SECOND))


@functools.cache
def _converter() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Whisper writes much of its Chinese in traditional characters; our tutors, students and
    course material use simplified ones (the character error rate halves)."""
    return str(_converter().convert(text))


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    """Run `callback` on `loop` from a worker thread; a loop already closed needs no news."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback)
