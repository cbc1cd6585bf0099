"""The WebSocket transport's messages: what a client may send, the limits, and the close codes.

Clients send `{"type": "text", "content"}`, `{"type": "audio", "data": <base64>}` and
`{"type": "interrupt"}` (or `stop`, as on the data channel); the engine sends the data
channel's events (media_engine.protocol), and each chunk of the tutor's speech as
`{"type": "audio", "data": <base64 WAV>}`.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from media_engine.protocol import ProtocolError, TextIn, event, parse

MAX_AUDIO_MESSAGE_BYTES = 262_144
"""An audio message, as JSON: about 6 s of 16 kHz PCM16 once its base64 is decoded."""
MAX_MESSAGES_PER_S = 100.0
"""Sustained message rate; a burst of twice as many is allowed."""
MAX_PENDING_SEND_BYTES = 4 * 1024 * 1024
"""Events and audio queued for a client that is not reading; past this the call is closed."""
SEND_TIMEOUT_S = 15.0
"""One message that a client takes longer than this to accept closes the call."""
IN_FORMATS = ("pcm_s16le_16k_mono", "wav", "webm_opus", "ogg_opus")
OUT_FORMAT = "wav_s16le_24k_mono"
OUT_RATE = 24_000

# Close codes: 4xxx are ours (the HTTP status they stand for, plus 4000).
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_INTERNAL = 1011
CLOSE_UNAUTHORIZED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_TIMEOUT = 4408
CLOSE_CONFLICT = 4409

_CLOSE_FOR_REASON = {
    "hangup": CLOSE_NORMAL,
    "ended": CLOSE_NORMAL,
    "ended_by_student": CLOSE_NORMAL,
    "shutdown": CLOSE_GOING_AWAY,
    "session_timeout": CLOSE_TIMEOUT,
    "connect_timeout": CLOSE_TIMEOUT,
}


def close_code(reason: str) -> int:
    """The close code for a call that ended for `reason` (media_engine.manager's reasons)."""
    return _CLOSE_FOR_REASON.get(reason, CLOSE_NORMAL)


@dataclass(frozen=True)
class AudioIn:
    """A piece of the student's audio, as sent: PCM16, a WAV, or a WebM/Ogg chunk."""

    data: bytes


@dataclass(frozen=True)
class InterruptIn:
    """Stop the tutor's reply."""


SocketMessage = TextIn | AudioIn | InterruptIn


def parse_socket(raw: str, *, max_text_bytes: int) -> SocketMessage:
    """Parse one client message, or raise ProtocolError saying what is wrong with it."""
    size = len(raw.encode())
    if size > MAX_AUDIO_MESSAGE_BYTES:
        raise ProtocolError(
            "message_too_large", f"messages are limited to {MAX_AUDIO_MESSAGE_BYTES} bytes"
        )
    try:
        message = json.loads(raw)
    except ValueError as exc:
        raise ProtocolError("bad_message", "messages must be JSON objects") from exc
    if not isinstance(message, dict):
        raise ProtocolError("bad_message", "messages must be JSON objects")
    kind = message.get("type")
    if kind == "audio":
        return AudioIn(data=_audio_data(message.get("data")))
    if size > max_text_bytes:
        raise ProtocolError("message_too_large", f"messages are limited to {max_text_bytes} bytes")
    if kind in ("interrupt", "stop"):  # "stop": the data channel's name for it
        return InterruptIn()
    if kind == "text":
        text = parse(raw, max_bytes=max_text_bytes)
        if isinstance(text, TextIn):
            return text
    raise ProtocolError("unknown_type", f"unknown message type {kind!r}")


def _audio_data(data: object) -> bytes:
    if not isinstance(data, str) or not data:
        raise ProtocolError("bad_message", "an audio message needs base64 'data'")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError("bad_audio", "an audio message's 'data' is not valid base64") from exc


def hello(session_id: str, *, voice: bool, max_text_bytes: int) -> str:
    """The first message on a socket: what the engine takes and sends, and its limits."""
    return event(
        "hello",
        session_id=session_id,
        voice=voice,
        formats={"in": list(IN_FORMATS), "out": OUT_FORMAT},
        sample_rate_in=16_000,
        sample_rate_out=OUT_RATE,
        limits={
            "max_text_bytes": max_text_bytes,
            "max_audio_message_bytes": MAX_AUDIO_MESSAGE_BYTES,
            "max_messages_per_s": MAX_MESSAGES_PER_S,
            "max_pending_send_bytes": MAX_PENDING_SEND_BYTES,
        },
    )
