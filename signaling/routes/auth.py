"""Log in, and who am I."""

from __future__ import annotations

import asyncio

from aiohttp import web
from sqlalchemy import func, select

from auth import Principal, Role, verify_password
from signaling.keys import DB, ISSUER, SETTINGS, principal
from storage import User
from virtual_tutor.http import http_error, json_body, require_str

routes = web.RouteTableDef()

# One message for an unknown email and a wrong password, so the answer does not tell which
# accounts exist.
BAD_LOGIN = "incorrect email or password"


@routes.post("/api/auth/login")
async def login(request: web.Request) -> web.Response:
    body = await json_body(request, max_bytes=4096)
    email = require_str(body, "email", max_len=320).lower()
    password = body.get("password")
    if not isinstance(password, str) or not password:
        raise http_error(422, "'password' must be a non-empty string")
    async with request.app[DB].session() as s:
        user = await s.scalar(select(User).where(func.lower(User.email) == email))
    # verify_password costs the same whether or not the user exists; argon2 is deliberately
    # slow, so it runs off the event loop.
    matches = await asyncio.to_thread(
        verify_password, user.password_hash if user else None, password
    )
    if not matches or user is None:
        raise http_error(401, BAD_LOGIN, code="invalid_credentials")
    settings = request.app[SETTINGS]
    ttl = settings.access_token_expire_minutes * 60
    token = request.app[ISSUER].access_token(
        Principal(user.id, user.email, Role(user.role)), ttl_s=ttl
    )
    return web.json_response({"access_token": token, "token_type": "bearer", "expires_in": ttl})


@routes.get("/api/auth/me")
async def me(request: web.Request) -> web.Response:
    who = principal(request)
    async with request.app[DB].session() as s:
        user = await s.get(User, who.user_id)
    if user is None:
        raise http_error(401, "this account no longer exists")
    return web.json_response(
        {"id": user.id, "email": user.email, "role": user.role, "display_name": user.display_name}
    )
