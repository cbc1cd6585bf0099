"""Typed application state, and the helpers handlers use to read it."""

from __future__ import annotations

from aiohttp import web

from auth import AuthError, Principal, TokenIssuer
from auth.tokens import bearer
from core.http import Handler, http_error
from core.settings import KnowledgeSettings, Settings
from knowledge.embeddings import Embedder
from knowledge.runtime import KnowledgeRuntime
from signaling.accounts import AccountService
from signaling.classes import ClassService
from signaling.engine_client import EngineClient
from signaling.insights import Insights
from signaling.sessions import SessionService
from signaling.throttle import LoginThrottle
from signaling.tutors import TutorService
from signaling.users import UserService
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
USERS = web.AppKey("users", UserService)
CLASSES = web.AppKey("classes", ClassService)
TUTORS = web.AppKey("tutors", TutorService)
SESSIONS = web.AppKey("sessions", SessionService)
THROTTLE = web.AppKey("login_throttle", LoginThrottle)
INSIGHTS = web.AppKey("insights", Insights)

CHECKED = web.RequestKey("checked_principal", object)
"""What account_check found for the request's token: the account's Principal as it is now,
or the AuthError to answer."""


@web.middleware
async def account_check(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Look every API request's account up before its handler runs, so that a disabled or
    deleted account, a changed password or a changed role takes effect at the next request.
    `principal()` answers with what it found."""
    header = request.headers.get("Authorization")
    if header is not None and request.path.startswith("/api/"):
        try:
            claimed = request.app[ISSUER].verify_access(bearer(header))
            current = await request.app[ACCOUNTS].current(claimed)
            request[CHECKED] = current or AuthError(
                "this account is disabled, deleted, or its password has changed"
            )
        except AuthError as exc:
            request[CHECKED] = exc
    return await handler(request)


def principal(request: web.Request) -> Principal:
    """The user behind the request's bearer token, or a 401 JSON error.

    Behind `account_check` (create_app installs it), the account as the database has it now;
    an app without it (a test's partial app) trusts the token alone."""
    try:
        checked = request.get(CHECKED)
        if checked is None:
            return request.app[ISSUER].verify_access(bearer(request.headers.get("Authorization")))
        if isinstance(checked, AuthError):
            raise checked
        assert isinstance(checked, Principal)
        return checked
    except AuthError as exc:
        raise http_error(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
