"""Log in, who am I, and changing one's own password."""

from __future__ import annotations

import logging

from aiohttp import web

from core.http import http_error, json_body, require_str
from signaling.accounts import AccountDisabled, InvalidCredentials
from signaling.keys import ACCOUNTS, THROTTLE, principal
from signaling.throttle import retry_after_header

log = logging.getLogger(__name__)

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
    throttle, address = request.app[THROTTLE], request.remote or "unknown"
    # A throttled login is refused before its password is checked: waiting is the only way on.
    if (wait := throttle.retry_after(email, address)) > 0:
        log.warning("login refused: too many failures (address %s)", address)
        raise http_error(
            429,
            "too many failed logins; try again later",
            code="too_many_logins",
            headers=retry_after_header(wait),
        )
    try:
        token = await request.app[ACCOUNTS].login(email, password)
    except InvalidCredentials as exc:
        throttle.failed(email, address)
        account = "unknown email" if exc.user_id is None else f"user {exc.user_id}"
        log.warning("failed login for %s from address %s", account, address)
        raise http_error(401, BAD_LOGIN, code="invalid_credentials") from None
    except AccountDisabled:
        # Told only to whoever knows the password: the account exists but may not log in.
        throttle.succeeded(email, address)
        raise http_error(403, "this account is disabled", code="account_disabled") from None
    throttle.succeeded(email, address)
    return web.json_response(token)


@routes.get("/api/auth/me")
async def me(request: web.Request) -> web.Response:
    who = principal(request)
    profile = await request.app[ACCOUNTS].profile(who.user_id)
    if profile is None:
        raise http_error(401, "this account no longer exists")
    return web.json_response(profile)


@routes.post("/api/auth/password")
async def change_password(request: web.Request) -> web.Response:
    """`{current_password, new_password}`: a fresh token; every older one stops working."""
    who = principal(request)
    body = await json_body(request, max_bytes=4096)
    current, new = body.get("current_password"), body.get("new_password")
    if not isinstance(current, str) or not current:
        raise http_error(422, "'current_password' must be a non-empty string")
    if not isinstance(new, str):
        raise http_error(422, "'new_password' must be a string")
    return web.json_response(await request.app[ACCOUNTS].change_password(who, current, new))
