"""Typed application state, and the helpers handlers use to read it."""

from __future__ import annotations

from aiohttp import web

from auth import AuthError, Principal, TokenIssuer
from auth.tokens import bearer
from signaling.engine_client import EngineClient
from storage import Database
from virtual_tutor.http import http_error
from virtual_tutor.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
ISSUER = web.AppKey("issuer", TokenIssuer)
ENGINE: web.AppKey[EngineClient] = web.AppKey("engine")


def principal(request: web.Request) -> Principal:
    """The user behind the request's bearer token, or a 401 JSON error."""
    try:
        return request.app[ISSUER].verify_access(bearer(request.headers.get("Authorization")))
    except AuthError as exc:
        raise http_error(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
