"""The voice models every call shares, loaded and warmed once per engine.

`create_voice_factory` loads VAD, the Whisper models, Kokoro and Piper and the end-of-turn model
off the event loop, runs each once (first inferences allocate and are several times slower),
for `media_engine.voice.VoiceFactory` to share among the calls.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.paths import ModelPaths
from core.settings import Settings
from media_engine.asr import ASR, WhisperASR
from media_engine.tts import TTS, KokoroTTS
from media_engine.tts_piper import PiperTTS
from media_engine.turn_detector import SmartTurn, TurnDetector
from media_engine.vad import SileroVad, VadModel

log = logging.getLogger(__name__)


@dataclass
class VoiceModels:
    """The models every call shares: VAD, an ASR per model, TTS engines, turn detector."""

    vad: VadModel
    asr_en: ASR
    """For English tutors (whisper tiny.en)."""
    asr_multilingual: ASR
    """For every other language (whisper base; Chinese is the one we ship voices for)."""
    tts: TTS
    """Kokoro: every voice not named "piper:..."."""
    piper: TTS | None = None
    """Piper, for the tutors whose voice is "piper:<name>" (English only)."""
    turn_detector: TurnDetector | None = None
    """Judges each pause (TURN_DETECTOR=smart_turn); None: silence alone ends turns."""

    def asr_for(self, language: str) -> ASR:
        return self.asr_en if language == "en" else self.asr_multilingual

    async def aclose(self) -> None:
        models = (self.asr_en, self.asr_multilingual, self.tts, self.piper)
        for model in {id(m): m for m in models if m is not None}.values():
            await model.aclose()


async def load_voice_models(settings: Settings) -> VoiceModels:
    """Load every voice model (off the event loop) and warm each up, so no turn pays for it."""
    paths = ModelPaths(settings.models_dir)
    voice = settings.voice
    loop = asyncio.get_running_loop()

    def whisper(model_dir: Path) -> WhisperASR:
        return WhisperASR(
            model_dir,
            beam_size=voice.asr_beam_size,
            threads=voice.asr_threads,
            compute_type=voice.asr_compute_type,
            window_s=voice.asr_window_s,
        )

    def smart_turn() -> TurnDetector | None:
        return SmartTurn(paths.smart_turn) if voice.turn_detector == "smart_turn" else None

    loaded = await asyncio.gather(
        loop.run_in_executor(None, SileroVad),
        loop.run_in_executor(None, whisper, paths.whisper_tiny_en),
        loop.run_in_executor(None, whisper, paths.whisper_base),
        loop.run_in_executor(None, KokoroTTS, paths.kokoro_model, paths.kokoro_voices_dir),
        loop.run_in_executor(None, PiperTTS, paths.piper_voice, paths.piper_config),
        loop.run_in_executor(None, smart_turn),
    )
    models = VoiceModels(*loaded)  # in the fields' order
    await warm_up(models)
    return models


async def warm_up(models: VoiceModels) -> None:
    """Run each model once: first inferences allocate and are several times slower."""
    started = time.perf_counter()
    noise = (np.random.default_rng(0).standard_normal(16_000) * 0.01).astype(np.float32)
    detector = models.turn_detector
    await asyncio.gather(
        asyncio.to_thread(models.vad.scorer().score, noise[:512]),
        models.asr_en.transcribe(noise, language="en"),
        models.asr_multilingual.transcribe(noise, language="zh"),
        *(tts.warm_up() for tts in (models.tts, models.piper) if tts is not None),
        *([asyncio.to_thread(detector.predict, noise)] if detector else []),
    )
    log.info("voice models warm in %.1f s", time.perf_counter() - started)
