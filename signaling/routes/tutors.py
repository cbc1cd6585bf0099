"""Tutors: anyone logged in lists those they may see; teachers and admins create them, and
change and delete their own (admins any)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from auth import Role
from core.http import http_error, is_db_id, json_body, path_id
from signaling.keys import TUTORS, principal
from storage import ANSWER_POLICIES

routes = web.RouteTableDef()

LANGUAGES = {"en", "zh"}
MAX_CLASS_IDS = 1000
_TEXT_FIELDS = {"name": 120, "subject": 120, "persona_prompt": 4000, "voice": 64}


def _tutor_id(request: web.Request) -> int:
    return path_id(request, "tutor_id", what="tutor")


async def _validated(request: web.Request, *, partial: bool) -> dict[str, Any]:
    body = await json_body(request, max_bytes=16_384)
    out: dict[str, Any] = {}
    for name, limit in _TEXT_FIELDS.items():
        if name not in body:
            if not partial and name in {"name", "subject"}:
                raise http_error(422, f"'{name}' is required")
            continue
        value = body[name]
        if not isinstance(value, str) or len(value) > limit:
            raise http_error(422, f"'{name}' must be a string of at most {limit} characters")
        if name in {"name", "subject"} and not value.strip():
            raise http_error(422, f"'{name}' must not be empty")
        out[name] = value.strip()
    if "language" in body:
        # A non-string (a JSON object is a dict, unhashable) is refused before the set lookup.
        if not isinstance(body["language"], str) or body["language"] not in LANGUAGES:
            raise http_error(422, f"'language' must be one of {sorted(LANGUAGES)}")
        out["language"] = body["language"]
    if "kb_id" in body:
        kb_id = body["kb_id"]
        if kb_id is not None and not is_db_id(kb_id):
            raise http_error(422, "'kb_id' must be an integer id or null")
        out["kb_id"] = kb_id
    if "answer_policy" in body:
        if (
            not isinstance(body["answer_policy"], str)
            or body["answer_policy"] not in ANSWER_POLICIES
        ):
            raise http_error(422, f"'answer_policy' must be one of {list(ANSWER_POLICIES)}")
        out["answer_policy"] = body["answer_policy"]
    if "everyone" in body:
        if not isinstance(body["everyone"], bool):
            raise http_error(422, "'everyone' must be true or false")
        out["everyone"] = body["everyone"]
    if "class_ids" in body:
        ids = body["class_ids"]
        if not isinstance(ids, list) or len(ids) > MAX_CLASS_IDS or not all(map(is_db_id, ids)):
            raise http_error(
                422, f"'class_ids' must be a list of at most {MAX_CLASS_IDS} integer ids"
            )
        out["class_ids"] = ids
    known = {"language", "kb_id", "answer_policy", "id", "everyone", "class_ids"}
    unknown = set(body) - set(_TEXT_FIELDS) - known
    if unknown:
        raise http_error(422, f"unknown fields: {', '.join(sorted(unknown))}")
    return out


@routes.get("/api/tutors")
async def list_tutors(request: web.Request) -> web.Response:
    return web.json_response(await request.app[TUTORS].all(principal(request)))


@routes.get("/api/tutors/{tutor_id}")
async def get_tutor(request: web.Request) -> web.Response:
    who = principal(request)
    return web.json_response(await request.app[TUTORS].get(who, _tutor_id(request)))


@routes.post("/api/tutors")
async def create_tutor(request: web.Request) -> web.Response:
    who = principal(request)
    who.require(Role.TEACHER, Role.ADMIN)
    fields = await _validated(request, partial=False)
    return web.json_response(await request.app[TUTORS].create(who, fields), status=201)


@routes.patch("/api/tutors/{tutor_id}")
async def update_tutor(request: web.Request) -> web.Response:
    who = principal(request)
    who.require(Role.TEACHER, Role.ADMIN)
    fields = await _validated(request, partial=True)
    return web.json_response(await request.app[TUTORS].update(who, _tutor_id(request), fields))


@routes.delete("/api/tutors/{tutor_id}")
async def delete_tutor(request: web.Request) -> web.Response:
    who = principal(request)
    who.require(Role.TEACHER, Role.ADMIN)
    await request.app[TUTORS].delete(who, _tutor_id(request))
    return web.Response(status=204)
