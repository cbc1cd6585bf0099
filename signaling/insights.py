"""What a teacher reads about their tutors: the questions students asked, grouped by topic with
whether the course material covered them, and the students' sessions with their sources."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from auth import Forbidden, Principal, Role
from knowledge.prompt import looks_like_question
from knowledge.questions import MAX_QUESTIONS, Asked, Topic, group_questions
from knowledge.runtime import KnowledgeRuntime
from signaling.access import check_owns, students_of
from signaling.errors import not_found
from signaling.sessions import SessionNotFound, session_json, turn_json
from storage import Database, KBTurnSource, SessionRecord, Turn, Tutor, User

MAX_SESSIONS = 500


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def topics_json(topics: list[Topic]) -> list[dict[str, Any]]:
    return [
        {
            "topic": topic.label,
            "covered": topic.covered,
            "count": len(topic.questions),
            "uncovered": topic.uncovered,
            "questions": [
                {
                    "text": q.text,
                    "asked_at": _aware(q.asked_at).isoformat(),
                    "session_id": q.session_id,
                    "covered": q.covered,
                }
                for q in topic.questions
            ],
        }
        for topic in topics
    ]


def topics_csv(topics: list[Topic]) -> str:
    """One row per question, under its topic; spreadsheets open it as UTF-8 by its BOM."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["topic", "topic_covered", "topic_count", "question", "covered", "asked_at"])
    for topic in topics:
        for q in topic.questions:
            writer.writerow(
                [
                    topic.label,
                    "yes" if topic.covered else "no",
                    len(topic.questions),
                    q.text,
                    "yes" if q.covered else "no",
                    _aware(q.asked_at).isoformat(),
                ]
            )
    return out.getvalue()


class Insights:
    """Reads students' questions and sessions for teachers; grouping runs on the knowledge
    runtime's executor (the embedding model's own thread), never on the event loop."""

    def __init__(self, db: Database, knowledge: KnowledgeRuntime) -> None:
        self._db = db
        self._knowledge = knowledge

    async def check_tutor(self, who: Principal, tutor_id: int) -> None:
        """404 when there is no such tutor, 403 unless `who` may manage it (as the tutors
        routes answer): an admin every tutor, a teacher their own; the demo tutors belong to
        no one and are the admins'."""
        who.require(Role.TEACHER, Role.ADMIN)
        async with self._db.session() as s:
            tutor = await s.get(Tutor, tutor_id)
        if tutor is None:
            raise not_found("tutor")
        check_owns(who, tutor.owner_id, "tutors")

    async def asked(self, tutor_id: int, *, days: int) -> list[Asked]:
        """The questions students asked `tutor_id` in the last `days` days, newest first; a
        question is covered when its reply was given passages of the course material."""
        since = datetime.now(UTC) - timedelta(days=days)
        sourced = (
            select(KBTurnSource.id)
            .where(
                KBTurnSource.session_id == Turn.session_id,
                KBTurnSource.turn_id == Turn.turn_id,
            )
            .exists()
        )
        query = (
            select(Turn.text, Turn.created_at, Turn.session_id, sourced)
            .join(SessionRecord, SessionRecord.id == Turn.session_id)
            .where(
                SessionRecord.tutor_id == tutor_id,
                Turn.role == "user",
                Turn.created_at >= since,
            )
            .order_by(Turn.created_at.desc())
        )
        async with self._db.session() as s:
            rows = (await s.execute(query)).all()
        return [
            Asked(text=text, asked_at=at, session_id=sid, covered=bool(covered))
            for text, at, sid, covered in rows
            if looks_like_question(text)
        ]

    async def topics(self, tutor_id: int, *, days: int) -> list[Topic]:
        asked = (await self.asked(tutor_id, days=days))[:MAX_QUESTIONS]
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._knowledge.executor, group_questions, asked, self._knowledge.embedder
        )

    async def sessions(self, who: Principal, tutor_id: int | None) -> list[dict[str, Any]]:
        """The students' sessions `who` may read (of one tutor), newest first, with who the
        student was: an admin's every one; a teacher's those of their own students with their
        own tutors."""
        if tutor_id is not None:
            await self.check_tutor(who, tutor_id)
        query = (
            select(SessionRecord, Tutor.name, User.email, User.display_name)
            .outerjoin(Tutor, Tutor.id == SessionRecord.tutor_id)
            .join(User, User.id == SessionRecord.student_id)
            .order_by(SessionRecord.created_at.desc())
            .limit(MAX_SESSIONS)
        )
        if tutor_id is not None:
            query = query.where(SessionRecord.tutor_id == tutor_id)
        if who.role is not Role.ADMIN:
            query = query.where(Tutor.owner_id == who.user_id, students_of(who.user_id))
        async with self._db.session() as s:
            rows = (await s.execute(query)).all()
        return [
            {**session_json(record, name), "student": display or email}
            for record, name, email, display in rows
        ]

    async def session(self, who: Principal, session_id: str) -> dict[str, Any]:
        """One session with its turns, each reply with the passages it was given; 403 unless
        `who` is an admin or the teacher of both its tutor and its student."""
        who.require(Role.TEACHER, Role.ADMIN)
        async with self._db.session() as s:
            record = await s.scalar(
                select(SessionRecord)
                .options(selectinload(SessionRecord.turns))
                .where(SessionRecord.id == session_id)
            )
            if record is None:
                raise SessionNotFound(session_id)
            tutor = await s.get(Tutor, record.tutor_id) if record.tutor_id else None
            student = await s.get(User, record.student_id)
            if who.role is not Role.ADMIN:
                theirs = await s.scalar(
                    select(User.id).where(User.id == record.student_id, students_of(who.user_id))
                )
                if tutor is None or tutor.owner_id != who.user_id or theirs is None:
                    raise Forbidden("a teacher reads only their own students' sessions")
            sources = await s.scalars(
                select(KBTurnSource)
                .where(KBTurnSource.session_id == session_id)
                .order_by(KBTurnSource.rank)
            )
            by_turn: dict[str, list[dict[str, Any]]] = {}
            for src in sources:
                by_turn.setdefault(src.turn_id, []).append(
                    {"title": src.title, "document_id": src.document_id, "score": src.score}
                )
        out = session_json(record, tutor.name if tutor else None)
        out["student"] = (student.display_name or student.email) if student else None
        out["turns"] = [
            {**turn_json(t), "sources": by_turn.get(t.turn_id, []) if t.role != "user" else []}
            for t in record.turns
        ]
        return out
