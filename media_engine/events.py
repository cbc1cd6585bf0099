"""The events a turn sends the client, typed: one dataclass per event, serialised in one place.

Their JSON is the data channel's wire format (README, "Data channel"); `None` fields are left
out, so an event carries only what it knows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from media_engine.errors import EngineError


@dataclass(frozen=True, kw_only=True)
class OutEvent:
    """An event for the client; `type` is its wire name."""

    type: ClassVar[str]
    turn_id: str | None = None

    def json(self) -> str:
        body: dict[str, Any] = {"type": self.type}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                body[f.name] = value
        return json.dumps(body, ensure_ascii=False)


@dataclass(frozen=True, kw_only=True)
class VadState(OutEvent):
    type = "vad"
    state: str
    """speech_start or speech_end."""


@dataclass(frozen=True, kw_only=True)
class Transcription(OutEvent):
    type = "transcription"
    content: str
    partial: bool


@dataclass(frozen=True, kw_only=True)
class Sources(OutEvent):
    type = "sources"
    items: list[dict[str, Any]]
    retrieval_ms: float


@dataclass(frozen=True, kw_only=True)
class TextDelta(OutEvent):
    type = "text_delta"
    content: str
    role: str = "assistant"


@dataclass(frozen=True, kw_only=True)
class ReplyText(OutEvent):
    """The whole reply, once generated."""

    type = "text"
    content: str
    route: str
    role: str = "assistant"


@dataclass(frozen=True, kw_only=True)
class TtsState(OutEvent):
    type = "tts"
    state: str
    """start (first audio sent), end (last audio played) or interrupted."""
    heard: str | None = None
    """Interrupted: the reply as the student heard it, and as it is stored."""


@dataclass(frozen=True, kw_only=True)
class ReplyChunk(OutEvent):
    """A piece of a spoken reply, sent as its first frame is: a caption for the client to
    show when its own playback reaches `starts_at_ms`."""

    type = "reply_chunk"
    text: str
    starts_at_ms: float
    """When it starts, in ms after the reply's first frame, on the outbound audio clock."""


@dataclass(frozen=True, kw_only=True)
class Metrics(OutEvent):
    type = "metrics"
    values: dict[str, Any]

    def json(self) -> str:
        # Flat on the wire: {"type": "metrics", "turn_id": ..., "total_ms": ...}.
        return json.dumps(
            {"type": self.type, "turn_id": self.turn_id, **self.values}, ensure_ascii=False
        )


@dataclass(frozen=True, kw_only=True)
class Error(OutEvent):
    type = "error"
    code: str
    content: str
    retryable: bool

    @classmethod
    def of(cls, exc: EngineError, turn_id: str | None = None) -> Error:
        """The event for a failed stage (or any engine error): its code, message, retryable."""
        return cls(turn_id=turn_id, code=exc.code, content=str(exc), retryable=exc.retryable)
