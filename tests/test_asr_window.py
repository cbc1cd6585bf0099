"""Whisper's encoder on a window shorter than 30 s: the same words for a fraction of the work,
and a transcript that repeats itself (the decoder did not hear the speech end) done again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np
import pytest

import media_engine.asr as asr_module
from core.paths import ModelPaths
from core.settings import VoiceSettings
from media_engine import memory
from media_engine.asr import WhisperASR, repeats, window_for
from media_engine.audio import ASR_RATE
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


# Sentences and the word to hear in each. espeak's voice is hard for tiny.en, and Whisper can
# slip on one word when its window changes by a fraction of a second ("spider" was heard in
# the full window, not in this 13 s one), so the short window may miss one more than the full
# one; a window too short to hear the speech end misses most, or repeats itself.
SENTENCES = {
    "Why do we have seasons?": "seasons",
    "How many legs does a spider have?": "spider",
    "Where does rain come from?": "rain",
    "How far away is the moon?": "moon",
    "Why is the sky blue?": "sky",
}


@pytest.mark.models
async def test_a_short_window_hears_what_the_full_window_hears(
    windows: tuple[WhisperASR, WhisperASR],
) -> None:
    short, full = windows
    heard = {"short": 0, "full": 0}
    for sentence, word in SENTENCES.items():
        audio = espeak(sentence)
        a = await short.transcribe(audio, language="en")
        b = await full.transcribe(audio, language="en")
        assert a is not None and b is not None
        print(f"{a.text!r} {a.compute_s:.2f} s; 30 s window {b.text!r} {b.compute_s:.2f} s")
        heard["short"] += word in a.text.lower()
        heard["full"] += word in b.text.lower()
        assert not repeats(a.text)
    assert heard["full"] >= len(SENTENCES) - 1, heard  # the voice is not too hard
    assert heard["short"] >= heard["full"] - 1, heard


@pytest.mark.models
async def test_a_repeating_transcript_is_done_again_in_the_full_window(
    windows: tuple[WhisperASR, WhisperASR], monkeypatch: pytest.MonkeyPatch
) -> None:
    short, _ = windows
    # With a second of silence after the speech, tiny.en repeats most sentences until its
    # token cap (measured on the ASR benchmark's clips).
    monkeypatch.setattr(asr_module, "WINDOW_TAIL_S", 1.0)
    # Exactly the speech and its tail (a fraction of a second more turned one clip's transcript
    # empty instead of repeated: with a second of tail, tiny.en is erratic either way).
    monkeypatch.setattr(asr_module, "WINDOW_STEP_S", 1e-6)
    monkeypatch.setattr(short, "_window_s", 1.0)
    before = short.redone
    for sentence in ("Hello, can you hear me?", "Why do we have seasons?", "Is it rocky?"):
        audio = espeak(sentence)
        a = await short.transcribe(audio, language="en")
        assert a is not None and a.text and not repeats(a.text)
    assert short.redone > before


def test_windows_come_in_whole_steps() -> None:
    # Each new window length is a new shape for the encoder's kernels, which are kept.
    lengths = {window_for(i / 100, 10.0) for i in range(0, 2000)}
    assert lengths == {float(s) for s in range(10, 31)}
    assert window_for(0.3, 10.0) == 11.0  # the tail is never cut short
    assert window_for(4.2, 0.0) == 15.0


@pytest.mark.models
@pytest.mark.skipif(memory.heap() is None, reason="mallinfo2 needs glibc 2.33")
async def test_utterances_of_new_lengths_do_not_grow_the_heap(
    windows: tuple[WhisperASR, WhisperASR],
) -> None:
    """CTranslate2's kernels (oneDNN's) are built and kept for every new shape the encoder
    sees: with a window of exactly the speech's length plus its tail, each utterance's length
    was a new shape, and the C heap grew by megabytes a call for good."""
    short, _ = windows
    audio = espeak("Why do we have seasons?")
    pad = np.zeros(ASR_RATE, dtype=np.float32)
    clip = np.concatenate([audio, pad, pad])[: int(2.95 * ASR_RATE)]  # espeak's: ~1.9 s
    await short.transcribe(clip, language="en")  # this window's kernels, once
    memory.trim()
    before = memory.heap()
    for i in range(1, 13):  # twelve lengths (2.23-2.89 s) within one window step
        await short.transcribe(clip[: len(clip) - i * 60 * ASR_RATE // 1000], language="en")
    memory.trim()
    after = memory.heap()
    assert before is not None and after is not None
    grown_mb = after["in_use_mb"] - before["in_use_mb"]
    assert grown_mb < 2.0, f"the C heap grew {grown_mb:.1f} MB over twelve utterances"
