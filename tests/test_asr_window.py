"""Whisper's encoder on a window shorter than 30 s: the same words for a fraction of the work,
and a transcript that repeats itself (the decoder did not hear the speech end) done again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

import media_engine.asr as asr_module
from core.paths import ModelPaths
from core.settings import VoiceSettings
from media_engine.asr import WhisperASR, repeats
from tests.voice_helpers import MODELS_DIR, espeak


def test_repeats_finds_a_phrase_said_twice_at_the_end() -> None:
    assert repeats("What is the capital of France? What is the capital of France?")
    assert repeats("Hello can you hear me? Hello can you hear me? Hello can you")
    assert repeats("光合作用是什么光合作用是什么")
    assert not repeats("Why? Why?")  # two words: a student may well say that
    assert not repeats("What is the capital of France?")
    assert not repeats("谢谢谢谢")
    assert not repeats("")


def _whisper(window_s: float) -> WhisperASR:
    voice = VoiceSettings()
    return WhisperASR(
        ModelPaths(MODELS_DIR).whisper_tiny_en,
        beam_size=voice.asr_beam_size,
        threads=voice.asr_threads,
        compute_type=voice.asr_compute_type,
        window_s=window_s,
    )


@pytest.fixture(scope="module")
def windows() -> Iterator[tuple[WhisperASR, WhisperASR]]:
    short, full = _whisper(VoiceSettings().asr_window_s), _whisper(0.0)
    yield short, full
    asyncio.run(short.aclose())
    asyncio.run(full.aclose())


# Sentence and the word both windows must hear in it (espeak's voice is hard for tiny.en:
# either window may slip on other words).
SENTENCES = {
    "Why do we have seasons?": "seasons",
    "How many legs does a spider have?": "spider",
}


@pytest.mark.models
async def test_a_short_window_hears_what_the_full_window_hears(
    windows: tuple[WhisperASR, WhisperASR],
) -> None:
    short, full = windows
    for sentence, word in SENTENCES.items():
        audio = espeak(sentence)
        a = await short.transcribe(audio, language="en")
        b = await full.transcribe(audio, language="en")
        assert a is not None and b is not None
        print(f"{a.text!r} {a.compute_s:.2f} s; 30 s window {b.text!r} {b.compute_s:.2f} s")
        assert word in a.text.lower() and word in b.text.lower()
        assert not repeats(a.text)


@pytest.mark.models
async def test_a_repeating_transcript_is_done_again_in_the_full_window(
    windows: tuple[WhisperASR, WhisperASR], monkeypatch: pytest.MonkeyPatch
) -> None:
    short, _ = windows
    # With a second of silence after the speech, tiny.en repeats most sentences until its
    # token cap (measured on the ASR benchmark's clips).
    monkeypatch.setattr(asr_module, "WINDOW_TAIL_S", 1.0)
    monkeypatch.setattr(short, "_window_s", 1.0)
    before = short.redone
    for sentence in ("Hello, can you hear me?", "Why do we have seasons?", "Is it rocky?"):
        audio = espeak(sentence)
        a = await short.transcribe(audio, language="en")
        assert a is not None and a.text and not repeats(a.text)
    assert short.redone > before
