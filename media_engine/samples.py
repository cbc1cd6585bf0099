"""The voices an engine can speak in, and a short sample of one, for teachers choosing a
tutor's voice. Synthesis is the calls' own TTS, on its read-ahead thread, never the event loop.
"""

from __future__ import annotations

import io
import wave
from typing import Any

from media_engine.audio import OUT_RATE
from media_engine.tts import PIPER_PREFIX, TTS, choose_tts

# Kokoro's voice names start with a letter for the language and one for the voice's gender
# ("zf_xiaobei": Mandarin, female); tutors speak English or Chinese.
_KOKORO_LANGUAGE = {"a": "en", "b": "en", "z": "zh"}
SAMPLE_TEXT = {
    "en": "Hello! I'm your tutor. Ask me anything about the lesson.",
    "zh": "你好！我是你的老师。有什么问题都可以问我。",
}
MAX_SAMPLE_CHARS = 200


class UnknownVoice(LookupError):
    """The engine has no such voice."""


def voice_list(kokoro: TTS, piper: TTS | None) -> list[dict[str, Any]]:
    """`[{id, language, engine}]`: Kokoro's English and Chinese voices, then Piper's."""
    out: list[dict[str, Any]] = []
    for name in sorted(getattr(kokoro, "voices", ())):
        language = _KOKORO_LANGUAGE.get(name[:1])
        if language is not None:
            out.append({"id": name, "language": language, "engine": "kokoro"})
    if piper is not None:
        piper_language = str(getattr(piper, "language", "en"))
        for name in sorted(getattr(piper, "voices", ())):
            out.append({"id": PIPER_PREFIX + name, "language": piper_language, "engine": "piper"})
    return out


async def sample_wav(kokoro: TTS, piper: TTS | None, voice: str, text: str | None) -> bytes:
    """`text` (or a greeting in the voice's language) spoken in `voice`, as a 48 kHz WAV."""
    known = {v["id"]: v["language"] for v in voice_list(kokoro, piper)}
    if voice not in known:
        raise UnknownVoice(voice)
    language = known[voice]
    tts, name = choose_tts(voice, kokoro, piper)
    speech = await tts.synthesize(text or SAMPLE_TEXT[language], voice=name, language=language)
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(OUT_RATE)
        wav.writeframes(speech.pcm.tobytes())
    return out.getvalue()
