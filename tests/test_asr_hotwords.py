"""Hotwords from course material reach Whisper: the base passes them through, and a subject
term the model mishears without them is recognised with them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from core.paths import ModelPaths
from core.settings import VoiceSettings
from knowledge.seed import demo_text
from knowledge.vocabulary import as_list, hotwords
from media_engine.asr import ASR, WhisperASR
from media_engine.audio import ASR_RATE, Samples
from tests.voice_helpers import MODELS_DIR, espeak

# From the ASR benchmark (bench/asr.py --terms): tiny.en hears espeak say this
# as "what our tense and her endurance." without hints, and gets both terms with the maths
# tutor's hotwords.
SENTENCE = "What are tenths and hundredths?"
TERMS = ("tenths", "hundredths")


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
def tiny_en() -> Iterator[WhisperASR]:
    """The English model, built as `create_voice_factory` builds it."""
    voice = VoiceSettings()
    asr = WhisperASR(
        ModelPaths(MODELS_DIR).whisper_tiny_en,
        beam_size=voice.asr_beam_size,
        threads=voice.asr_threads,
        compute_type=voice.asr_compute_type,
        window_s=voice.asr_window_s,
    )
    yield asr
    asyncio.run(asr.aclose())


@pytest.mark.models
async def test_course_hotwords_help_whisper_hear_subject_terms(tiny_en: WhisperASR) -> None:
    words = hotwords([demo_text("maths_en.md").decode()], "en")
    assert set(TERMS) <= set(words.split())
    audio = espeak(SENTENCE)
    plain = await tiny_en.transcribe(audio, language="en")
    hinted = await tiny_en.transcribe(audio, language="en", hotwords=as_list(words, "en"))
    assert plain is not None and plain.text
    assert hinted is not None and hinted.text
    print(f"without: {plain.text!r} ({plain.compute_s:.2f} s)")
    print(f"with:    {hinted.text!r} ({hinted.compute_s:.2f} s)")
    # With the hints it hears more of the terms than without. Not always both: CTranslate2's
    # int8 kernels differ between CPUs (AVX2, AVX-512 VNNI), and on some tiny.en then writes
    # "tenths and herndreads" for espeak's voice.
    heard = [term for term in TERMS if term in hinted.text.lower()]
    assert len(heard) > sum(term in plain.text.lower() for term in TERMS), hinted.text
    # The bare words work too (Whisper then copies their style: no capitals, no punctuation).
    bare = await tiny_en.transcribe(audio, language="en", hotwords=words)
    assert bare is not None and bare.text
