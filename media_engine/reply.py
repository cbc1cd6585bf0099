"""A reply as it is produced: the typed pieces `Conversation.answer` streams (its plan and
sources, its words, a stage's trouble, the model asked after the engine's opening, a sentence
of the notes said) and the
record of what was generated."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from knowledge.index import Passage
from media_engine.errors import StageError


@dataclass
class Reply:
    """The tutor's reply as it was produced; `text` is what was generated so far."""

    turn_id: str
    text: str = ""
    started_at: float = field(default_factory=time.monotonic)
    first_token_at: float | None = None
    finished_at: float | None = None
    route: str = ""
    """How the question was answered (media_engine.answering.Plan.route)."""
    total_ms: float | None = None
    """A spoken reply: end of the question → its first frame sent (the metrics' total_ms)."""

    def timings(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.total_ms is not None:
            out["total_ms"] = self.total_ms
        if self.first_token_at is not None:
            out["llm_first_token_ms"] = round((self.first_token_at - self.started_at) * 1000, 1)
        if self.finished_at is not None:
            out["llm_total_ms"] = round((self.finished_at - self.started_at) * 1000, 1)
        return out


@dataclass(frozen=True)
class Planned:
    """How the question will be answered, and the course material found for it (`retrieval_ms`
    None: no material was searched)."""

    route: str
    passages: list[Passage] = field(default_factory=list)
    retrieval_ms: float | None = None


@dataclass(frozen=True)
class Words:
    """The next words of the reply."""

    text: str
    opening: bool = False
    """Words of the opening the engine says itself before the model goes on from it."""


@dataclass(frozen=True)
class Trouble:
    """A stage failed: retrieval (the reply goes on without the material) or the LLM (the reply
    ends with what it had)."""

    error: StageError


@dataclass(frozen=True)
class ModelAsked:
    """The engine's opening is said; the model is asked to go on from it."""


@dataclass(frozen=True)
class SentenceSaid:
    """A sentence the engine says itself (one of the notes') is all in the words so far: the
    next is chunked afresh, as it was when its audio was made ahead."""


ReplyPiece = Planned | Words | Trouble | ModelAsked | SentenceSaid
