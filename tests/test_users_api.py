"""Accounts against a real server: creating, listing, changing and deleting them, passwords
and their policy, importing a class list, and who may do each."""

from __future__ import annotations

from aiohttp import FormData
from sqlalchemy import func, select

from signaling.keys import DB
from storage import SessionRecord, Turn, User
from tests.accounts_support import (
    Client,
    admin,
    as_new,
    error_of,
    new_class,
    new_user,
    server,
)
from tests.conftest import STUDENT, login

__all__ = ["server"]


async def emails(client: Client, headers: dict[str, str]) -> list[str]:
    resp = await client.get("/api/users", headers=headers)
    assert resp.status == 200, await resp.text()
    return [u["email"] for u in await resp.json()]


async def test_admin_creates_accounts_with_a_given_or_a_generated_password(
    server: Client,
) -> None:
    boss = await admin(server)
    teacher = await new_user(server, boss, "t@school.org", "teacher", password="lessons-2024!")
    assert "one_time_password" not in teacher
    assert teacher["role"] == "teacher" and teacher["disabled"] is False
    await login(server, ("t@school.org", "lessons-2024!"))
    student = await new_user(server, boss, "s@school.org")
    generated = student["one_time_password"]
    assert len(generated) >= 10
    await login(server, ("s@school.org", generated))
    assert await emails(server, boss) == [
        "admin@example.com",
        "student@example.com",
        "t@school.org",
        "s@school.org",
    ]


async def test_bad_accounts_are_refused_with_a_reason(server: Client) -> None:
    boss = await admin(server)
    good = {"email": "a@school.org", "display_name": "A", "role": "student"}
    for change, status, words in [
        ({"email": "not-an-email"}, 422, "email"),
        ({"email": None}, 422, "email"),
        ({"display_name": ""}, 422, "display_name"),
        ({"role": "headmaster"}, 422, "role"),
        ({"colour": "red"}, 422, "unknown"),
        ({"password": "short"}, 422, "at least 10"),
        ({"password": "a@school.org"}, 422, "email"),
        ({"password": "password123"}, 422, "common"),
        ({"password": 1234567890}, 422, "string"),
        ({"email": "ADMIN@example.com"}, 409, "exists"),
    ]:
        resp = await server.post("/api/users", json=good | change, headers=boss)
        assert resp.status == status, change
        assert words in (await error_of(resp))["message"], change
    assert "a@school.org" not in await emails(server, boss)
    student = await login(server)
    assert (await server.post("/api/users", json=good, headers=student)).status == 403
    assert (await server.post("/api/users", json=good)).status == 401
    assert (await server.get("/api/users", headers=student)).status == 403


async def test_a_teacher_creates_and_sees_only_their_own_students(server: Client) -> None:
    boss = await admin(server)
    ann_user, ann = await as_new(server, boss, "ann@school.org", "teacher")
    _, bob = await as_new(server, boss, "bob@school.org", "teacher")
    mine = await new_user(server, ann, "pupil@school.org")
    assert mine["created_by"] == ann_user["id"]
    for role in ("teacher", "admin"):
        body = {"email": f"x-{role}@school.org", "display_name": "X", "role": role}
        resp = await server.post("/api/users", json=body, headers=ann)
        assert resp.status == 403 and "student" in (await error_of(resp))["message"]
    assert await emails(server, ann) == ["pupil@school.org"]
    assert await emails(server, bob) == []
    # A student put in Bob's class becomes one of his students too.
    seven = await new_class(server, bob)
    await server.post(
        f"/api/classes/{seven['id']}/members", json={"email": STUDENT[0]}, headers=bob
    )
    assert await emails(server, bob) == [STUDENT[0]]


async def test_changing_accounts_and_who_may(server: Client) -> None:
    boss = await admin(server)
    _, ann = await as_new(server, boss, "ann@school.org", "teacher")
    _, bob = await as_new(server, boss, "bob@school.org", "teacher")
    pupil = await new_user(server, ann, "pupil@school.org")
    url = f"/api/users/{pupil['id']}"
    resp = await server.patch(url, json={"display_name": "Pupil One"}, headers=ann)
    assert resp.status == 200 and (await resp.json())["display_name"] == "Pupil One"
    resp = await server.patch(url, json={"role": "teacher"}, headers=ann)
    assert resp.status == 403 and "admin" in (await error_of(resp))["message"]
    assert (await server.patch(url, json={"disabled": True}, headers=bob)).status == 403
    demo_id = (await (await server.get("/api/auth/me", headers=await login(server))).json())["id"]
    demo = f"/api/users/{demo_id}"
    assert (await server.patch(demo, json={"display_name": "x"}, headers=ann)).status == 403
    student = await login(server)
    assert (await server.patch(url, json={"display_name": "x"}, headers=student)).status == 403
    for bad in [{"disabled": "yes"}, {"display_name": ""}, {"role": 3}, {"email": "b@c.de"}]:
        resp = await server.patch(url, json=bad, headers=boss)
        assert resp.status == 422, bad
        await error_of(resp)
    assert (await server.patch("/api/users/999", json={}, headers=boss)).status == 404
    assert (await server.patch("/api/users/abc", json={}, headers=boss)).status == 404
    me = (await (await server.get("/api/auth/me", headers=boss)).json())["id"]
    resp = await server.patch(f"/api/users/{me}", json={"disabled": True}, headers=boss)
    assert resp.status == 409
    resp = await server.patch(url, json={"role": "teacher"}, headers=boss)
    assert (await resp.json())["role"] == "teacher"


async def test_a_disabled_account_is_refused_at_the_next_request(server: Client) -> None:
    boss = await admin(server)
    student = await login(server)
    me = await (await server.get("/api/auth/me", headers=student)).json()
    assert (await server.get("/api/tutors", headers=student)).status == 200
    resp = await server.patch(f"/api/users/{me['id']}", json={"disabled": True}, headers=boss)
    assert resp.status == 200 and (await resp.json())["disabled"] is True
    resp = await server.get("/api/tutors", headers=student)
    assert resp.status == 401 and "disabled" in (await error_of(resp))["message"]
    resp = await server.post("/api/auth/login", json={"email": STUDENT[0], "password": STUDENT[1]})
    assert resp.status == 403 and (await error_of(resp))["code"] == "account_disabled"
    await server.patch(f"/api/users/{me['id']}", json={"disabled": False}, headers=boss)
    # Enabled again, the account logs in anew; the token it had stays dead.
    assert (await server.get("/api/tutors", headers=student)).status == 401
    assert (await server.get("/api/tutors", headers=await login(server))).status == 200


async def test_a_new_role_applies_to_the_tokens_already_issued(server: Client) -> None:
    boss = await admin(server)
    student = await login(server)
    me = await (await server.get("/api/auth/me", headers=student)).json()
    tutor = {"name": "Max", "subject": "Maths"}
    assert (await server.post("/api/tutors", json=tutor, headers=student)).status == 403
    await server.patch(f"/api/users/{me['id']}", json={"role": "teacher"}, headers=boss)
    assert (await server.post("/api/tutors", json=tutor, headers=student)).status == 201


async def test_changing_ones_own_password(server: Client) -> None:
    student = await login(server)
    url = "/api/auth/password"
    body = {"current_password": STUDENT[1], "new_password": "a-much-better-one"}
    resp = await server.post(url, json=body | {"current_password": "wrong"}, headers=student)
    assert resp.status == 403 and (await error_of(resp))["code"] == "wrong_password"
    for new, words in [
        ("short", "at least 10 characters"),
        (STUDENT[0], "email"),
        ("qwertyuiop", "too common"),
        ("zzzzzzzzzzzz", "too common"),
        (STUDENT[1], "differ"),
    ]:
        resp = await server.post(url, json=body | {"new_password": new}, headers=student)
        assert resp.status == 422, new
        error = await error_of(resp)
        assert error["code"] == "weak_password" and words in error["message"], new
    for bad in [{}, {"current_password": STUDENT[1]}, {"current_password": 1, "new_password": "x"}]:
        assert (await server.post(url, json=bad, headers=student)).status == 422
    assert (await server.post(url, json=body)).status == 401
    resp = await server.post(url, json=body, headers=student)
    assert resp.status == 200
    fresh = {"Authorization": f"Bearer {(await resp.json())['access_token']}"}
    assert (await server.get("/api/auth/me", headers=fresh)).status == 200
    assert (await server.get("/api/auth/me", headers=student)).status == 401  # the old token
    await login(server, (STUDENT[0], "a-much-better-one"))
    old = await server.post("/api/auth/login", json={"email": STUDENT[0], "password": STUDENT[1]})
    assert old.status == 401


async def test_resetting_anothers_password(server: Client) -> None:
    boss = await admin(server)
    _, ann = await as_new(server, boss, "ann@school.org", "teacher")
    _, bob = await as_new(server, boss, "bob@school.org", "teacher")
    pupil, pupil_headers = await as_new(server, ann, "pupil@school.org")
    url = f"/api/users/{pupil['id']}/password"
    assert (await server.post(url, headers=bob)).status == 403
    resp = await server.post(url, headers=pupil_headers)  # one's own: with the current one
    assert resp.status == 409 and "/api/auth/password" in (await error_of(resp))["message"]
    resp = await server.post(url, headers=ann)
    assert resp.status == 200
    reset = await resp.json()
    assert reset["id"] == pupil["id"] and reset["one_time_password"] != pupil["one_time_password"]
    assert (await server.get("/api/auth/me", headers=pupil_headers)).status == 401
    await login(server, ("pupil@school.org", reset["one_time_password"]))
    resp = await server.post(url, headers=boss)
    assert resp.status == 200
    await login(server, ("pupil@school.org", (await resp.json())["one_time_password"]))
    demo_id = (await (await server.get("/api/auth/me", headers=await login(server))).json())["id"]
    assert (await server.post(f"/api/users/{demo_id}/password", headers=ann)).status == 403
    student = await login(server)
    assert (await server.post(url, headers=student)).status == 403
    me = (await (await server.get("/api/auth/me", headers=boss)).json())["id"]
    assert (await server.post(f"/api/users/{me}/password", headers=boss)).status == 409
    assert (await server.post("/api/users/999/password", headers=boss)).status == 404


async def add_session(client: Client, student_id: int) -> str:
    async with client.app[DB].session() as s, s.begin():
        record = SessionRecord(id=f"s-{student_id}", student_id=student_id, tutor_id=1)
        s.add(record)
        await s.flush()
        s.add(Turn(session_id=record.id, turn_id="t1", role="student", text="Hello"))
    return record.id


async def sessions_of(client: Client, student_id: int) -> int:
    async with client.app[DB].session() as s:
        query = select(func.count()).where(SessionRecord.student_id == student_id)
        return int(await s.scalar(query) or 0)


async def test_deleting_an_account_keeps_or_removes_its_sessions(server: Client) -> None:
    boss = await admin(server)
    _, ann = await as_new(server, boss, "ann@school.org", "teacher")
    keep, keep_headers = await as_new(server, boss, "keep@school.org")
    gone = await new_user(server, boss, "gone@school.org")
    await add_session(server, keep["id"])
    await add_session(server, gone["id"])
    url = f"/api/users/{keep['id']}"
    for query in ("", "?sessions=maybe"):
        resp = await server.delete(url + query, headers=boss)
        assert resp.status == 422 and "sessions" in (await error_of(resp))["message"]
    assert (await server.delete(url + "?sessions=keep", headers=ann)).status == 403
    assert (await server.delete(url + "?sessions=keep", headers=boss)).status == 204
    assert (await server.get("/api/auth/me", headers=keep_headers)).status == 401
    assert "keep@school.org" not in await emails(server, boss)
    assert await sessions_of(server, keep["id"]) == 1  # kept, with its turns
    async with server.app[DB].session() as s:
        wiped = await s.get(User, keep["id"])
        assert wiped is not None and "keep" not in wiped.email and wiped.disabled
        assert await s.scalar(select(func.count()).select_from(Turn)) == 2
    await new_user(server, boss, "keep@school.org")  # the address is free again
    assert (await server.delete(url + "?sessions=keep", headers=boss)).status == 404
    resp = await server.delete(f"/api/users/{gone['id']}?sessions=remove", headers=boss)
    assert resp.status == 204
    assert await sessions_of(server, gone["id"]) == 0
    async with server.app[DB].session() as s:
        assert await s.get(User, gone["id"]) is None
        assert await s.scalar(select(func.count()).select_from(Turn)) == 1
    me = (await (await server.get("/api/auth/me", headers=boss)).json())["id"]
    assert (await server.delete(f"/api/users/{me}?sessions=keep", headers=boss)).status == 409


CLASS_LIST = (
    b"email,display_name\nli@school.org,Li Wei\n\nmo@school.org,Mo Salah\nnia@school.org,Nia\n"
)


async def test_importing_a_class_list(server: Client) -> None:
    boss = await admin(server)
    _, ann = await as_new(server, boss, "ann@school.org", "teacher")
    seven = await new_class(server, ann)
    resp = await server.post(
        f"/api/users/import?class_id={seven['id']}", data=CLASS_LIST, headers=ann
    )
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert body["class_id"] == seven["id"]
    made = body["users"]
    assert [(u["email"], u["display_name"], u["role"]) for u in made] == [
        ("li@school.org", "Li Wei", "student"),
        ("mo@school.org", "Mo Salah", "student"),
        ("nia@school.org", "Nia", "student"),
    ]
    await login(server, ("mo@school.org", made[1]["one_time_password"]))
    got = await (await server.get(f"/api/classes/{seven['id']}", headers=ann)).json()
    assert [m["email"] for m in got["members"]] == [
        "li@school.org",
        "mo@school.org",
        "nia@school.org",
    ]
    # Without a class, as a multipart upload.
    form = FormData()
    form.add_field("file", b"zed@school.org,Zed\n", filename="class.csv", content_type="text/csv")
    resp = await server.post("/api/users/import", data=form, headers=boss)
    assert resp.status == 201 and (await resp.json())["class_id"] is None
    assert "zed@school.org" in await emails(server, boss)


async def test_a_bad_row_imports_nothing_and_names_its_line(server: Client) -> None:
    boss = await admin(server)
    _, ann = await as_new(server, boss, "ann@school.org", "teacher")
    _, bob = await as_new(server, boss, "bob@school.org", "teacher")
    before = await emails(server, boss)
    for data, lines in [
        (b"email,display_name\nok@school.org,Ok\nbroken,Name\nok@school.org,Again\n", [3, 4]),
        (b"ok@school.org,Ok\nthree@school.org,A,B\nnoname@school.org,\n", [2, 3]),
        (b"ok@school.org,Ok\n" + STUDENT[0].upper().encode() + b",Taken\n", [2]),
        (b"", [1]),
        (b"\xff\xfe\x00bad", [1]),
    ]:
        resp = await server.post("/api/users/import", data=data, headers=ann)
        assert resp.status == 422, data
        error = (await resp.json())["error"]
        assert error["code"] == "invalid_rows" and "nothing was imported" in error["message"]
        assert [p["line"] for p in error["lines"]] == lines, (data, error)
    assert await emails(server, boss) == before
    bob_class = await new_class(server, bob)
    one = b"ok@school.org,Ok\n"
    resp = await server.post(f"/api/users/import?class_id={bob_class['id']}", data=one, headers=ann)
    assert resp.status == 403
    assert (
        await server.post("/api/users/import?class_id=999", data=one, headers=ann)
    ).status == 404
    assert (await server.post("/api/users/import?class_id=x", data=one, headers=ann)).status == 422
    student = await login(server)
    assert (await server.post("/api/users/import", data=one, headers=student)).status == 403
    assert await emails(server, boss) == before
    too_big = b"a@b.cd,x\n" * 40_000
    assert (await server.post("/api/users/import", data=too_big, headers=ann)).status == 413
