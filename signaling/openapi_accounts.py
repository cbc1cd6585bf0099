"""The OpenAPI description of the account and class routes (merged by signaling.openapi)."""

from __future__ import annotations

from typing import Any

from signaling.openapi_parts import ID, TEXT, obj, op

ROLE = {"enum": ["admin", "teacher", "student"]}
NAME = {"type": "string", "minLength": 1, "maxLength": 120}


def _query(op_: dict[str, Any], name: str, schema: dict[str, Any], *, required: bool) -> Any:
    """`op_` with a query parameter."""
    param = {"name": name, "in": "query", "required": required, "schema": schema}
    return op_ | {"parameters": [param]}


def account_paths() -> dict[str, dict[str, Any]]:
    user = "/api/users/{user_id}"
    cls = "/api/classes/{class_id}"
    return {
        "/api/auth/password": {
            "post": op(
                "Change one's own password: a fresh token; older tokens stop working",
                200,
                body=obj(
                    ("current_password", "new_password"), current_password=TEXT, new_password=TEXT
                ),
                errors=(400, 403, 422),
            )
        },
        "/api/users": {
            "get": op("Accounts: all (admin) or one's students (teacher)", 200, errors=(403,)),
            "post": op(
                "Create an account; a generated one-time password when none is given",
                201,
                body=obj(
                    ("email", "display_name", "role"),
                    email=TEXT,
                    display_name=NAME,
                    role=ROLE,
                    password={"type": "string"},
                ),
                errors=(400, 403, 404, 409, 422),
            ),
        },
        "/api/users/import": {
            "post": _query(
                op(
                    "Student accounts from a class list (CSV: email,display_name), all or none",
                    201,
                    body={"type": "string", "description": "CSV rows: email,display_name"},
                    content="text/csv",
                    errors=(403, 404, 409, 413, 422),
                ),
                "class_id",
                ID,
                required=False,
            )
        },
        user: {
            "patch": op(
                "Change an account: display name, disabled, role (admin)",
                200,
                body=obj((), display_name=NAME, role=ROLE, disabled={"type": "boolean"}),
                errors=(400, 403, 404, 409, 422),
            ),
            "delete": _query(
                op(
                    "Delete an account (admin), keeping or removing its sessions",
                    204,
                    errors=(403, 404, 409, 422),
                ),
                "sessions",
                {"enum": ["keep", "remove"]},
                required=True,
            ),
        },
        f"{user}/password": {
            "post": op(
                "A new one-time password for an account (admin, or the student's teacher)",
                200,
                errors=(403, 404, 409),
            )
        },
        "/api/classes": {
            "get": op("Classes: all (admin) or one's own (teacher)", 200, errors=(403,)),
            "post": op(
                "Create a class",
                201,
                body=obj(("name",), name=NAME, teacher_id={"oneOf": [ID, {"type": "null"}]}),
                errors=(400, 403, 404, 422),
            ),
        },
        cls: {
            "get": op("One class with its members and tutors", 200, errors=(403, 404)),
            "patch": op(
                "Rename a class, or give it another teacher (admin)",
                200,
                body=obj((), name=NAME, teacher_id={"oneOf": [ID, {"type": "null"}]}),
                errors=(400, 403, 404, 422),
            ),
            "delete": op("Delete a class", 204, errors=(403, 404)),
        },
        f"{cls}/members": {
            "post": op(
                "Put a student in the class, by user_id or email",
                201,
                body=obj((), user_id=ID, email=TEXT),
                errors=(400, 403, 404, 422),
            )
        },
        f"{cls}/members/{{user_id}}": {
            "delete": op("Take a student out of the class", 204, errors=(403, 404))
        },
    }
