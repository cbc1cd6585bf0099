"""Hotwords from course material reach Whisper: the base passes them through, and a subject
term the model mishears without them is recognised with them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import soxr

from core.paths import ModelPaths
from core.settings import VoiceSettings
from knowledge.seed import demo_text
from knowledge.vocabulary import hotwords
from media_engine.asr import ASR, WhisperASR
from media_engine.audio import ASR_RATE, OUT_RATE, Samples
from media_engine.tts import KokoroTTS
from tests.voice_helpers import MODELS_DIR

# From the ASR benchmark (bench/asr.py): whisper base hears Kokoro's zm_yunxi say this as
# "有余述的厨法余述有什么要求" without hints, and gets 余数 and 除法 right with the maths
# tutor's hotwords.
SENTENCE = "有余数的除法，余数有什么要求？"
TERMS = ("余数", "除法")


class RecordingASR(ASR):
    """A backend that takes hints, recording what reached it."""

    name = "recording"

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[dict[str, Any]] = []

    def _transcribe(
        self, audio: Samples, language: str, partial: bool, hotwords: str | None = None
    ) -> str:
        self.calls.append({"language": language, "partial": partial, "hotwords": hotwords})
        return " heard "


class HintlessASR(ASR):
    """A backend written before hotwords: its `_transcribe` takes none."""

    name = "hintless"

    def _transcribe(self, audio: Samples, language: str, partial: bool) -> str:  # type: ignore[override]
        return "heard"


async def test_the_base_passes_hotwords_to_the_backend() -> None:
    asr = RecordingASR()
    audio = np.zeros(ASR_RATE, dtype=np.float32)
    first = await asr.transcribe(audio, language="zh", hotwords="余数 除法")
    second = await asr.transcribe(audio, language="en")
    assert first is not None and first.text == "heard"
    assert second is not None
    assert asr.calls == [
        {"language": "zh", "partial": False, "hotwords": "余数 除法"},
        {"language": "en", "partial": False, "hotwords": None},
    ]
    await asr.aclose()


async def test_a_backend_without_hotwords_still_works_when_none_are_given() -> None:
    asr = HintlessASR()
    transcript = await asr.transcribe(np.zeros(ASR_RATE, dtype=np.float32), language="en")
    assert transcript is not None and transcript.text == "heard"
    await asr.aclose()


@pytest.fixture(scope="module")
def whisper_base() -> Iterator[WhisperASR]:
    """The Chinese model, built as `create_voice_factory` builds it."""
    voice = VoiceSettings()
    asr = WhisperASR(
        ModelPaths(MODELS_DIR).whisper_base,
        beam_size=voice.asr_beam_size,
        threads=voice.asr_threads,
        compute_type=voice.asr_compute_type,
    )
    yield asr
    asyncio.run(asr.aclose())


async def kokoro_speech(text: str, voice: str, language: str) -> Samples:
    paths = ModelPaths(MODELS_DIR)
    tts = KokoroTTS(paths.kokoro_model, paths.kokoro_voices_dir)
    try:
        speech = await tts.synthesize(text, voice=voice, language=language)
    finally:
        await tts.aclose()
    audio: Samples = soxr.resample(speech.pcm.astype(np.float32) / 32768.0, OUT_RATE, ASR_RATE)
    return audio.astype(np.float32)


@pytest.mark.models
async def test_course_hotwords_help_whisper_hear_a_subject_term(whisper_base: WhisperASR) -> None:
    words = hotwords([demo_text("maths_zh.md").decode()], "zh")
    assert set(TERMS) <= set(words.split())
    audio = await kokoro_speech(SENTENCE, "zm_yunxi", "zh")
    plain = await whisper_base.transcribe(audio, language="zh")
    hinted = await whisper_base.transcribe(audio, language="zh", hotwords=words)
    assert plain is not None and plain.text
    assert hinted is not None and hinted.text
    print(f"without: {plain.text!r} ({plain.compute_s:.2f} s)")
    print(f"with:    {hinted.text!r} ({hinted.compute_s:.2f} s)")
    for term in TERMS:
        assert term in hinted.text
