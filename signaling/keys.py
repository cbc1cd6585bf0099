"""Typed application state, and the helpers handlers use to read it."""

from __future__ import annotations

from aiohttp import web

from auth import AuthError, Principal, TokenIssuer
from auth.tokens import bearer
from core.http import http_error
from core.settings import KnowledgeSettings, Settings
from knowledge.embeddings import Embedder
from knowledge.runtime import KnowledgeRuntime
from signaling.accounts import AccountService
from signaling.engine_client import EngineClient
from signaling.insights import Insights
from signaling.sessions import SessionService
from signaling.throttle import LoginThrottle
from signaling.tutors import TutorService
from storage import Database

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
ISSUER = web.AppKey("issuer", TokenIssuer)
ENGINE: web.AppKey[EngineClient] = web.AppKey("engine")
KNOWLEDGE = web.AppKey("knowledge", KnowledgeRuntime)
"""The process's knowledge runtime."""
KNOWLEDGE_SETTINGS = web.AppKey("knowledge_settings", KnowledgeSettings)
"""Optional: set before start to override `Settings.knowledge` (tests)."""
EMBEDDER = web.AppKey("knowledge_embedder", Embedder)
"""Optional: an already loaded embedder to share (tests, benchmarks)."""
ACCOUNTS = web.AppKey("accounts", AccountService)
TUTORS = web.AppKey("tutors", TutorService)
SESSIONS = web.AppKey("sessions", SessionService)
THROTTLE = web.AppKey("login_throttle", LoginThrottle)
INSIGHTS = web.AppKey("insights", Insights)


def principal(request: web.Request) -> Principal:
    """The user behind the request's bearer token, or a 401 JSON error."""
    try:
        return request.app[ISSUER].verify_access(bearer(request.headers.get("Authorization")))
    except AuthError as exc:
        raise http_error(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
