"""The ASR stage: 16 kHz mono audio in, text out, on models shared by every call.

A backend implements only `_transcribe`, a blocking call. The base runs it on the model's own
single thread, so one model never runs twice at once and never on the event loop, and it keeps
partial transcripts best-effort: a partial is skipped, not queued, while the model is busy.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from media_engine.audio import ASR_RATE, Samples
from media_engine.errors import StageError

log = logging.getLogger(__name__)

# Whisper writes Chinese in either script; a prompt in simplified characters keeps it there.
_PROMPTS = {"zh": "以下是普通话的句子。"}
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

    @property
    def busy(self) -> bool:
        """True while a transcription runs or waits; partials are skipped then."""
        return self._in_flight > 0

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
        if partial and self.busy:
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
        return Transcript(text=text.strip(), compute_s=compute_s)

    def _job_done(self) -> None:
        self._in_flight -= 1

    def _timed(
        self, audio: Samples, language: str, partial: bool, hotwords: str | None
    ) -> tuple[str, float]:
        started = time.perf_counter()
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
    """faster-whisper (CTranslate2) on the CPU."""

    def __init__(
        self,
        model_dir: Path,
        *,
        beam_size: int,
        threads: int,
        compute_type: str,
    ) -> None:
        from faster_whisper import WhisperModel

        self.name = f"whisper-{model_dir.name}"
        super().__init__()
        self._beam_size = beam_size
        self.model = WhisperModel(
            str(model_dir),
            device="cpu",
            compute_type=compute_type,
            cpu_threads=threads,
            local_files_only=True,
        )

    def _transcribe(
        self, audio: Samples, language: str, partial: bool, hotwords: str | None = None
    ) -> str:
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
            max_new_tokens=_token_cap(len(audio)),
        )
        text = "".join(segment.text for segment in segments)
        return to_simplified(text) if language == "zh" else text


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
