"""Students' sessions: opening one on an engine, listing, reading and ending them."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from auth import Principal, Role
from media_engine.manager import SessionGrant
from signaling.access import tutor_visible_to
from signaling.engine_client import EngineClient, EngineUnavailable
from storage import (
    Database,
    KBChunk,
    KBTurnSource,
    SessionRecord,
    Turn,
    Tutor,
    mark_session_ended,
)

log = logging.getLogger(__name__)


class SessionNotFound(LookupError):
    """No such session, or it belongs to someone else (the two look the same)."""


class TutorNotFound(LookupError):
    pass


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands naive datetimes back
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def session_json(record: SessionRecord, tutor_name: str | None) -> dict[str, Any]:
    return {
        "session_id": record.id,
        "tutor_id": record.tutor_id,
        "tutor_name": tutor_name,
        "status": record.status,
        "created_at": _iso(record.created_at),
        "ended_at": _iso(record.ended_at),
        "end_reason": record.end_reason,
    }


PREVIEW_CHARS = 120
"""How much of a session's first question the list shows."""


def preview(text: str | None) -> str | None:
    """The start of `text`, cut at a word where one is near."""
    flat = " ".join((text or "").split())
    if not flat:
        return None
    if len(flat) <= PREVIEW_CHARS:
        return flat
    cut = flat[:PREVIEW_CHARS]
    space = cut.rfind(" ")
    return (cut[:space] if space > PREVIEW_CHARS // 2 else cut) + "…"


async def turn_sources(s: AsyncSession, session_id: str) -> dict[str, list[dict[str, str]]]:
    """Each reply's course material (turn id → [{title, location}], in rank order); a passage
    deleted since keeps its document's title."""
    rows = await s.execute(
        select(KBTurnSource.turn_id, KBTurnSource.title, KBChunk.location)
        .outerjoin(KBChunk, KBChunk.id == KBTurnSource.chunk_id)
        .where(KBTurnSource.session_id == session_id)
        .order_by(KBTurnSource.id)
    )
    out: dict[str, list[dict[str, str]]] = {}
    for turn_id, title, location in rows:
        out.setdefault(turn_id, []).append({"title": title, "location": location or ""})
    return out


def turn_json(turn: Turn) -> dict[str, Any]:
    return {
        "turn_id": turn.turn_id,
        "role": turn.role,
        "text": turn.text,
        "source": turn.source,
        "interrupted": turn.interrupted,
        "created_at": _iso(turn.created_at),
        "timings": turn.timings,
    }


class SessionService:
    def __init__(self, db: Database, engine: EngineClient) -> None:
        self._db = db
        self._engine = engine

    async def open(self, who: Principal, tutor_id: int, *, base_url: str) -> SessionGrant:
        query = select(Tutor).where(Tutor.id == tutor_id)
        if who.role is Role.STUDENT:
            # A tutor of another class is not there for this student.
            query = query.where(tutor_visible_to(who.user_id))
        async with self._db.session() as s:
            tutor = await s.scalar(query)
        if tutor is None:
            raise TutorNotFound(f"no tutor with id {tutor_id}")
        return await self._engine.create_session(
            tutor_id=tutor.id, student_id=who.user_id, base_url=base_url
        )

    async def list(self, who: Principal) -> list[dict[str, Any]]:
        """The student's sessions, newest first, each with its first question as a preview."""
        first = (
            select(Turn.session_id, func.min(Turn.id).label("turn_pk"))
            .where(Turn.role == "user")
            .group_by(Turn.session_id)
            .subquery()
        )
        async with self._db.session() as s:
            rows = await s.execute(
                select(SessionRecord, Tutor.name, Turn.text)
                .outerjoin(Tutor, Tutor.id == SessionRecord.tutor_id)
                .outerjoin(first, first.c.session_id == SessionRecord.id)
                .outerjoin(Turn, Turn.id == first.c.turn_pk)
                .where(SessionRecord.student_id == who.user_id)
                .order_by(SessionRecord.created_at.desc())
            )
            return [
                {**session_json(record, name), "first_question": preview(text)}
                for record, name, text in rows
            ]

    async def get(self, who: Principal, session_id: str) -> dict[str, Any]:
        async with self._db.session() as s:
            record = await s.scalar(
                select(SessionRecord)
                .options(selectinload(SessionRecord.turns))
                .where(SessionRecord.id == session_id, SessionRecord.student_id == who.user_id)
            )
            if record is None:
                raise SessionNotFound(session_id)
            tutor = await s.get(Tutor, record.tutor_id) if record.tutor_id else None
            sources = await turn_sources(s, session_id)
        out = session_json(record, tutor.name if tutor else None)
        out["turns"] = [
            {**turn_json(t), "sources": sources.get(t.turn_id, [])}
            if t.role == "assistant"
            else turn_json(t)
            for t in record.turns
        ]
        return out

    async def end(self, who: Principal, session_id: str) -> dict[str, Any]:
        async with self._db.session() as s:
            record = await s.scalar(
                select(SessionRecord).where(
                    SessionRecord.id == session_id, SessionRecord.student_id == who.user_id
                )
            )
        if record is None:
            raise SessionNotFound(session_id)
        if record.status == "active":
            try:
                await self._engine.end_session(session_id, reason="ended_by_student")
            except EngineUnavailable as exc:
                # The engine is gone, and its calls with it: the record is ended here instead.
                log.warning("session %s: engine unreachable while ending: %s", session_id, exc)
            await mark_session_ended(self._db, session_id, "ended_by_student")
        return {"session_id": session_id, "status": "ended"}
