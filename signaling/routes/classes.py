"""Classes: teachers manage their own, admins every one; a class's students see its tutors."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.http import http_error, is_db_id, json_body, path_id, require_str
from signaling.keys import CLASSES, principal
from signaling.roster import valid_email

routes = web.RouteTableDef()


def _class_id(request: web.Request) -> int:
    return path_id(request, "class_id", what="class")


def _teacher_id(body: dict[str, Any]) -> int | None:
    value = body.get("teacher_id")
    if value is not None and not is_db_id(value):
        raise http_error(422, "'teacher_id' must be an integer id or null")
    return value


def _known(body: dict[str, Any], allowed: set[str]) -> None:
    if unknown := set(body) - allowed:
        raise http_error(422, f"unknown fields: {', '.join(sorted(unknown))}")


@routes.post("/api/classes")
async def create_class(request: web.Request) -> web.Response:
    """`{name, teacher_id?}`: a teacher's class is their own; an admin may name its teacher."""
    who = principal(request)
    body = await json_body(request, max_bytes=4096)
    _known(body, {"name", "teacher_id"})
    name = require_str(body, "name", max_len=120)
    made = await request.app[CLASSES].create(who, name, _teacher_id(body))
    return web.json_response(made, status=201)


@routes.get("/api/classes")
async def list_classes(request: web.Request) -> web.Response:
    return web.json_response(await request.app[CLASSES].all(principal(request)))


@routes.get("/api/classes/{class_id}")
async def get_class(request: web.Request) -> web.Response:
    who = principal(request)
    return web.json_response(await request.app[CLASSES].get(who, _class_id(request)))


@routes.patch("/api/classes/{class_id}")
async def update_class(request: web.Request) -> web.Response:
    """`{name?, teacher_id?}`; the teacher only by an admin."""
    who = principal(request)
    class_id = _class_id(request)
    body = await json_body(request, max_bytes=4096)
    _known(body, {"name", "teacher_id", "id"})
    fields: dict[str, Any] = {}
    if "name" in body:
        fields["name"] = require_str(body, "name", max_len=120)
    if "teacher_id" in body:
        fields["teacher_id"] = _teacher_id(body)
    return web.json_response(await request.app[CLASSES].update(who, class_id, fields))


@routes.delete("/api/classes/{class_id}")
async def delete_class(request: web.Request) -> web.Response:
    await request.app[CLASSES].delete(principal(request), _class_id(request))
    return web.Response(status=204)


@routes.post("/api/classes/{class_id}/members")
async def add_member(request: web.Request) -> web.Response:
    """`{user_id}` or `{email}` of a student: the class with its members."""
    who = principal(request)
    class_id = _class_id(request)
    body = await json_body(request, max_bytes=4096)
    _known(body, {"user_id", "email"})
    if ("user_id" in body) == ("email" in body):
        raise http_error(422, "give either 'user_id' or 'email'")
    user_id, email = body.get("user_id"), None
    if "user_id" in body and not is_db_id(user_id):
        raise http_error(422, "'user_id' must be an integer id")
    if "email" in body:
        email = require_str(body, "email", max_len=320)
        if not valid_email(email):
            raise http_error(422, "'email' must be an email address")
    found = await request.app[CLASSES].add_member(who, class_id, user_id=user_id, email=email)
    return web.json_response(found, status=201)


@routes.delete("/api/classes/{class_id}/members/{user_id}")
async def remove_member(request: web.Request) -> web.Response:
    who = principal(request)
    user_id = path_id(request, "user_id", what="member of this class")
    await request.app[CLASSES].remove_member(who, _class_id(request), user_id)
    return web.Response(status=204)
