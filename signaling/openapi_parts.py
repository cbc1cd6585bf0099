"""Pieces of the OpenAPI description shared by its modules."""

from __future__ import annotations

from typing import Any

from core.http import DB_ID_MAX

Schema = dict[str, Any]

ID: Schema = {"type": "integer", "minimum": 1, "maximum": DB_ID_MAX}
TEXT: Schema = {"type": "string", "minLength": 1}
ERROR: Schema = {"$ref": "#/components/schemas/Error"}


def obj(required: tuple[str, ...] = (), **props: Schema) -> Schema:
    return {"type": "object", "properties": props, "required": list(required)}


def op(
    summary: str,
    ok: int,
    *,
    auth: str | None = "bearer",
    body: Schema | None = None,
    content: str = "application/json",
    errors: tuple[int, ...] = (),
) -> dict[str, Any]:
    responses: dict[str, Any] = {str(ok): {"description": "success"}}
    for status in sorted({*errors, *((401,) if auth else ())}):
        responses[str(status)] = {
            "description": "error",
            "content": {"application/json": {"schema": ERROR}},
        }
    out: dict[str, Any] = {"summary": summary, "responses": responses}
    if auth:
        out["security"] = [{auth: []}]
    if body is not None:
        out["requestBody"] = {"required": True, "content": {content: {"schema": body}}}
    return out
