"""Spoken questions for the answer benchmark: 48 kHz mono 16-bit WAVs, cached by content.

Kokoro speaks most questions, espeak-ng every third one, and every fifth gets white noise at
about 20 dB SNR. A clip is kept under `var/bench-audio/`, named by a hash of what made it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
import wave
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.paths import ModelPaths
from media_engine.audio import OUT_RATE
from virtual_tutor.voice_client import read_wav, voiced_span

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "var" / "bench-audio"
SNR_DB = 20.0
KOKORO_VOICES = {"en": ["af_heart", "am_michael"], "zh": ["zf_xiaobei", "zm_yunxi"]}
# espeak-ng's plain "cmn" voice reads Chinese characters as English-spoken pinyin with tone
# numbers ("na four ..."); "cmn-latn-pinyin" speaks them as Mandarin.
ESPEAK_VOICES = {"en": "en-us", "zh": "cmn-latn-pinyin"}


@dataclass(frozen=True)
class ClipSpec:
    """What one clip says and how it is made."""

    text: str
    lang: str
    engine: str  # "kokoro" or "espeak"
    voice: str
    noise: bool

    @property
    def key(self) -> str:
        """The cache key: a hash of (text, voice, engine, noise)."""
        raw = json.dumps([self.text, self.voice, self.engine, self.noise], ensure_ascii=False)
        return hashlib.sha256(raw.encode()).hexdigest()[:20]

    @property
    def path(self) -> Path:
        return CACHE / f"{self.key}.wav"

    def describe(self) -> str:
        return f"{self.engine}:{self.voice}{'+noise' if self.noise else ''}"


def plan_clip(index: int, question: dict[str, Any]) -> ClipSpec:
    """The clip for the `index`-th question of the file (the index makes the choice stable)."""
    lang = str(question["lang"])
    espeak = index % 3 == 2
    voice = ESPEAK_VOICES[lang] if espeak else KOKORO_VOICES[lang][index % 2]
    return ClipSpec(
        text=str(question["q"]),
        lang=lang,
        engine="espeak" if espeak else "kokoro",
        voice=voice,
        noise=index % 5 == 4,
    )


def add_noise(pcm: NDArray[np.int16], snr_db: float, seed: int) -> NDArray[np.int16]:
    """White noise at `snr_db` below the power of the voiced part of `pcm`."""
    start, end = voiced_span(pcm)
    speech = pcm[start:end] if end > start else pcm
    power = float(np.mean(speech.astype(np.float64) ** 2)) if len(speech) else 0.0
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), len(pcm))
    return np.clip(pcm.astype(np.float64) + noise, -32768, 32767).astype(np.int16)


def write_wav(path: Path, pcm: NDArray[np.int16]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.wav")
    with wave.open(str(partial), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(OUT_RATE)
        wav.writeframes(pcm.tobytes())
    partial.replace(path)


def espeak(text: str, voice: str) -> NDArray[np.int16]:
    """`text` spoken by espeak-ng, converted by sox to 48 kHz mono 16-bit."""
    with tempfile.TemporaryDirectory() as tmp:
        raw, out = Path(tmp) / "raw.wav", Path(tmp) / "out.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], check=True)
        subprocess.run(
            ["sox", "-G", str(raw), "-r", str(OUT_RATE), "-c", "1", "-b", "16", str(out)],
            check=True,
        )
        return read_wav(out)


async def make_clips(specs: list[ClipSpec], models: Path) -> dict[ClipSpec, NDArray[np.int16]]:
    """Every clip in `specs` as 48 kHz s16 PCM, synthesizing (and caching) the missing ones."""
    missing = [s for s in dict.fromkeys(specs) if not s.path.is_file()]
    tts: Any = None
    if any(s.engine == "kokoro" for s in missing):
        from media_engine.tts import KokoroTTS

        paths = ModelPaths(models)
        tts = KokoroTTS(paths.kokoro_model, paths.kokoro_voices_dir)
    try:
        for spec in missing:
            if spec.engine == "kokoro":
                speech = await tts.synthesize(spec.text, voice=spec.voice, language=spec.lang)
                pcm: NDArray[np.int16] = speech.pcm
            else:
                pcm = espeak(spec.text, spec.voice)
            if spec.noise:
                pcm = add_noise(pcm, SNR_DB, seed=int(spec.key[:8], 16))
            write_wav(spec.path, pcm)
            (CACHE / f"{spec.key}.json").write_text(
                json.dumps(asdict(spec), ensure_ascii=False), encoding="utf-8"
            )
    finally:
        if tts is not None:
            await tts.aclose()
    return {s: read_wav(s.path) for s in specs}
