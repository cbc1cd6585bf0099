"""The data channel's JSON messages: parsing what clients send, building what the engine sends."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from core.jsontext import JsonTooDeep, loads

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

    @property
    def bufferedAmount(self) -> int:  # noqa: N802 - RTCDataChannel's name
        """Bytes sent but not yet on the wire."""
        ...

    def send(self, data: str) -> None: ...


@dataclass(frozen=True)
class TextIn:
    """A typed message from the student."""

    content: str


@dataclass(frozen=True)
class Ping:
    """A client's heartbeat: it is still there (see Call's idle timeout)."""


@dataclass(frozen=True)
class Stop:
    """The student asks the tutor to stop talking: handled like a barge-in."""


def parse(raw: str | bytes, *, max_bytes: int) -> TextIn | Ping | Stop:
    """Parse one inbound message, or raise ProtocolError saying what is wrong with it."""
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > max_bytes:
        raise ProtocolError("message_too_large", f"messages are limited to {max_bytes} bytes")
    try:
        message = loads(raw)
    except JsonTooDeep as exc:
        raise ProtocolError("bad_message", str(exc)) from exc
    except ValueError as exc:
        raise ProtocolError("bad_message", "messages must be JSON objects") from exc
    if not isinstance(message, dict):
        raise ProtocolError("bad_message", "messages must be JSON objects")
    kind = message.get("type")
    if kind == "ping":
        return Ping()
    if kind == "stop":
        return Stop()
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
    """Serialise one outbound event. An error event always says whether trying the same thing
    again can help (`retryable`, False unless its sender says otherwise)."""
    if kind == "error":
        fields.setdefault("retryable", False)
    return json.dumps({"type": kind, **fields}, ensure_ascii=False)
