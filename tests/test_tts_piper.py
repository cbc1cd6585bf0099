"""The Piper backend: it speaks English in its one voice and fails like Kokoro on bad input."""

from __future__ import annotations

import asyncio
import gc
import random
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from core.paths import ModelPaths
from media_engine import memory
from media_engine.audio import OUT_RATE
from media_engine.tts import GAP_S, TTSError, choose_tts
from media_engine.tts_piper import PiperTTS, trim_silence
from tests.voice_helpers import MODELS_DIR, FakeTTS, rms, silence, tone

FRAME = OUT_RATE // 100


def model_path(name: str, default: str) -> Path:
    """`ModelPaths.<name>`, or where the installer puts it while core/paths.py lacks it."""
    path = getattr(ModelPaths(MODELS_DIR), name, None)
    return path if isinstance(path, Path) else MODELS_DIR / default


def loud_frames(pcm: np.ndarray) -> np.ndarray:
    """Indices of the 10 ms frames within 40 dB of the loudest."""
    count = len(pcm) // FRAME
    level = np.sqrt(np.mean(np.square(pcm[: count * FRAME] / 32768.0).reshape(count, FRAME), 1))
    return np.flatnonzero(level > level.max() / 100)


@pytest.fixture(scope="module")
def piper() -> Iterator[PiperTTS]:
    pytest.importorskip("piper", reason="piper-tts is not installed")
    voice = model_path("piper_voice", "piper-joe-us/voice.onnx")
    config = model_path("piper_config", "piper-joe-us/voice.onnx.json")
    if not (voice.is_file() and config.is_file()):
        pytest.skip(f"no Piper voice at {voice}: run `virtual-tutor models`")
    tts = PiperTTS(voice, config)
    yield tts
    asyncio.run(tts.aclose())


@pytest.mark.models
async def test_piper_speaks_a_sentence(piper: PiperTTS) -> None:
    speech = await piper.synthesize("Plants turn sunlight into food.", voice="joe", language="en")
    seconds = len(speech.pcm) / OUT_RATE - GAP_S
    print(f"piper: {seconds:.2f} s of speech")
    assert speech.pcm.dtype == np.int16
    assert 1.0 < seconds < 4.0
    assert 0.04 < rms(speech.pcm / 32768.0) < 0.2  # about Kokoro's loudness
    assert np.abs(speech.pcm).max() < 32767  # and not clipped
    # Trimmed: speech starts at once, not after Piper's lead-in silence, and ends at the gap.
    loud = loud_frames(speech.pcm)
    assert loud[0] <= 5  # 50 ms
    assert len(speech.pcm) / FRAME - 1 - loud[-1] <= GAP_S * 100 + 15


@pytest.mark.models
async def test_a_chunk_of_sentences_keeps_their_pauses(piper: PiperTTS) -> None:
    one = await piper.synthesize("Plants make food.", voice="joe", language="en")
    two = await piper.synthesize("Plants make food. Animals eat it.", voice="joe", language="en")
    assert len(two.pcm) > 1.6 * len(one.pcm)


@pytest.mark.models
@pytest.mark.parametrize("text", ["", " * ", " - "])
async def test_nothing_to_say_is_a_tts_error_like_kokoros(piper: PiperTTS, text: str) -> None:
    with pytest.raises(TTSError) as info:
        await piper.synthesize(text, voice="joe", language="en")
    assert info.value.code == "tts_error"


@pytest.mark.models
@pytest.mark.parametrize(("voice", "language"), [("af_heart", "en"), ("joe", "zh")])
async def test_a_voice_or_language_it_lacks_is_a_tts_voice_error(
    piper: PiperTTS, voice: str, language: str
) -> None:
    with pytest.raises(TTSError) as info:
        await piper.synthesize("Hello.", voice=voice, language=language)
    assert info.value.code == "tts_voice"


def test_trimming_keeps_the_sound_and_drops_the_silence_around_it() -> None:
    sound = tone(0.5, rate=22_050)
    audio = np.concatenate([silence(0.2, rate=22_050), sound, silence(0.3, rate=22_050)])
    trimmed = trim_silence(audio, 22_050)
    assert 0 <= len(trimmed) - len(sound) <= 4 * 221  # a 10 ms frame or two either side
    # A click in the silence before the first word is not where speech starts.
    click = silence(0.3, rate=22_050)
    click[2205:2425] = 0.002
    trimmed = trim_silence(np.concatenate([click, sound]), 22_050)
    assert 0 <= len(trimmed) - len(sound) <= 2 * 221
    assert len(trim_silence(silence(0.2, rate=22_050), 22_050)) == int(0.2 * 22_050)
    assert len(trim_silence(np.zeros(0, dtype=np.float32), 22_050)) == 0


def test_a_piper_voice_is_spoken_by_piper_and_any_other_by_kokoro() -> None:
    kokoro, piper = FakeTTS(), FakeTTS()
    assert choose_tts("piper:joe", kokoro, piper) == (piper, "joe")
    assert choose_tts("af_heart", kokoro, piper) == (kokoro, "af_heart")
    # Without Piper, Kokoro is asked for the voice, and says it is not installed.
    assert choose_tts("piper:joe", kokoro, None) == (kokoro, "piper:joe")


def test_reading_a_text_keeps_nothing_of_it_once_it_is_read(piper: PiperTTS) -> None:
    """piper's phonemizer kept every clause it read (a reference it never dropped), so a long
    run of replies grew the server for good. Reading (phonemizing, the step of every chunk
    Piper speaks) the same text again and again must leave Python's object count as it was."""
    text = "Water rises, cools into clouds; then it falls again. Does it?"
    phonemes = piper._voice.phonemize(text)
    assert len(phonemes) == 2 and phonemes[0][-1] == "."  # two sentences, the marks kept
    gc.collect()
    before = sys.getallocatedblocks()
    for _ in range(500):
        assert piper._voice.phonemize(text) == phonemes
    gc.collect()
    grown = sys.getallocatedblocks() - before
    # Four clauses a text: 2,000 clauses kept (4,000 objects) without the fix.
    assert grown < 200, f"{grown} objects kept after reading the text 500 times"


@pytest.mark.skipif(memory.heap() is None, reason="mallinfo2 needs glibc 2.33")
def test_reading_texts_keeps_no_copy_of_the_voice_in_the_c_heap(piper: PiperTTS) -> None:
    """piper set espeak-ng's voice before every text, and espeak-ng kept a copy of the voice
    each time (about 1.3 KB, for a synthesizer piper never runs): the C heap grew with every
    chunk Piper spoke. The heap in use after 2,000 texts must be about what it was."""
    text = "Plants make food from light."
    phonemes = piper._voice.phonemize(text)
    for _ in range(50):  # espeak-ng's own buffers, at their size
        piper._voice.phonemize(text)
    before = memory.heap()
    for _ in range(2000):
        assert piper._voice.phonemize(text) == phonemes
    after = memory.heap()
    assert before is not None and after is not None
    grown_mb = after["in_use_mb"] - before["in_use_mb"]
    # 2,000 copies of the voice: about 2.6 MB without the fix.
    assert grown_mb < 0.5, f"the C heap grew {grown_mb:.1f} MB over 2,000 texts"


@pytest.mark.skipif(memory.heap() is None, reason="mallinfo2 needs glibc 2.33")
async def test_texts_of_new_lengths_do_not_grow_the_heap(piper: PiperTTS) -> None:
    """onnxruntime keeps a memory plan for every set of input shapes a session has seen, and
    every text has its own length: with the plans on, the C heap grew with each new text
    (~35 KB, and once by 130 MB). The engine's sessions make none."""
    words = "the plant needs light water and air to make its food in the leaves".split()
    rng = random.Random(2)
    texts = [" ".join(rng.choices(words, k=rng.randint(1, 14))) + "." for _ in range(90)]
    voice = min(piper.voices)
    for text in texts[:30]:  # onnxruntime's arena, grown to the size these lengths need
        await piper.synthesize(text, voice=voice, language="en")
    piper.forget_kept()
    texts = texts[30:]
    memory.trim()
    before = memory.heap()
    for text in texts:
        await piper.synthesize(text, voice=voice, language="en")
    piper.forget_kept()  # short phrases' audio, kept on purpose (up to KEEP_PHRASES)
    memory.trim()
    after = memory.heap()
    assert before is not None and after is not None
    grown_mb = after["in_use_mb"] - before["in_use_mb"]
    assert grown_mb < 1.0, f"the C heap grew {grown_mb:.1f} MB over {len(texts)} texts"
