"""The real models: Whisper hears espeak, Kokoro and Piper; Kokoro speaks English and Mandarin,
Piper English; Smart Turn is loaded to judge pauses."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soxr

from core.settings import Settings
from media_engine.asr import PARTIAL_BUDGET_S
from media_engine.audio import ASR_RATE, OUT_RATE, Samples
from media_engine.tts import TTSError, choose_tts, clean_for_speech, espeak_language, sayable
from media_engine.tts_piper import PiperTTS
from media_engine.turn_detector import SmartTurn
from media_engine.voice import VoiceFactory, create_voice_factory
from media_engine.voice_models import VoiceModels
from tests.voice_helpers import MODELS_DIR, FakeASR, espeak, rms


@pytest.fixture(scope="module")
def factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VoiceFactory]:
    """Every voice model, loaded and warmed once, the way the engine does at start."""
    tmp: Path = tmp_path_factory.mktemp("voice")
    settings = Settings(
        database_url=f"sqlite:///{tmp}/t.db", secret_key="k" * 40, models_dir=MODELS_DIR
    )
    started = time.perf_counter()
    made = asyncio.run(create_voice_factory(settings))
    print(f"voice models loaded and warm in {time.perf_counter() - started:.1f} s")
    yield made
    asyncio.run(made.aclose())


@pytest.fixture(scope="module")
def models(factory: VoiceFactory) -> VoiceModels:
    return factory.models


def lead_in_ms(pcm: np.ndarray) -> int:
    """Milliseconds before the first 10 ms frame within 40 dB of the loudest."""
    frame = OUT_RATE // 100
    count = len(pcm) // frame
    level = np.sqrt(np.mean(np.square(pcm[: count * frame] / 32768.0).reshape(count, frame), 1))
    return int(np.flatnonzero(level > level.max() / 100)[0]) * 10


def pcm_at_16k(pcm: np.ndarray) -> Samples:
    audio = pcm.astype(np.float32) / 32768.0
    out: Samples = soxr.resample(audio, OUT_RATE, ASR_RATE).astype(np.float32)
    return out


@pytest.mark.models
async def test_tiny_en_transcribes_an_espeak_question(models: VoiceModels) -> None:
    audio = espeak("Can you explain how photosynthesis works in plants?")
    transcript = await models.asr_for("en").transcribe(audio, language="en")
    assert transcript is not None
    print(f"tiny.en: {transcript.compute_s:.2f} s for {len(audio) / ASR_RATE:.1f} s of speech")
    words = transcript.text.lower()
    assert "photosynthesis" in words and "plants" in words


async def test_a_recogniser_too_slow_for_partials_makes_none_until_it_is_fast_again() -> None:
    """A partial running when the student stops holds up the final transcript: one that
    costs more than the turn's judging pause is not worth making (Whisper base on Chinese,
    2 cores), and the estimate follows the finals, so a faster machine makes them again."""
    audio = np.zeros(ASR_RATE, dtype=np.float32)
    asr = FakeASR(delay=PARTIAL_BUDGET_S + 0.15)
    try:
        assert asr.makes_partials  # nothing known yet: the first partial is tried
        assert await asr.transcribe(audio, language="zh", partial=True) is not None
        assert not asr.makes_partials
        assert await asr.transcribe(audio, language="zh", partial=True) is None
        assert asr.partials == 1
        asr.delay = 0.0
        finals = 0
        while not asr.makes_partials:
            assert await asr.transcribe(audio, language="zh") is not None
            finals += 1
            assert finals < 20, asr.cost_s
        assert await asr.transcribe(audio, language="zh", partial=True) is not None
        assert asr.partials == 2
    finally:
        await asr.aclose()


@pytest.mark.models
async def test_partials_are_skipped_while_the_model_is_busy(models: VoiceModels) -> None:
    asr = models.asr_for("en")
    audio = espeak("What is the boiling point of water?")
    final = asyncio.create_task(asr.transcribe(audio, language="en"))
    await asyncio.sleep(0)
    assert asr.busy
    assert await asr.transcribe(audio, language="en", partial=True) is None
    assert (await final) is not None
    assert not asr.busy


@pytest.mark.models
async def test_base_transcribes_mandarin(models: VoiceModels) -> None:
    # Debian's espeak-ng has no Mandarin dictionary (it reads hanzi as English numbers), so the
    # Mandarin question comes from Kokoro's male Mandarin voice.
    speech = await models.tts.synthesize("什么是光合作用？", voice="zm_yunxi", language="zh")
    transcript = await models.asr_for("zh").transcribe(pcm_at_16k(speech.pcm), language="zh")
    assert transcript is not None
    print(f"base (zh): {transcript.compute_s:.2f} s")
    assert "光合作用" in transcript.text


@pytest.mark.models
@pytest.mark.parametrize(
    ("voice", "language", "text"),
    [
        ("af_heart", "en", "Plants turn sunlight into food."),
        ("bf_emma", "en", "Plants turn sunlight into food."),
        ("zf_xiaobei", "zh", "植物利用阳光制造养分。"),
    ],
)
async def test_kokoro_speaks(models: VoiceModels, voice: str, language: str, text: str) -> None:
    speech = await models.tts.synthesize(text, voice=voice, language=language)
    seconds = len(speech.pcm) / OUT_RATE
    print(f"kokoro {voice}: {seconds:.2f} s of speech, {lead_in_ms(speech.pcm)} ms lead-in")
    assert speech.pcm.dtype == np.int16
    assert 1.0 < seconds < 6.0
    assert rms(speech.pcm / 32768.0) > 0.02
    assert lead_in_ms(speech.pcm) <= 60  # kokoro-onnx trims the silence before the first word


@pytest.mark.models
async def test_whisper_understands_kokoro(models: VoiceModels) -> None:
    speech = await models.tts.synthesize(
        "Photosynthesis happens in the leaves of green plants.", voice="af_heart", language="en"
    )
    transcript = await models.asr_for("en").transcribe(pcm_at_16k(speech.pcm), language="en")
    assert transcript is not None
    words = transcript.text.lower()
    assert "photosynthesis" in words and "leaves" in words and "plants" in words


@pytest.mark.models
async def test_piper_and_smart_turn_are_loaded_beside_kokoro(models: VoiceModels) -> None:
    assert isinstance(models.piper, PiperTTS) and isinstance(models.turn_detector, SmartTurn)
    tts, voice = choose_tts("piper:joe", models.tts, models.piper)
    assert (tts, voice) == (models.piper, "joe")
    started = time.perf_counter()
    speech = await tts.synthesize("Photosynthesis is how plants", voice=voice, language="en")
    print(f"piper, warm: {(time.perf_counter() - started) * 1000:.0f} ms for four words")
    transcript = await models.asr_for("en").transcribe(pcm_at_16k(speech.pcm), language="en")
    assert transcript is not None and "plants" in transcript.text.lower()
    assert lead_in_ms(speech.pcm) <= 30


@pytest.mark.models
async def test_unknown_voice_is_a_tts_error(models: VoiceModels) -> None:
    with pytest.raises(TTSError) as info:
        await models.tts.synthesize("Hello.", voice="xx_nobody", language="en")
    assert info.value.code == "tts_voice"


def test_pronunciation_follows_the_tutors_language() -> None:
    assert espeak_language("en", "af_heart") == "en-us"
    assert espeak_language("en", "bf_emma") == "en-gb"
    assert espeak_language("fr", "ff_siwis") == "fr-fr"
    assert espeak_language("es", "af_heart") == "es"  # the text decides, the voice only sounds


def test_markup_is_not_read_aloud() -> None:
    assert clean_for_speech("**Photosynthesis** uses `light`\n and #water.") == (
        "Photosynthesis uses light and water."
    )
    assert sayable("光合作用。") and sayable("Yes.")
    assert not sayable("...") and not sayable(" — ")
