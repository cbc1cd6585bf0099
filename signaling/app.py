"""The server: `create_app(settings)` builds the REST API, the web client and, by default, an
in-process engine. Everything it opens is closed in its cleanup contexts."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from auth import TokenIssuer
from knowledge.runtime import KNOWLEDGE, knowledge_ctx
from media_engine import api as engine_api
from media_engine.llm.base import LLM
from media_engine.manager import CallManager
from media_engine.runtime import create_runtime
from signaling.engine_client import EngineClient, HttpEngineClient, LocalEngineClient
from signaling.keys import DB, ENGINE, ISSUER, SETTINGS
from signaling.routes import auth as auth_routes
from signaling.routes import knowledge as knowledge_routes
from signaling.routes import sessions as session_routes
from signaling.routes import tutors as tutor_routes
from signaling.sessions import SessionService
from storage import Database
from storage.seed import SeededAccount, seed
from virtual_tutor import __version__
from virtual_tutor.http import cors_middleware, error_middleware
from virtual_tutor.settings import Settings

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
SEEDED = web.AppKey("seeded", list[SeededAccount])


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    db = Database(app[SETTINGS].database_url)
    await db.migrate()
    app[SEEDED] = await seed(db, app[SETTINGS])
    app[DB] = db
    yield
    await db.close()


async def engine_ctx(app: web.Application) -> AsyncIterator[None]:
    """The in-process engine (default), or a client of the engine at ENGINE_URL."""
    settings = app[SETTINGS]
    client: EngineClient
    if settings.in_process_engine:
        runtime = await create_runtime(
            settings,
            app[DB],
            llm=app.get(engine_api.SHARED_LLM),
            retriever=app[KNOWLEDGE].retriever,
        )
        manager = CallManager(runtime)
        app[engine_api.ENGINE_SETTINGS] = settings
        app[engine_api.RUNTIME] = runtime
        app[engine_api.MANAGER] = manager
        client = LocalEngineClient(manager, lambda: engine_api.engine_health(app))
    else:
        assert settings.engine_url is not None
        client = HttpEngineClient(settings.engine_url, app[ISSUER])
    app[ENGINE] = client
    app[session_routes.SESSIONS] = SessionService(app[DB], client)
    try:
        yield
    finally:
        if settings.in_process_engine:
            await manager.close_all("shutdown")
            await runtime.aclose()
        elif isinstance(client, HttpEngineClient):
            await client.aclose()


async def health(request: web.Request) -> web.Response:
    engine = await request.app[ENGINE].health()
    ok = "error" not in engine
    return web.json_response(
        {"status": "ok" if ok else "degraded", "version": __version__, "engine": engine},
        status=200 if ok else 503,
    )


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(WEB_DIR / "index.html", headers={"Cache-Control": "no-cache"})


def create_app(settings: Settings, *, llm: LLM | None = None) -> web.Application:
    """The whole server. `llm` shares an already loaded model (tests, benchmarks)."""
    app = web.Application(
        middlewares=[cors_middleware(settings.cors_origins), error_middleware],
        client_max_size=8 * 1024 * 1024,
    )
    app[SETTINGS] = settings
    if llm is not None:
        app[engine_api.SHARED_LLM] = llm
    app[ISSUER] = TokenIssuer(secret_key=settings.secret_key, algorithm=settings.algorithm)
    app.cleanup_ctx.append(database_ctx)
    app.cleanup_ctx.append(knowledge_ctx)  # after the database: it ingests pending documents
    app.cleanup_ctx.append(engine_ctx)
    app.add_routes(auth_routes.routes)
    app.add_routes(tutor_routes.routes)
    app.add_routes(session_routes.routes)
    app.add_routes(knowledge_routes.routes)
    app.router.add_get("/health", health)
    if settings.in_process_engine:
        app.add_routes(engine_api.routes)
    if (WEB_DIR / "index.html").is_file():
        app.router.add_get("/", index)
        app.router.add_static("/static/", WEB_DIR)
    return app
