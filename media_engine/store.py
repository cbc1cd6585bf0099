"""Where the engine keeps what was said: turns and session ends, written as they happen."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from media_engine.tutor import TutorProfile
from storage import Database, SessionRecord, Turn, Tutor, mark_session_ended


class TurnStore:
    """The engine's view of the database: it reads tutors and writes turns and session ends."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def tutor(self, tutor_id: int) -> TutorProfile | None:
        async with self._db.session() as s:
            row = await s.get(Tutor, tutor_id)
            if row is None:
                return None
            return TutorProfile(
                id=row.id,
                name=row.name,
                subject=row.subject,
                language=row.language,
                persona_prompt=row.persona_prompt,
                voice=row.voice,
                kb_id=row.kb_id,
                answer_policy=row.answer_policy,
            )

    async def tutor_for_session(self, session_id: str) -> TutorProfile | None:
        async with self._db.session() as s:
            record = await s.get(SessionRecord, session_id)
        if record is None or record.tutor_id is None:
            return None
        return await self.tutor(record.tutor_id)

    async def create_session(
        self, *, session_id: str, student_id: int, tutor_id: int, engine: str
    ) -> None:
        async with self._db.session() as s, s.begin():
            s.add(
                SessionRecord(
                    id=session_id, student_id=student_id, tutor_id=tutor_id, engine=engine
                )
            )

    async def add_turn(
        self,
        *,
        session_id: str,
        turn_id: str,
        role: str,
        text: str,
        source: str,
        interrupted: bool = False,
        timings: dict[str, Any] | None = None,
    ) -> None:
        async with self._db.session() as s, s.begin():
            s.add(
                Turn(
                    session_id=session_id,
                    turn_id=turn_id,
                    role=role,
                    text=text,
                    source=source,
                    interrupted=interrupted,
                    timings=timings or {},
                )
            )

    async def end_session(self, session_id: str, reason: str) -> None:
        """Mark the session ended, once: the first reason recorded wins."""
        await mark_session_ended(self._db, session_id, reason)

    async def active_sessions(self) -> list[tuple[str, str]]:
        """(session id, engine URL) of every session still marked active."""
        async with self._db.session() as s:
            rows = await s.execute(
                select(SessionRecord.id, SessionRecord.engine).where(
                    SessionRecord.status == "active"
                )
            )
            return [(sid, engine or "") for sid, engine in rows]
