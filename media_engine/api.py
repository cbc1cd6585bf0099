"""The engine's HTTP API: session management for the signaling tier, WHIP-style call set-up for
clients, and health.

- `POST /v1/sessions` (service token) reserves a call slot: `{session_id, engine_url,
  engine_token}`, or 503 with Retry-After when full. `DELETE /v1/sessions/{id}` ends one.
- `POST /v1/calls/{id}` (engine token) takes an SDP offer, as `application/sdp` (WHIP, RFC 9725)
  or JSON `{sdp, type}`, and answers 201 with a `Location` for the call resource;
  `DELETE` on that resource hangs up.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from auth import AuthError
from auth.tokens import bearer
from core import __version__, metrics
from core.http import (
    base_url,
    cors_middleware,
    error_middleware,
    http_error,
    is_db_id,
    json_body,
    read_body,
    security_headers,
)
from core.settings import Settings
from knowledge.retriever import Retriever
from knowledge.runtime import KnowledgeRuntime
from media_engine import memory
from media_engine.course_speech import CourseSpeech, speaking_ahead
from media_engine.errors import EngineError, engine_http_error
from media_engine.llm.base import LLM
from media_engine.manager import CallManager
from media_engine.pool_member import pool_membership
from media_engine.runtime import EngineRuntime, create_runtime
from media_engine.socket_call import serve_socket
from media_engine.warm_prompts import read_tutor_prompts
from storage import Database

log = logging.getLogger(__name__)

ENGINE_SETTINGS = web.AppKey("engine_settings", Settings)
RUNTIME = web.AppKey("runtime", EngineRuntime)
SHARED_LLM = web.AppKey("shared_llm", LLM)
MANAGER = web.AppKey("manager", CallManager)
WARMING = web.AppKey("warming", asyncio.Task)
COURSE_SPEECH = web.AppKey("course_speech", CourseSpeech)

routes = web.RouteTableDef()


def _service(request: web.Request) -> None:
    try:
        request.app[RUNTIME].issuer.verify_service(bearer(request.headers.get("Authorization")))
    except AuthError as exc:
        raise http_error(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None


def _call_owner(request: web.Request, *, allow_expired: bool = False) -> str:
    session_id = request.match_info["session_id"]
    try:
        request.app[RUNTIME].issuer.verify_engine(
            bearer(request.headers.get("Authorization")),
            session_id=session_id,
            allow_expired=allow_expired,
        )
    except AuthError as exc:
        raise http_error(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    return session_id


@routes.post("/v1/sessions")
async def create_session(request: web.Request) -> web.Response:
    _service(request)
    body = await json_body(request)
    ids: dict[str, int] = {}
    # Older API servers also send the tutor's `kb_id`; the engine reads the tutor's own, but a
    # malformed one is still refused so a broken client shows up.
    for name in ("tutor_id", "student_id", "kb_id"):
        value = body.get(name)
        if name == "kb_id" and value is None:
            continue
        if not is_db_id(value):
            raise http_error(422, f"'{name}' must be an integer id")
        ids[name] = value
    try:
        settings = request.app[ENGINE_SETTINGS]
        here = base_url(
            request, public_url=settings.public_url, allowed_hosts=settings.allowed_hosts
        )
        grant = await request.app[MANAGER].create_session(
            tutor_id=ids["tutor_id"], student_id=ids["student_id"], base_url=here
        )
    except EngineError as exc:
        raise engine_http_error(exc) from None
    return web.json_response(grant.as_json(), status=201)


@routes.delete("/v1/sessions/{session_id}")
async def end_session(request: web.Request) -> web.Response:
    _service(request)
    reason = request.query.get("reason", "ended")[:32]
    if not await request.app[MANAGER].end(request.match_info["session_id"], reason):
        raise http_error(404, "no such session on this engine", code="not_found")
    return web.Response(status=204)


async def _read_offer(request: web.Request) -> tuple[str, bool]:
    """The offer SDP, and whether the client speaks JSON rather than WHIP's application/sdp."""
    limit = request.app[ENGINE_SETTINGS].max_sdp_bytes
    if request.content_type == "application/json":
        body = await json_body(request, max_bytes=limit)
        sdp, kind = body.get("sdp"), body.get("type", "offer")
        if not isinstance(sdp, str) or kind != "offer":
            raise http_error(422, "expected {sdp: <offer SDP>, type: 'offer'}", code="bad_offer")
        return sdp, True
    if request.content_type != "application/sdp":
        raise http_error(415, "send the offer as application/sdp or JSON {sdp, type}")
    raw = await read_body(request, limit, what="SDP")
    try:
        return raw.decode(), False
    except UnicodeDecodeError:
        raise http_error(400, "SDP must be UTF-8 text", code="bad_offer") from None


@routes.post("/v1/calls/{session_id}")
async def open_call(request: web.Request) -> web.Response:
    session_id = _call_owner(request)
    sdp, as_json = await _read_offer(request)
    if not sdp.lstrip().startswith("v=0"):
        raise http_error(400, "the body is not an SDP offer", code="bad_offer")
    try:
        answer = await request.app[MANAGER].answer(session_id, sdp)
    except EngineError as exc:
        raise engine_http_error(exc) from None
    headers = {"Location": f"/v1/calls/{session_id}"}
    if as_json:
        return web.json_response({"sdp": answer, "type": "answer"}, status=201, headers=headers)
    return web.Response(status=201, text=answer, content_type="application/sdp", headers=headers)


@routes.delete("/v1/calls/{session_id}")
async def hang_up(request: web.Request) -> web.Response:
    session_id = _call_owner(request, allow_expired=True)
    if not await request.app[MANAGER].end(session_id, "hangup"):
        raise http_error(404, "no such call, or it has ended", code="not_found")
    return web.Response(status=204)


@routes.get("/v1/calls/{session_id}")
@routes.get("/ws/ws/{session_id}")
async def call_socket(request: web.Request) -> web.StreamResponse:
    """The call over a WebSocket instead of WebRTC (media_engine.socket_call)."""
    return await serve_socket(request, request.app[MANAGER], request.app[RUNTIME])


async def end_calls(app: web.Application) -> None:
    """At shutdown, before the server waits for its handlers: end every call, so that each
    WebSocket is closed (1001) rather than waited for."""
    if MANAGER in app:
        await app[MANAGER].close_all("shutdown")


def engine_health(app: web.Application) -> dict[str, object]:
    runtime, manager = app[RUNTIME], app[MANAGER]
    return {
        "llm": runtime.llm.name,
        "voice": runtime.voice is not None,
        # Outbound audio frames since start, and those sent late (heard as gaps): capacity
        # planning reads this under load.
        "audio": runtime.voice.pacing.as_dict() if runtime.voice is not None else None,
        # The tutors' system prompts read at start (LLM_WARM_TUTORS): until then a tutor's
        # first call may wait for its prompt to be read.
        "prompts_read": WARMING in app and app[WARMING].done(),
        # The course material spoken ahead (SPEECH_WARM_TUTORS): chunks made of those known.
        "speech": app[COURSE_SPEECH].health() if COURSE_SPEECH in app else None,
        "sessions_in_use": manager.in_use,
        "sessions_max": manager.capacity,
        # Every task the process's loop holds: a count that grows with calls that have ended
        # is a leak (bench/soak.py watches it).
        "tasks": len(asyncio.all_tasks()),
        # The C heap (glibc): what is held against what is free but kept. The soak tells a
        # leak from fragmentation by which of the two grows.
        "heap": memory.heap(),
        # Python's own allocator maps its arenas itself, outside the C heap's count: blocks
        # held there that grow with calls are Python objects kept (not fragmentation).
        "python_blocks": sys.getallocatedblocks(),
        # The bounded caches, which grow to their size over the first calls (the soak tells
        # that from a leak): the model's saved prompt reads, the synthesizers' phrases and
        # SQLite's page caches (the process's, signaling's too where it runs here).
        "caches_mb": caches_mb(runtime),
    }


def caches_mb(runtime: EngineRuntime) -> dict[str, float]:
    synthesizers = []
    if runtime.voice is not None:
        models = runtime.voice.models
        synthesizers = [t for t in (models.tts, models.piper) if t is not None]
    return {
        "prompt_reads": round(runtime.llm.cached_bytes() / 2**20, 1),
        "phrases": round(sum(t.kept_bytes() for t in synthesizers) / 2**20, 1),
        "database": round(memory.sqlite_bytes() / 2**20, 1),
    }


async def health(request: web.Request) -> web.Response:
    return web.json_response(
        {"status": "ok", "version": __version__, "engine": engine_health(request.app)}
    )


@asynccontextmanager
async def serve_engine(
    app: web.Application, settings: Settings, db: Database, retriever: Retriever | None
) -> AsyncIterator[CallManager]:
    """Load the models and open the call manager behind the engine's routes on `app`; at exit
    close every call, then the models. The standalone engine and the server both use this."""
    runtime = await create_runtime(settings, db, llm=app.get(SHARED_LLM), retriever=retriever)
    manager = CallManager(runtime)
    app[ENGINE_SETTINGS] = settings
    app[RUNTIME] = runtime
    app[MANAGER] = manager
    unwatch = [metrics.watch(reading) for reading in _readings(runtime, manager)]
    warming: asyncio.Task[int] | None = None
    try:
        await manager.end_orphans()
        reading = read_tutor_prompts(
            runtime.store,
            runtime.llm,
            grounded=runtime.retriever is not None,
            limit=settings.llm_warm_tutors,
        )
        warming = app[WARMING] = asyncio.create_task(reading, name="warm-prompts")
        async with speaking_ahead(runtime, manager.idle, after=warming) as app[COURSE_SPEECH]:
            yield manager
    finally:
        if warming is not None:
            warming.cancel()
            await asyncio.gather(warming, return_exceptions=True)
        for stop in unwatch:
            stop()
        await manager.close_all("shutdown")
        await runtime.aclose()


def _readings(runtime: EngineRuntime, manager: CallManager) -> list[metrics.Reading]:
    pacing = runtime.voice.pacing if runtime.voice is not None else None
    readings = [
        metrics.Reading("vt_calls_active", "Call slots in use.", "gauge", lambda: manager.in_use),
        metrics.Reading(
            "vt_call_slots", "Call slots this engine has.", "gauge", lambda: manager.capacity
        ),
    ]
    if pacing is not None:
        readings += [
            metrics.Reading(
                "vt_outbound_frames",
                "Outbound audio frames sent.",
                "counter",
                lambda: pacing.frames,
            ),
            metrics.Reading(
                "vt_outbound_late_frames",
                "Outbound audio frames sent more than 40 ms late (heard as gaps).",
                "counter",
                lambda: pacing.late_frames,
            ),
        ]
    return readings


async def metrics_page(request: web.Request) -> web.Response:
    body, content_type = metrics.exposition()
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


async def engine_ctx(app: web.Application) -> AsyncIterator[None]:
    """The standalone engine's own database and (search-only) knowledge runtime around it."""
    settings = app[ENGINE_SETTINGS]
    db = Database(settings.database_url)
    await db.migrate()
    # A separate engine searches the knowledge bases the API tier ingests into the shared
    # database; it does not ingest itself.
    knowledge = await KnowledgeRuntime.start(db, settings.knowledge, ingest=False)
    try:
        async with serve_engine(app, settings, db, knowledge.retriever) as manager:
            if settings.engine_pool:
                async with pool_membership(settings, db, manager):
                    yield
            else:
                yield
    finally:
        await knowledge.aclose()
        await db.close()


def create_engine_app(settings: Settings, *, llm: LLM | None = None) -> web.Application:
    """A standalone engine: management API, call set-up and health.

    `llm` shares an already loaded model (tests, benchmarks); by default the engine loads its own.
    """
    app = web.Application(
        middlewares=[cors_middleware(settings.cors_origins or ("*",)), error_middleware],
        client_max_size=max(settings.max_sdp_bytes, 65_536) * 2,
    )
    app[ENGINE_SETTINGS] = settings
    app.on_response_prepare.append(security_headers())
    if llm is not None:
        app[SHARED_LLM] = llm
    app.cleanup_ctx.append(engine_ctx)
    app.add_routes(routes)
    app.on_shutdown.append(end_calls)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics_page)
    return app
