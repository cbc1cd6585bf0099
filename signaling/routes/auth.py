"""Log in, and who am I."""

from __future__ import annotations

from aiohttp import web

from core.http import http_error, json_body, require_str
from signaling.accounts import InvalidCredentials
from signaling.keys import ACCOUNTS, principal

routes = web.RouteTableDef()

# One message for an unknown email and a wrong password, so the answer does not tell which
# accounts exist.
BAD_LOGIN = "incorrect email or password"


@routes.post("/api/auth/login")
async def login(request: web.Request) -> web.Response:
    body = await json_body(request, max_bytes=4096)
    email = require_str(body, "email", max_len=320)
    password = body.get("password")
    if not isinstance(password, str) or not password:
        raise http_error(422, "'password' must be a non-empty string")
    try:
        return web.json_response(await request.app[ACCOUNTS].login(email, password))
    except InvalidCredentials:
        raise http_error(401, BAD_LOGIN, code="invalid_credentials") from None


@routes.get("/api/auth/me")
async def me(request: web.Request) -> web.Response:
    who = principal(request)
    profile = await request.app[ACCOUNTS].profile(who.user_id)
    if profile is None:
        raise http_error(401, "this account no longer exists")
    return web.json_response(profile)
