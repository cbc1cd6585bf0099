"""The server: `create_app(settings)` builds the REST API, the web client and, by default, an
in-process engine. Everything it opens is closed in its cleanup contexts."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from aiohttp import web
from yarl import URL

from auth import TokenIssuer
from core import __version__, metrics
from core.http import cors_middleware, error_middleware, security_headers
from core.settings import Settings
from knowledge.runtime import KnowledgeRuntime
from media_engine import api as engine_api
from media_engine.llm.base import LLM
from signaling.accounts import AccountService
from signaling.classes import ClassService
from signaling.engine_client import EngineClient, HttpEngineClient, LocalEngineClient
from signaling.engine_pool import PoolEngineClient
from signaling.insights import Insights
from signaling.keys import (
    ACCOUNTS,
    CLASSES,
    DB,
    EMBEDDER,
    ENGINE,
    INSIGHTS,
    ISSUER,
    KNOWLEDGE,
    KNOWLEDGE_SETTINGS,
    SESSIONS,
    SETTINGS,
    THROTTLE,
    TUTORS,
    USERS,
    account_check,
)
from signaling.openapi import describe
from signaling.routes import auth as auth_routes
from signaling.routes import classes as class_routes
from signaling.routes import insights as insight_routes
from signaling.routes import knowledge as knowledge_routes
from signaling.routes import sessions as session_routes
from signaling.routes import tutors as tutor_routes
from signaling.routes import users as user_routes
from signaling.routes import voices as voice_routes
from signaling.seed import SeededAccount, seed
from signaling.sessions import SessionService
from signaling.throttle import LoginThrottle
from signaling.tutors import TutorService
from signaling.users import UserService
from storage import Database
from storage import engines as registry

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
SEEDED = web.AppKey("seeded", list[SeededAccount])
OPENAPI = web.AppKey("openapi", dict[str, Any])


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    db = Database(app[SETTINGS].database_url)
    await db.migrate()
    app[SEEDED] = await seed(db, app[SETTINGS])
    app[DB] = db
    ttl_s = app[SETTINGS].access_token_expire_minutes * 60
    app[ACCOUNTS] = AccountService(db, app[ISSUER], token_ttl_s=ttl_s)
    app[TUTORS] = TutorService(db)
    app[USERS] = UserService(db)
    app[CLASSES] = ClassService(db)
    yield
    await db.close()


async def knowledge_ctx(app: web.Application) -> AsyncIterator[None]:
    """The knowledge runtime (embedding model, retriever, ingestion worker); after the database,
    since it ingests pending documents."""
    settings = app.get(KNOWLEDGE_SETTINGS) or app[SETTINGS].knowledge
    runtime = await KnowledgeRuntime.start(app[DB], settings, embedder=app.get(EMBEDDER))
    app[KNOWLEDGE] = runtime
    app[INSIGHTS] = Insights(app[DB], runtime)
    unwatch = metrics.watch(
        metrics.Reading(
            "vt_ingestion_queue",
            "Documents waiting to be ingested.",
            "gauge",
            lambda: runtime.ingestor.waiting,
        )
    )
    try:
        yield
    finally:
        unwatch()
        await runtime.aclose()


async def engine_ctx(app: web.Application) -> AsyncIterator[None]:
    """The in-process engine (default), a pool of engines (ENGINE_POOL), or a client of the
    engine at ENGINE_URL."""
    settings = app[SETTINGS]
    async with AsyncExitStack() as stack:
        client: EngineClient
        if settings.in_process_engine:
            manager = await stack.enter_async_context(
                engine_api.serve_engine(app, settings, app[DB], app[KNOWLEDGE].retriever)
            )
            client = LocalEngineClient(manager, lambda: engine_api.engine_health(app))
        elif settings.engine_pool:
            pool = PoolEngineClient(app[DB], app[ISSUER], settings)
            pool.start()
            stack.push_async_callback(pool.aclose)
            client = pool
        else:
            assert settings.engine_url is not None
            http_client = HttpEngineClient(settings.engine_url, app[ISSUER])
            stack.push_async_callback(http_client.aclose)
            client = http_client
        app[ENGINE] = client
        app[SESSIONS] = SessionService(app[DB], client)
        yield


async def health(request: web.Request) -> web.Response:
    engine = await request.app[ENGINE].health()
    ok = "error" not in engine
    return web.json_response(
        {"status": "ok" if ok else "degraded", "version": __version__, "engine": engine},
        status=200 if ok else 503,
    )


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


async def index(request: web.Request) -> web.FileResponse:
    headers = {"Cache-Control": "no-cache"}
    if request.app[SETTINGS].engine_pool:
        # The page talks to the engine its session is placed on: any engine of the pool, which
        # changes as engines come and go, so the policy is made for each page load.
        engines = await registry.engines(request.app[DB])
        headers["Content-Security-Policy"] = web_client_csp([e.url for e in engines])
    return web.FileResponse(WEB_DIR / "index.html", headers=headers)


def web_client_csp(engines: list[str]) -> str:
    """The web client's policy: its own scripts and styles only (it has no inline ones), and
    requests to this server and to the engines at `engines` (their offers, and the WebSocket
    transport)."""
    connect = ["'self'"]
    for url in engines:
        origin = URL(url).origin()
        socket = origin.with_scheme("wss" if origin.scheme == "https" else "ws")
        connect += [str(origin), str(socket)]
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"media-src 'self' blob:; connect-src {' '.join(connect)}; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def create_app(settings: Settings, *, llm: LLM | None = None) -> web.Application:
    """The whole server. `llm` shares an already loaded model (tests, benchmarks)."""
    app = web.Application(
        middlewares=[cors_middleware(settings.cors_origins), error_middleware, account_check],
        client_max_size=8 * 1024 * 1024,
    )
    app[SETTINGS] = settings
    engines = [settings.engine_url] if settings.engine_url else []
    app.on_response_prepare.append(security_headers(web_client_csp(engines)))
    if llm is not None:
        app[engine_api.SHARED_LLM] = llm
    app[ISSUER] = TokenIssuer(secret_key=settings.secret_key, algorithm=settings.algorithm)
    app[THROTTLE] = LoginThrottle(
        free_failures=settings.login_free_failures,
        account_max_s=settings.login_account_backoff_max_seconds,
        address_max_s=settings.login_address_backoff_max_seconds,
    )
    app.cleanup_ctx.append(database_ctx)
    app.cleanup_ctx.append(knowledge_ctx)
    app.cleanup_ctx.append(engine_ctx)
    app.add_routes(auth_routes.routes)
    app.add_routes(tutor_routes.routes)
    app.add_routes(user_routes.routes)
    app.add_routes(class_routes.routes)
    app.add_routes(session_routes.routes)
    app.add_routes(knowledge_routes.routes)
    app.add_routes(insight_routes.routes)
    app.add_routes(voice_routes.routes)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", engine_api.metrics_page)
    app[OPENAPI] = describe(with_engine=settings.in_process_engine)
    app.router.add_get("/api/openapi.json", openapi)
    if settings.in_process_engine:
        app.add_routes(engine_api.routes)
        app.on_shutdown.append(engine_api.end_calls)
    if (WEB_DIR / "index.html").is_file():
        app.router.add_get("/", index)
        app.router.add_static("/static/", WEB_DIR)
    return app
