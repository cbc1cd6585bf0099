"""The registry of a pool of engines, kept in the shared database.

Each engine registers itself (URL, capacity, languages, models) and reports its load on a
heartbeat; the signaling tier places a new session on the least-loaded engine whose heartbeat is
fresh, counting the placement on it at once so that concurrent placements spread. On PostgreSQL
the choice and the count are one transaction that locks the chosen row and skips rows other
transactions hold (`FOR UPDATE SKIP LOCKED`), so several signaling processes place safely side
by side without waiting on each other's locks; SQLite serializes writers anyway.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select, update

from storage.database import Database
from storage.models import EngineRecord, SessionRecord


@dataclass(frozen=True)
class EngineInfo:
    url: str
    capacity: int
    in_use: int
    languages: tuple[str, ...]
    models: str
    heartbeat_age_s: float


# Rounds of looking again while concurrent placements hold every fitting engine (about 2 s).
PLACE_TRIES = 60


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)  # SQLite gives naive datetimes back


async def register(
    db: Database, *, url: str, capacity: int, languages: tuple[str, ...], models: str
) -> None:
    """(Re)register the engine at `url`, replacing what an earlier run of it left."""
    async with db.session() as s, s.begin():
        await s.execute(delete(EngineRecord).where(EngineRecord.url == url))
        s.add(
            EngineRecord(
                url=url,
                capacity=capacity,
                in_use=0,
                languages=",".join(languages),
                models=models,
                heartbeat_at=_now(),
                started_at=_now(),
            )
        )


async def heartbeat(db: Database, *, url: str, in_use: int) -> bool:
    """Report the engine alive with `in_use` slots taken; False when it is not registered
    (forgotten as dead after a long pause: it must register again)."""
    async with db.session() as s, s.begin():
        result = await s.execute(
            update(EngineRecord)
            .where(EngineRecord.url == url)
            .values(in_use=in_use, heartbeat_at=_now())
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


async def unregister(db: Database, url: str) -> None:
    async with db.session() as s, s.begin():
        await s.execute(delete(EngineRecord).where(EngineRecord.url == url))


async def place(
    db: Database, *, language: str, stale_s: float, skip: frozenset[str] = frozenset()
) -> str | None:
    """The URL of the least-loaded live engine with a free slot for `language`, its count
    raised by one; None when there is none (all full, stale, or in `skip`)."""
    fresh = _now() - timedelta(seconds=stale_s)
    eligible = [
        EngineRecord.heartbeat_at >= fresh,
        EngineRecord.in_use < EngineRecord.capacity,
        ("," + EngineRecord.languages + ",").contains(f",{language},"),
    ]
    if skip:
        eligible.append(EngineRecord.url.not_in(skip))
    order: list[ColumnElement[Any]] = [
        (EngineRecord.in_use * 1.0 / EngineRecord.capacity).asc(),
        EngineRecord.id.asc(),
    ]
    if not db.url.drivername.startswith("postgresql"):
        # SQLite: one UPDATE takes the write lock first, so two processes never both read a
        # free slot and then collide upgrading to write.
        chosen = select(EngineRecord.id).where(*eligible).order_by(*order).limit(1)
        async with db.session() as s, s.begin():
            result = await s.execute(
                update(EngineRecord)
                .where(EngineRecord.id == chosen.scalar_subquery())
                .values(in_use=EngineRecord.in_use + 1)
                .returning(EngineRecord.url)
            )
            return result.scalar_one_or_none()
    query = select(EngineRecord).where(*eligible).order_by(*order).limit(1)
    waiting = select(func.count()).select_from(EngineRecord).where(*eligible)
    for attempt in range(PLACE_TRIES):
        async with db.session() as s, s.begin():
            # The best engine no concurrent placement holds; never waiting for a lock, so
            # placements cannot deadlock on each other.
            engine = (await s.execute(query.with_for_update(skip_locked=True))).scalar_one_or_none()
            if engine is not None:
                engine.in_use += 1
                return engine.url
            if not await s.scalar(waiting):
                return None  # full, or nothing serves the language
        # Every fitting engine is being placed on right now: look again in a moment.
        await asyncio.sleep(min(0.05, 0.005 * (attempt + 1)))
    return None


async def engines(db: Database) -> list[EngineInfo]:
    async with db.session() as s:
        rows = (await s.execute(select(EngineRecord).order_by(EngineRecord.id))).scalars()
        now = _now()
        return [
            EngineInfo(
                url=r.url,
                capacity=r.capacity,
                in_use=r.in_use,
                languages=tuple(r.languages.split(",")),
                models=r.models,
                heartbeat_age_s=(now - _aware(r.heartbeat_at)).total_seconds(),
            )
            for r in rows
        ]


async def forget_dead(db: Database, *, stale_s: float, reason: str) -> list[str]:
    """Engines silent for longer than `stale_s`: their active sessions are ended with `reason`
    and they are removed. Returns their URLs. Safe to run from several processes at once."""
    dead_before = _now() - timedelta(seconds=stale_s)
    async with db.session() as s, s.begin():
        dead = list(
            (
                await s.execute(
                    select(EngineRecord.url).where(EngineRecord.heartbeat_at < dead_before)
                )
            ).scalars()
        )
        if not dead:
            return []
        await s.execute(
            update(SessionRecord)
            .where(SessionRecord.engine.in_(dead), SessionRecord.status == "active")
            .values(status="ended", ended_at=_now(), end_reason=reason)
        )
        await s.execute(delete(EngineRecord).where(EngineRecord.url.in_(dead)))
    return dead
