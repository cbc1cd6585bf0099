"""The REST API's OpenAPI 3.1 description, served at /api/openapi.json.

Written by hand next to the routes (tests/test_openapi.py checks that every route is described
and nothing else is); the fuzz tests draw their requests from it.
"""

from __future__ import annotations

from typing import Any

from core import __version__
from signaling.openapi_accounts import account_paths
from signaling.openapi_parts import ID, TEXT, Schema
from signaling.openapi_parts import obj as _obj
from signaling.openapi_parts import op as _op

TUTOR_FIELDS: dict[str, Schema] = {
    "name": {"type": "string", "maxLength": 120},
    "subject": {"type": "string", "maxLength": 120},
    "language": {"enum": ["en", "zh"]},
    "persona_prompt": {"type": "string", "maxLength": 4000},
    "voice": {"type": "string", "maxLength": 64},
    "kb_id": {"oneOf": [ID, {"type": "null"}]},
    "answer_policy": {"type": "string"},
    "everyone": {"type": "boolean"},
    "class_ids": {"type": "array", "items": ID},
}


def _path_params(path: str) -> list[dict[str, Any]]:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string"} if name == "session_id" else ID,
        }
        for name in names
    ]


def _api_paths() -> dict[str, dict[str, Any]]:
    kb = "/api/knowledge-bases/{kb_id}"
    tutor_body = _obj(("name", "subject"), **TUTOR_FIELDS)
    return {
        "/health": {"get": _op("Health of the server and its engine", 200, auth=None)},
        "/api/openapi.json": {"get": _op("This description", 200, auth=None)},
        "/metrics": {"get": _op("Operator's metrics, Prometheus text format", 200, auth=None)},
        "/api/auth/login": {
            "post": _op(
                "Log in: a bearer access token",
                200,
                auth=None,
                body=_obj(("email", "password"), email=TEXT, password=TEXT),
                errors=(400, 401, 413, 422, 429),
            )
        },
        "/api/auth/me": {"get": _op("The logged-in account", 200)},
        "/api/tutors": {
            "get": _op("Every tutor", 200),
            "post": _op("Create a tutor (staff)", 201, body=tutor_body, errors=(400, 403, 422)),
        },
        "/api/tutors/{tutor_id}": {
            "get": _op("One tutor", 200, errors=(404,)),
            "patch": _op(
                "Change a tutor (staff)",
                200,
                body=_obj((), **TUTOR_FIELDS),
                errors=(400, 403, 404, 422),
            ),
            "delete": _op("Delete a tutor (staff)", 204, errors=(403, 404)),
        },
        "/api/student/sessions": {
            "get": _op("The student's sessions", 200),
            "post": _op(
                "Open a session with a tutor: where and how to open its call",
                201,
                body=_obj(("tutor_id",), tutor_id=ID),
                errors=(400, 404, 422, 429, 502, 503),
            ),
        },
        "/api/student/sessions/{session_id}": {
            "get": _op("One session with its turns", 200, errors=(404,))
        },
        "/api/student/sessions/{session_id}/end": {
            "post": _op("End a session", 200, errors=(404,))
        },
        "/api/knowledge-bases": {
            "get": _op("Every knowledge base (staff)", 200, errors=(403,)),
            "post": _op(
                "Create a knowledge base (staff)",
                201,
                body=_obj(("name",), name=TEXT, description={"type": "string"}),
                errors=(400, 403, 422),
            ),
        },
        kb: {
            "get": _op("One knowledge base (staff)", 200, errors=(403, 404)),
            "delete": _op("Delete a knowledge base (staff)", 204, errors=(403, 404)),
        },
        f"{kb}/tutors": {
            "patch": _op(
                "Make exactly these tutors answer from the base (staff)",
                200,
                body=_obj(("tutor_ids",), tutor_ids={"type": "array", "items": ID}),
                errors=(400, 403, 404, 422),
            )
        },
        f"{kb}/documents": {
            "get": _op("The base's documents (staff)", 200, errors=(403, 404)),
            "post": _op(
                "Upload a document: .txt, .md or .pdf (staff)",
                202,
                body=_obj(("file",), file={"type": "string", "contentMediaType": "text/plain"}),
                content="multipart/form-data",
                errors=(403, 404, 413, 415, 422),
            ),
        },
        f"{kb}/documents/{{doc_id}}": {
            "get": _op("One document and its ingestion (staff)", 200, errors=(403, 404)),
            "delete": _op("Delete a document (staff)", 204, errors=(403, 404)),
        },
        f"{kb}/documents/{{doc_id}}/passages": {
            "get": _op("The passages a document became (staff)", 200, errors=(403, 404))
        },
        f"{kb}/search": {
            "post": _op(
                "Search the base as a tutor would (staff)",
                200,
                body=_obj(("query",), query=TEXT, k={"type": "integer", "minimum": 1}),
                errors=(400, 403, 404, 422),
            )
        },
        "/api/tutors/{tutor_id}/questions": {
            "get": _op(
                "What students asked the tutor in the last ?days=N, by topic (?format=csv; an "
                "admin, or the teacher who owns the tutor)",
                200,
                errors=(403, 404, 422),
            )
        },
        "/api/sessions": {
            "get": _op(
                "Students' sessions, ?tutor_id= for one tutor's (an admin's all; a teacher's "
                "own students' with their own tutors)",
                200,
                errors=(403, 404, 422),
            )
        },
        "/api/sessions/{session_id}": {
            "get": _op(
                "One session, its turns and their sources (an admin, or the teacher of its "
                "tutor and its student)",
                200,
                errors=(403, 404),
            )
        },
        "/api/voices": {
            "get": _op("The voices tutors can speak in (staff)", 200, errors=(403, 503))
        },
        "/api/voices/sample": {
            "post": _op(
                "A voice's sample, audio/wav (staff)",
                200,
                body=_obj(("voice",), voice=TEXT, text=TEXT),
                errors=(400, 403, 422, 503),
            )
        },
    }


def _engine_paths() -> dict[str, dict[str, Any]]:
    offer = {"type": "string", "description": "an SDP offer"}
    return {
        "/v1/sessions": {
            "post": _op(
                "Reserve a call slot (the signaling tier, service token)",
                201,
                auth="service",
                body=_obj(("tutor_id", "student_id"), tutor_id=ID, student_id=ID, kb_id=ID),
                errors=(400, 404, 422, 429, 503),
            )
        },
        "/v1/sessions/{session_id}": {
            "delete": _op("End a session (service token)", 204, auth="service", errors=(404,))
        },
        "/v1/calls/{session_id}": {
            "post": _op(
                "Open the session's call: an SDP offer in, the answer out (WHIP; engine token)",
                201,
                auth="engine",
                body=offer,
                content="application/sdp",
                errors=(400, 404, 409, 413, 415, 422),
            ),
            "get": _socket(),
            "delete": _op("Hang up (engine token)", 204, auth="engine", errors=(404,)),
        },
        "/ws/ws/{session_id}": {"get": _socket()},
    }


def _socket() -> dict[str, Any]:
    """The call over a WebSocket: an upgrade, with the engine token as `?token=` or a bearer
    header; the rest happens on the socket (README, WebSocket transport)."""
    return _op(
        "Open the session's call over a WebSocket (upgrade; engine token as ?token=)",
        101,
        auth="engine",
        errors=(426,),
    )


def describe(*, with_engine: bool) -> dict[str, Any]:
    """The description of the routes a server has: the engine's when it runs in-process."""
    paths = _api_paths() | account_paths()
    if with_engine:
        paths.update(_engine_paths())
    for path, ops in paths.items():
        if params := _path_params(path):
            ops["parameters"] = params
    bearer = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Virtual Tutor", "version": __version__},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": bearer, "service": bearer, "engine": bearer},
            "schemas": {
                "Error": _obj(("error",), error=_obj(("code", "message"), code=TEXT, message=TEXT))
            },
        },
    }
