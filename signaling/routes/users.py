"""Accounts: admins create and manage everyone; teachers create and manage their students."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import BodyPartReader, web

from auth import Role
from core.http import http_error, is_db_id, json_body, path_id, read_body, require_str
from signaling.keys import USERS, principal
from signaling.roster import RosterError, RowProblem, read_roster, valid_email

routes = web.RouteTableDef()

MAX_CSV_BYTES = 256 * 1024
CLASS_ID = re.compile(r"[1-9][0-9]{0,18}")  # ASCII digits only: int() reads '²' and '٣' too


def _user_id(request: web.Request) -> int:
    return path_id(request, "user_id", what="user")


def _email(body: dict[str, Any]) -> str:
    email = require_str(body, "email", max_len=320)
    if not valid_email(email):
        raise http_error(422, "'email' must be an email address")
    return email


def _role(value: object) -> Role:
    if not isinstance(value, str) or value not in {r.value for r in Role}:
        raise http_error(422, f"'role' must be one of {[r.value for r in Role]}")
    return Role(value)


@routes.post("/api/users")
async def create_user(request: web.Request) -> web.Response:
    """`{email, display_name, role, password?}`: the account, with `one_time_password` when no
    password was given."""
    who = principal(request)
    body = await json_body(request, max_bytes=4096)
    unknown = set(body) - {"email", "display_name", "role", "password"}
    if unknown:
        raise http_error(422, f"unknown fields: {', '.join(sorted(unknown))}")
    email = _email(body)
    name = require_str(body, "display_name", max_len=120)
    role = _role(body.get("role"))
    password = body.get("password")
    if password is not None and not isinstance(password, str):
        raise http_error(422, "'password' must be a string")
    created = await request.app[USERS].create(who, [(email, name)], role=role, password=password)
    return web.json_response(created[0], status=201)


@routes.get("/api/users")
async def list_users(request: web.Request) -> web.Response:
    return web.json_response(await request.app[USERS].all(principal(request)))


@routes.patch("/api/users/{user_id}")
async def update_user(request: web.Request) -> web.Response:
    """`{display_name?, role?, disabled?}`; the role only by an admin."""
    who = principal(request)
    user_id = _user_id(request)
    body = await json_body(request, max_bytes=4096)
    fields: dict[str, Any] = {}
    if "display_name" in body:
        fields["display_name"] = require_str(body, "display_name", max_len=120)
    if "role" in body:
        fields["role"] = _role(body["role"])
    if "disabled" in body:
        if not isinstance(body["disabled"], bool):
            raise http_error(422, "'disabled' must be true or false")
        fields["disabled"] = body["disabled"]
    unknown = set(body) - {"display_name", "role", "disabled", "id"}
    if unknown:
        raise http_error(422, f"unknown fields: {', '.join(sorted(unknown))}")
    return web.json_response(await request.app[USERS].update(who, user_id, fields))


@routes.delete("/api/users/{user_id}")
async def delete_user(request: web.Request) -> web.Response:
    """`?sessions=keep` keeps the account's sessions (the account is wiped), `remove` deletes
    them with it; one of the two must be said."""
    who = principal(request)
    user_id = _user_id(request)
    sessions = request.query.get("sessions")
    if sessions not in {"keep", "remove"}:
        raise http_error(422, "say what happens to the account's sessions: ?sessions=keep|remove")
    await request.app[USERS].delete(who, user_id, keep_sessions=sessions == "keep")
    return web.Response(status=204)


@routes.post("/api/users/{user_id}/password")
async def reset_password(request: web.Request) -> web.Response:
    """A new one-time password for the account; its older tokens stop working."""
    who = principal(request)
    return web.json_response(await request.app[USERS].reset_password(who, _user_id(request)))


@routes.post("/api/users/import")
async def import_users(request: web.Request) -> web.Response:
    """A class list as CSV (`email,display_name` rows; the body, or a multipart `file` part):
    student accounts with one-time passwords, put in `?class_id=` when given. All or none."""
    who = principal(request)
    who.require(Role.TEACHER, Role.ADMIN)
    class_id = None
    if "class_id" in request.query:
        raw = request.query["class_id"]
        class_id = int(raw) if CLASS_ID.fullmatch(raw) else None
        if not is_db_id(class_id):
            raise http_error(422, "'class_id' must be an integer id")
    data = await _csv(request)
    users = request.app[USERS]
    try:
        roster = read_roster(data)
    except RosterError as exc:
        raise _rows_error(exc) from None
    if taken := await users.taken([email for email, _ in roster.accounts]):
        problems = [
            RowProblem(roster.lines[e.lower()], f"{e} already has an account") for e in taken
        ]
        raise _rows_error(RosterError(sorted(problems, key=lambda p: p.line)))
    created = await users.create(who, roster.accounts, role=Role.STUDENT, class_id=class_id)
    return web.json_response({"class_id": class_id, "users": created}, status=201)


def _rows_error(exc: RosterError) -> web.HTTPException:
    """422 whose error also lists each bad line: `lines: [{line, message}]`."""
    body = {
        "error": {
            "code": "invalid_rows",
            "message": str(exc),
            "lines": [{"line": p.line, "message": p.message} for p in exc.problems],
        }
    }
    return web.HTTPUnprocessableEntity(text=json.dumps(body), content_type="application/json")


async def _csv(request: web.Request) -> bytes:
    if not request.content_type.startswith("multipart/"):
        return await read_body(request, MAX_CSV_BYTES, what="the CSV file")
    reader = await request.multipart()
    async for part in reader:
        if isinstance(part, BodyPartReader) and part.name == "file":
            data = bytearray()
            while chunk := await part.read_chunk():
                data.extend(chunk)
                if len(data) > MAX_CSV_BYTES:
                    raise http_error(413, f"the CSV file is limited to {MAX_CSV_BYTES} bytes")
            return bytes(data)
    raise http_error(422, "no 'file' part in the upload")
