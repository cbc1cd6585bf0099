"""Which stored turns count as a tutor's questions of the last N days, and which were covered:
the query alone, on a real SQLite database (the API test asks real questions over calls)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from knowledge.runtime import KnowledgeRuntime
from signaling.insights import Insights
from storage import Database, KBTurnSource, SessionRecord, Turn, Tutor, User


async def test_recent_questions_of_one_tutor_and_their_coverage(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/q.db")
    try:
        await check_questions(db)
    finally:
        await db.close()


async def check_questions(db: Database) -> None:
    await db.migrate()
    now = datetime.now(UTC)
    async with db.session() as s, s.begin():
        s.add(User(id=1, email="s@example.com", password_hash="x", role="student"))
        s.add_all([Tutor(id=1, name="A", subject="S"), Tutor(id=2, name="B", subject="S")])
    # One write after another: the tables have no mapped relationships to order the inserts.
    async with db.session() as s, s.begin():
        s.add_all(
            [
                SessionRecord(id="s1", student_id=1, tutor_id=1),
                SessionRecord(id="s2", student_id=1, tutor_id=2),
            ]
        )

        def turn(sid: str, tid: str, text: str, *, role: str = "user", days: float = 0) -> Turn:
            return Turn(
                session_id=sid,
                turn_id=tid,
                role=role,
                text=text,
                created_at=now - timedelta(days=days),
            )

        s.add_all(
            [
                turn("s1", "t1", "What is photosynthesis?"),
                turn("s1", "t1", "Plants make food.", role="assistant"),
                turn("s1", "t2", "Who won the World Cup?", days=1),
                turn("s1", "t3", "Hello there"),
                turn("s1", "t4", "What is a volcano?", days=10),
                turn("s2", "t5", "What is 2 and 2?"),
            ]
        )
    async with db.session() as s, s.begin():
        s.add(KBTurnSource(session_id="s1", turn_id="t1", title="notes", rank=0, score=0.9))
    insights = Insights(db, cast(KnowledgeRuntime, cast(Any, None)))
    asked = await insights.asked(1, days=7)
    assert [(q.text, q.covered, q.session_id) for q in asked] == [
        ("What is photosynthesis?", True, "s1"),
        ("Who won the World Cup?", False, "s1"),
    ]
    assert [q.text for q in await insights.asked(1, days=30)][-1] == "What is a volcano?"
