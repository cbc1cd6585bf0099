"""Typed application state, and the helpers handlers use to read it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from auth import AuthError, Principal, TokenIssuer
from auth.tokens import bearer
from storage import Database
from virtual_tutor.http import http_error
from virtual_tutor.settings import Settings

if TYPE_CHECKING:
    from signaling.engine_client import EngineClient

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
ISSUER = web.AppKey("issuer", TokenIssuer)
ENGINE = web.AppKey("engine", "EngineClient")


def principal(request: web.Request) -> Principal:
    """The user behind the request's bearer token, or a 401 JSON error."""
    try:
        return request.app[ISSUER].verify_access(bearer(request.headers.get("Authorization")))
    except AuthError as exc:
        raise http_error(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
