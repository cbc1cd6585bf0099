"""Migration 0006 (accounts, classes, owners) up and down on a database holding users, a
knowledge base, tutors, sessions and turns: nothing of them is lost either way, on SQLite and
on PostgreSQL (the server tests/test_postgres.py runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text

import storage
from storage import Database
from tests.test_postgres import pg_url, postgres

__all__ = ["pg_url", "postgres"]

BEFORE = "0005"
KEPT = {
    "users": "SELECT id, email, role, display_name FROM users ORDER BY id",
    "tutors": "SELECT id, name, kb_id, answer_policy FROM tutors ORDER BY id",
    "sessions": "SELECT id, student_id, tutor_id, status FROM sessions ORDER BY id",
    "turns": "SELECT session_id, turn_id, text FROM turns ORDER BY id",
    "knowledge_bases": "SELECT id, name FROM knowledge_bases ORDER BY id",
}
NEW_TABLES = ("classes", "class_members", "tutor_classes")


def _migrate(connection: Any, revision: str, *, down: bool) -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(storage.__file__).parent / "migrations"))
    config.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(config, revision)


async def migrate(db: Database, revision: str, *, down: bool = False) -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(_migrate, revision, down=down)


async def rows(db: Database, query: str) -> list[tuple[Any, ...]]:
    async with db.engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(text(query))]


async def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    return {name: await rows(db, query) for name, query in KEPT.items()}


async def columns(db: Database, table: str) -> set[str]:
    async with db.engine.connect() as conn:
        return set(
            await conn.run_sync(lambda sync: {c["name"] for c in inspect(sync).get_columns(table)})
        )


async def fill_0005(db: Database) -> None:
    """What a server at 0005 holds: an admin, two students, a base, tutors, sessions, turns."""
    statements = [
        "INSERT INTO users (id, email, password_hash, role, display_name, created_at) VALUES "
        "(1, 'admin@example.com', 'h', 'admin', 'Admin', CURRENT_TIMESTAMP), "
        "(2, 'ann@example.com', 'h', 'student', 'Ann', CURRENT_TIMESTAMP), "
        "(3, 'bo@example.com', 'h', 'student', 'Bo', CURRENT_TIMESTAMP)",
        "INSERT INTO knowledge_bases (id, name, description, created_at) VALUES "
        "(1, 'Science', '', CURRENT_TIMESTAMP)",
        "INSERT INTO tutors (id, name, subject, language, persona_prompt, voice, kb_id, "
        "created_at, answer_policy) VALUES "
        "(1, 'Ada', 'Science', 'en', 'p', 'v', 1, CURRENT_TIMESTAMP, 'course_first'), "
        "(2, 'Max', 'Maths', 'en', 'p', 'v', NULL, CURRENT_TIMESTAMP, 'course_only')",
        "INSERT INTO sessions (id, student_id, tutor_id, engine, status, created_at) VALUES "
        "('s1', 2, 1, 'local', 'ended', CURRENT_TIMESTAMP), "
        "('s2', 3, 2, 'local', 'active', CURRENT_TIMESTAMP)",
        "INSERT INTO turns (session_id, turn_id, role, text, source, interrupted, timings, "
        "created_at) VALUES "
        "('s1', 't1', 'student', 'Why is the sky blue?', 'typed', false, '{}', CURRENT_TIMESTAMP), "
        "('s1', 't1', 'assistant', 'Light scatters.', 'generated', false, '{}', "
        "CURRENT_TIMESTAMP)",
    ]
    async with db.engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))


async def check_up_and_down(db: Database) -> None:
    await migrate(db, BEFORE)
    await fill_0005(db)
    before = await snapshot(db)
    assert before["sessions"] == [("s1", 2, 1, "ended"), ("s2", 3, 2, "active")]

    await migrate(db, "head")
    assert await snapshot(db) == before
    assert (
        await rows(db, "SELECT disabled, token_version, deleted_at FROM users")
        == [(False, 0, None)] * 3
    )
    # Existing tutors are for everyone and, like the existing bases, managed by admins.
    assert await rows(db, "SELECT everyone, owner_id FROM tutors") == [(True, None)] * 2
    assert await rows(db, "SELECT owner_id FROM knowledge_bases") == [(None,)]
    async with db.engine.begin() as conn:
        for statement in [
            "UPDATE users SET role = 'teacher', disabled = true WHERE id = 3",
            "UPDATE tutors SET owner_id = 3, everyone = false WHERE id = 2",
            "UPDATE knowledge_bases SET owner_id = 3",
            "INSERT INTO classes (id, name, teacher_id, created_at) "
            "VALUES (1, '7B', 3, CURRENT_TIMESTAMP)",
            "INSERT INTO class_members (class_id, user_id) VALUES (1, 2)",
            "INSERT INTO tutor_classes (tutor_id, class_id) VALUES (2, 1)",
        ]:
            await conn.execute(text(statement))

    await migrate(db, BEFORE, down=True)
    after = await snapshot(db)
    assert after["sessions"] == before["sessions"] and after["turns"] == before["turns"]
    assert after["tutors"] == before["tutors"]
    assert after["users"][2] == (3, "bo@example.com", "teacher", "Bo")  # what changed stays
    assert "disabled" not in await columns(db, "users")
    assert {"owner_id", "everyone"}.isdisjoint(await columns(db, "tutors"))
    assert "owner_id" not in await columns(db, "knowledge_bases")
    async with db.engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert tables.isdisjoint(NEW_TABLES)

    await migrate(db, "head")  # and up again
    assert await snapshot(db) == after
    assert await rows(db, "SELECT everyone FROM tutors") == [(True,)] * 2


async def test_0006_up_and_down_on_sqlite_keeps_users_tutors_and_sessions(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path}/m.db")
    try:
        await check_up_and_down(db)
    finally:
        await db.close()


async def test_0006_up_and_down_on_postgresql_keeps_users_tutors_and_sessions(
    pg_url: str,
) -> None:
    db = Database(pg_url)
    try:
        await check_up_and_down(db)
    finally:
        await db.close()
