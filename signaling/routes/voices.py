"""The voices a tutor can speak in, and a sample of each, for teachers and admins.

They come from the in-process engine's TTS; with ENGINE_URL (the engine elsewhere) or without
voice models loaded, both answer 503.
"""

from __future__ import annotations

from aiohttp import web

from auth import Role
from core.http import http_error, json_body, require_str
from media_engine import api as engine_api
from media_engine.samples import MAX_SAMPLE_CHARS, UnknownVoice, sample_wav, voice_list
from media_engine.tts import TTS, TTSError
from signaling.keys import principal

routes = web.RouteTableDef()


def _engines(request: web.Request) -> tuple[TTS, TTS | None]:
    principal(request).require(Role.TEACHER, Role.ADMIN)
    runtime = request.app.get(engine_api.RUNTIME)
    if runtime is None or runtime.voice is None:
        raise http_error(
            503,
            "voice samples need the engine in this server with its voice models loaded",
            code="voices_unavailable",
        )
    models = runtime.voice.models
    return models.tts, models.piper


@routes.get("/api/voices")
async def voices(request: web.Request) -> web.Response:
    """`{voices: [{id, language, engine}]}`: Kokoro's English and Chinese voices, Piper's."""
    kokoro, piper = _engines(request)
    return web.json_response({"voices": voice_list(kokoro, piper)})


@routes.post("/api/voices/sample")
async def sample(request: web.Request) -> web.Response:
    """`{voice, text?}` → audio/wav: the text (or a greeting) spoken in that voice."""
    kokoro, piper = _engines(request)
    body = await json_body(request, max_bytes=4096)
    voice = require_str(body, "voice", max_len=64)
    text = body.get("text")
    if text is not None and (
        not isinstance(text, str) or not text.strip() or len(text) > MAX_SAMPLE_CHARS
    ):
        raise http_error(422, f"'text' must be a string of 1 to {MAX_SAMPLE_CHARS} characters")
    try:
        wav = await sample_wav(kokoro, piper, voice, text)
    except UnknownVoice:
        raise http_error(422, f"no voice named {voice!r}", code="unknown_voice") from None
    except TTSError as exc:
        raise http_error(422, str(exc), code=exc.code) from None
    return web.Response(body=wav, content_type="audio/wav", headers={"Cache-Control": "no-store"})
