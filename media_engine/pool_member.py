"""A standalone engine's membership of a pool (ENGINE_POOL): registered at its PUBLIC_URL while
it runs, its load reported on a heartbeat, removed when it stops (storage.engines)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from sqlalchemy.exc import SQLAlchemyError

from core.settings import Settings, SettingsError
from media_engine.manager import CallManager
from storage import Database
from storage import engines as registry

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def pool_membership(
    settings: Settings, db: Database, manager: CallManager
) -> AsyncIterator[None]:
    if not settings.public_url:
        raise SettingsError("ENGINE_POOL needs PUBLIC_URL: the URL the pool reaches this engine at")
    url = settings.public_url
    models = f"llm={settings.llm_model if settings.enable_llm else 'off'}"

    async def join() -> None:
        await registry.register(
            db,
            url=url,
            capacity=manager.capacity,
            languages=settings.engine_languages,
            models=models,
        )

    async def beat() -> None:
        while True:
            await asyncio.sleep(settings.engine_heartbeat_seconds)
            try:
                if not await registry.heartbeat(db, url=url, in_use=manager.in_use):
                    log.warning("the pool forgot this engine (a long pause?): registering again")
                    await join()
            except (SQLAlchemyError, OSError) as exc:  # the database is back on the next beat
                log.warning("engine heartbeat failed: %s", type(exc).__name__)

    await join()
    log.info("engine %s joined the pool (%d slots)", url, manager.capacity)
    task = asyncio.create_task(beat(), name="engine-heartbeat")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        with contextlib.suppress(SQLAlchemyError, OSError):
            await registry.unregister(db, url)
