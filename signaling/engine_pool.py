"""A pool of engines (ENGINE_POOL): each new session goes to the least-loaded live engine that
serves the tutor's language, and stays there.

The engines register themselves in the shared database (storage.engines, media_engine.
pool_member). Placing is a transaction there (safe with several signaling processes); an
engine that answers 503 (full) or cannot be reached is skipped and the next one tried. A
reaper, in every signaling process, ends the sessions of engines that stopped reporting
(reason `engine_lost`, which the client reads from the session and offers a new one) and
forgets those engines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from auth import TokenIssuer
from core.settings import Settings
from media_engine.errors import CallNotFound, CapacityError
from media_engine.manager import SessionGrant
from signaling.engine_client import EngineClient, EngineUnavailable, HttpEngineClient
from storage import Database, SessionRecord, Tutor
from storage import engines as registry

log = logging.getLogger(__name__)

LOST = "engine_lost"


class PoolEngineClient(EngineClient):
    def __init__(self, db: Database, issuer: TokenIssuer, settings: Settings) -> None:
        self._db = db
        self._issuer = issuer
        self._stale_s = settings.engine_stale_seconds
        self._every_s = settings.engine_heartbeat_seconds
        self._clients: dict[str, HttpEngineClient] = {}
        self._reaper: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._reaper = asyncio.create_task(self._reap(), name="engine-reaper")

    def _client(self, url: str) -> HttpEngineClient:
        if url not in self._clients:
            self._clients[url] = HttpEngineClient(url, self._issuer)
        return self._clients[url]

    async def create_session(
        self, *, tutor_id: int, student_id: int, base_url: str
    ) -> SessionGrant:
        async with self._db.session() as s:
            language = await s.scalar(select(Tutor.language).where(Tutor.id == tutor_id))
        if language is None:
            raise CallNotFound(f"no tutor with id {tutor_id}")
        tried: set[str] = set()
        while True:
            url = await registry.place(
                self._db, language=language, stale_s=self._stale_s, skip=frozenset(tried)
            )
            if url is None:
                raise CapacityError(
                    "every engine is busy or out of reach; try again in a minute"
                    if tried or await registry.engines(self._db)
                    else "no engine is running"
                )
            try:
                return await self._client(url).create_session(
                    tutor_id=tutor_id, student_id=student_id, base_url=base_url
                )
            except (CapacityError, EngineUnavailable) as exc:
                # Full since its last heartbeat, or gone: the next engine is asked.
                log.info("engine %s did not take a session (%s); trying another", url, exc.code)
                tried.add(url)

    async def end_session(self, session_id: str, *, reason: str) -> bool:
        async with self._db.session() as s:
            url = await s.scalar(select(SessionRecord.engine).where(SessionRecord.id == session_id))
        if url is None:
            return False
        return await self._client(url).end_session(session_id, reason=reason)

    async def health(self) -> dict[str, Any]:
        pool = await registry.engines(self._db)
        live = [e for e in pool if e.heartbeat_age_s <= self._stale_s]
        out: dict[str, Any] = {
            "mode": "pool",
            "engines": [
                {
                    "url": e.url,
                    "capacity": e.capacity,
                    "in_use": e.in_use,
                    "languages": list(e.languages),
                    "models": e.models,
                    "heartbeat_age_s": round(e.heartbeat_age_s, 1),
                    "live": e in live,
                }
                for e in pool
            ],
            "sessions_in_use": sum(e.in_use for e in live),
            "sessions_max": sum(e.capacity for e in live),
        }
        if not live:
            out["error"] = "no live engine in the pool"
        return out

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(self._every_s)
            try:
                for url in await registry.forget_dead(self._db, stale_s=self._stale_s, reason=LOST):
                    log.warning("engine %s stopped reporting: its sessions are ended", url)
                    client = self._clients.pop(url, None)
                    if client is not None:
                        await client.aclose()
            except (SQLAlchemyError, OSError) as exc:  # tried again on the next round
                log.warning("the engine reaper could not read the pool: %s", type(exc).__name__)

    async def aclose(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
