"""The REST API against a real server: every endpoint with good and bad input."""

from __future__ import annotations

import time
from typing import Any

import jwt
from aiohttp.test_utils import TestClient

from tests.conftest import ADMIN, SECRET, STUDENT, MakeClient, login


async def error_of(resp: Any) -> dict[str, Any]:
    body = await resp.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    return dict(body["error"])


async def test_login_ok_and_me(client: TestClient[Any, Any]) -> None:
    resp = await client.post("/api/auth/login", json={"email": STUDENT[0], "password": STUDENT[1]})
    assert resp.status == 200
    body = await resp.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 30 * 60
    me = await client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert (await me.json())["role"] == "student"


async def test_login_same_error_for_unknown_email_and_wrong_password(
    client: TestClient[Any, Any],
) -> None:
    wrong = await client.post("/api/auth/login", json={"email": STUDENT[0], "password": "nope"})
    unknown = await client.post("/api/auth/login", json={"email": "x@example.com", "password": "n"})
    assert wrong.status == unknown.status == 401
    assert (await error_of(wrong)) == (await error_of(unknown))


async def test_login_bad_bodies(client: TestClient[Any, Any]) -> None:
    for body, status in [
        (b"not json", 400),
        (b"[1, 2]", 400),
        (b'{"email": "a@b.c"}', 422),
        (b'{"email": 5, "password": "x"}', 422),
        (b"x" * 10_000, 413),
    ]:
        resp = await client.post(
            "/api/auth/login", data=body, headers={"Content-Type": "application/json"}
        )
        assert resp.status == status, (body[:20], resp.status)
        await error_of(resp)


async def test_tokens_rejected(client: TestClient[Any, Any]) -> None:
    now = int(time.time())
    claims = {
        "sub": "2",
        "email": STUDENT[0],
        "role": "admin",
        "aud": "virtual-tutor:api",
        "iss": "virtual-tutor",
        "iat": now,
        "exp": now + 60,
    }
    forged = jwt.encode(claims, "another-secret-key-" + "y" * 40, algorithm="HS256")
    expired = jwt.encode({**claims, "iat": now - 120, "exp": now - 60}, SECRET, algorithm="HS256")
    none_alg = jwt.encode(claims, None, algorithm="none")
    for headers in [
        {},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer garbage"},
        {"Authorization": f"Bearer {forged}"},
        {"Authorization": f"Bearer {expired}"},
        {"Authorization": f"Bearer {none_alg}"},
    ]:
        resp = await client.get("/api/tutors", headers=headers)
        assert resp.status == 401, headers
        err = await error_of(resp)
        if headers.get("Authorization", "").endswith(expired):
            assert "expired" in err["message"]


async def test_tutors_list_and_roles(client: TestClient[Any, Any]) -> None:
    student = await login(client)
    admin = await login(client, ADMIN)
    tutors = await (await client.get("/api/tutors", headers=student)).json()
    assert {t["language"] for t in tutors} >= {"en", "zh"}

    new = {"name": "Max", "subject": "Maths", "language": "en", "voice": "am_michael"}
    assert (await client.post("/api/tutors", json=new, headers=student)).status == 403
    resp = await client.post("/api/tutors", json=new, headers=admin)
    assert resp.status == 201
    created = await resp.json()
    resp = await client.patch(
        f"/api/tutors/{created['id']}", json={"subject": "Algebra"}, headers=admin
    )
    assert (await resp.json())["subject"] == "Algebra"
    assert created["answer_policy"] == "course_first"  # the default: teach beyond the notes
    resp = await client.patch(
        f"/api/tutors/{created['id']}", json={"answer_policy": "course_only"}, headers=admin
    )
    assert (await resp.json())["answer_policy"] == "course_only"
    for bad in [
        {"answer_policy": "anything_goes"},
        {"language": "xx"},
        {"name": ""},
        {"kb_id": "one"},
        {"kb_id": 999},
        {"colour": "red"},
    ]:
        resp = await client.patch(f"/api/tutors/{created['id']}", json=bad, headers=admin)
        assert resp.status == 422, bad
        await error_of(resp)
    assert (await client.post("/api/tutors", json={"name": "x"}, headers=admin)).status == 422
    assert (await client.delete(f"/api/tutors/{created['id']}", headers=student)).status == 403
    assert (await client.delete(f"/api/tutors/{created['id']}", headers=admin)).status == 204
    assert (await client.get(f"/api/tutors/{created['id']}", headers=admin)).status == 404
    assert (await client.patch("/api/tutors/abc", json={}, headers=admin)).status == 404


async def test_sessions_lifecycle_and_ownership(client: TestClient[Any, Any]) -> None:
    student = await login(client)
    admin = await login(client, ADMIN)
    resp = await client.post("/api/student/sessions", json={"tutor_id": 1}, headers=student)
    assert resp.status == 201
    grant = await resp.json()
    assert grant["status"] == "active" and grant["engine_token"]
    assert grant["engine_url"].startswith(str(client.make_url("/v1/calls/")))

    listed = await (await client.get("/api/student/sessions", headers=student)).json()
    assert [s["session_id"] for s in listed] == [grant["session_id"]]
    assert listed[0]["tutor_name"] == "Ada"
    # Another user sees neither the list entry nor the session itself.
    assert await (await client.get("/api/student/sessions", headers=admin)).json() == []
    other = await client.get(f"/api/student/sessions/{grant['session_id']}", headers=admin)
    assert other.status == 404
    assert (
        await client.post(f"/api/student/sessions/{grant['session_id']}/end", headers=admin)
    ).status == 404

    resp = await client.post(f"/api/student/sessions/{grant['session_id']}/end", headers=student)
    assert (await resp.json()) == {"session_id": grant["session_id"], "status": "ended"}
    detail = await (
        await client.get(f"/api/student/sessions/{grant['session_id']}", headers=student)
    ).json()
    assert detail["status"] == "ended" and detail["end_reason"] == "ended_by_student"
    assert detail["turns"] == []


async def test_session_bad_input(client: TestClient[Any, Any]) -> None:
    student = await login(client)
    for body, status in [
        ({"tutor_id": 999}, 404),
        ({"tutor_id": "1"}, 422),
        ({}, 422),
        ({"tutor_id": True}, 422),
    ]:
        resp = await client.post("/api/student/sessions", json=body, headers=student)
        assert resp.status == status, body
        await error_of(resp)
    assert (await client.post("/api/student/sessions", json={"tutor_id": 1})).status == 401
    assert (await client.get("/api/student/sessions/nope", headers=student)).status == 404


async def test_capacity_503_with_retry_after(make_client: MakeClient) -> None:
    client = await make_client(MAX_SESSIONS="1")
    student = await login(client)
    first = await client.post("/api/student/sessions", json={"tutor_id": 1}, headers=student)
    assert first.status == 201
    second = await client.post("/api/student/sessions", json={"tutor_id": 1}, headers=student)
    assert second.status == 503 and second.headers["Retry-After"]
    assert (await error_of(second))["code"] == "engine_full"
    sid = (await first.json())["session_id"]
    await client.post(f"/api/student/sessions/{sid}/end", headers=student)
    third = await client.post("/api/student/sessions", json={"tutor_id": 1}, headers=student)
    assert third.status == 201


async def test_health(client: TestClient[Any, Any]) -> None:
    body = await (await client.get("/health")).json()
    assert body["status"] == "ok"
    assert body["engine"]["sessions_max"] == 10 and body["engine"]["sessions_in_use"] == 0


async def test_cors(make_client: MakeClient) -> None:
    client = await make_client(CORS_ORIGINS="http://school.example")
    pre = await client.options(
        "/api/auth/login",
        headers={"Origin": "http://school.example", "Access-Control-Request-Method": "POST"},
    )
    assert pre.status == 204
    assert pre.headers["Access-Control-Allow-Origin"] == "http://school.example"
    other = await client.get("/health", headers={"Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    err = await client.get("/api/tutors", headers={"Origin": "http://school.example"})
    assert err.status == 401 and err.headers["Access-Control-Allow-Origin"]


async def test_unknown_route_is_json_404(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/api/nothing-here")
    assert resp.status == 404
    assert (await error_of(resp))["code"] == "not_found"
