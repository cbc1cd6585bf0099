"""Where the engine keeps what was said: turns and session ends, written as they happen."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, ProgrammingError

from media_engine.tutor import TutorProfile
from storage import Database, SessionRecord, Turn, Tutor, mark_session_ended

log = logging.getLogger(__name__)

STORE_RETRY_S = 60.0
"""How long a turn's write is tried again while the database cannot be reached (a restart, a
failover, a locked SQLite file); the call goes on meanwhile, and later writes queue behind."""


def transient(exc: BaseException) -> bool:
    """Whether a failed write may succeed when tried again: the database was unreachable or
    busy, not the write itself wrong."""
    if isinstance(exc, IntegrityError | DataError | ProgrammingError):
        return False
    return isinstance(exc, DBAPIError | OSError | TimeoutError)


class TurnStore:
    """The engine's view of the database: it reads tutors and writes turns and session ends."""

    def __init__(self, db: Database, *, retry_for_s: float = STORE_RETRY_S) -> None:
        self._db = db
        self._retry_for_s = retry_for_s

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

    async def tutors_in_use(self, limit: int) -> list[TutorProfile]:
        """Up to `limit` tutors, the most recently called first, then the rest by id."""
        last_call = func.max(SessionRecord.created_at)
        query = (
            select(Tutor.id)
            .outerjoin(SessionRecord, SessionRecord.tutor_id == Tutor.id)
            .group_by(Tutor.id)
            .order_by(last_call.desc().nulls_last(), Tutor.id)
            .limit(limit)
        )
        async with self._db.session() as s:
            ids = list(await s.scalars(query))
        tutors = [await self.tutor(tutor_id) for tutor_id in ids]
        return [t for t in tutors if t is not None]

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
        """Store one turn; while the database is unreachable, keep trying for `retry_for_s`."""

        async def write() -> None:
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

        await self._retrying(write, session_id)

    async def _retrying(self, write: Callable[[], Awaitable[None]], session_id: str) -> None:
        deadline = time.monotonic() + self._retry_for_s
        delay = 0.25
        while True:
            try:
                await write()
                return
            except Exception as exc:
                if not transient(exc) or time.monotonic() + delay > deadline:
                    raise
                log.warning(
                    "session %s: the database is unreachable (%s); trying again in %.2f s",
                    session_id,
                    type(exc).__name__,
                    delay,
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 4.0)

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
