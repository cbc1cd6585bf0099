"""The data channel's JSON messages: parsing what clients send, building what the engine sends."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

MAX_TEXT_CHARS = 4000


class ProtocolError(ValueError):
    """A client message that cannot be used; `code` goes back in the error event."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Channel(Protocol):
    """Where a call's events go: its WebRTC data channel, or a WebSocket that stands in for it."""

    @property
    def readyState(self) -> str: ...

    def send(self, data: str) -> None: ...


@dataclass(frozen=True)
class TextIn:
    """A typed message from the student."""

    content: str


def parse(raw: str | bytes, *, max_bytes: int) -> TextIn:
    """Parse one inbound message, or raise ProtocolError saying what is wrong with it."""
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > max_bytes:
        raise ProtocolError("message_too_large", f"messages are limited to {max_bytes} bytes")
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError("bad_message", "messages must be JSON objects") from exc
    if not isinstance(message, dict):
        raise ProtocolError("bad_message", "messages must be JSON objects")
    kind = message.get("type")
    if kind == "text":
        content = message.get("content")
        if not isinstance(content, str) or not content.strip():
            raise ProtocolError("bad_message", "a text message needs a non-empty 'content'")
        if len(content) > MAX_TEXT_CHARS:
            raise ProtocolError(
                "message_too_large", f"a text message is limited to {MAX_TEXT_CHARS} characters"
            )
        return TextIn(content=content.strip())
    raise ProtocolError("unknown_type", f"unknown message type {kind!r}")


def event(kind: str, **fields: Any) -> str:
    """Serialise one outbound event."""
    return json.dumps({"type": kind, **fields}, ensure_ascii=False)
