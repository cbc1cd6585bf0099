"""Writes to session records that more than one tier makes."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update

from storage.database import Database
from storage.models import SessionRecord


async def mark_session_ended(db: Database, session_id: str, reason: str) -> None:
    """Mark the session ended, once: the first reason recorded wins.

    The engine (the call closed) and the API (the student ended it, the engine is gone) can both
    end a session, in either order; only an active record changes, so neither overwrites the
    other's reason.
    """
    async with db.session() as s, s.begin():
        await s.execute(
            update(SessionRecord)
            .where(SessionRecord.id == session_id, SessionRecord.status == "active")
            .values(status="ended", ended_at=datetime.now(UTC), end_reason=reason)
        )
