"""A student's sessions."""

from __future__ import annotations

from aiohttp import web

from core.http import base_url, http_error, json_body, require_id
from core.ice import ice_servers
from media_engine.errors import CallNotFound, EngineError, engine_http_error
from signaling.keys import SESSIONS, SETTINGS, principal
from signaling.sessions import SessionNotFound, TutorNotFound

routes = web.RouteTableDef()


@routes.post("/api/student/sessions")
async def create_session(request: web.Request) -> web.Response:
    who = principal(request)
    tutor_id = require_id(await json_body(request, max_bytes=4096), "tutor_id")
    try:
        settings = request.app[SETTINGS]
        here = base_url(
            request, public_url=settings.public_url, allowed_hosts=settings.allowed_hosts
        )
        grant = await request.app[SESSIONS].open(who, tutor_id, base_url=here)
    except (TutorNotFound, CallNotFound) as exc:
        # The only thing an engine cannot find when opening a session is the tutor.
        raise http_error(404, str(exc), code="tutor_not_found") from None
    except EngineError as exc:
        raise engine_http_error(exc) from None
    servers = ice_servers(
        settings.ice_servers,
        secret=settings.turn_secret,
        user=str(who.user_id),
        ttl_s=settings.turn_ttl_seconds,
    )
    return web.json_response(
        {
            **grant.as_json(),
            "status": "active",
            # The client's RTCConfiguration: iceServers and iceTransportPolicy.
            "ice_servers": [s.as_json() for s in servers],
            "ice_transport_policy": settings.ice_transport_policy,
        },
        status=201,
    )


@routes.get("/api/student/sessions")
async def list_sessions(request: web.Request) -> web.Response:
    return web.json_response(await request.app[SESSIONS].list(principal(request)))


@routes.get("/api/student/sessions/{session_id}")
async def get_session(request: web.Request) -> web.Response:
    who = principal(request)
    try:
        return web.json_response(
            await request.app[SESSIONS].get(who, request.match_info["session_id"])
        )
    except SessionNotFound:
        raise http_error(404, "no such session") from None


@routes.post("/api/student/sessions/{session_id}/end")
async def end_session(request: web.Request) -> web.Response:
    who = principal(request)
    try:
        return web.json_response(
            await request.app[SESSIONS].end(who, request.match_info["session_id"])
        )
    except SessionNotFound:
        raise http_error(404, "no such session") from None
