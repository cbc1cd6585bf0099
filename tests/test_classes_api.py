"""Classes against a real server: their members, the tutors a student sees through them, and
who owns and may change tutors and knowledge bases."""

from __future__ import annotations

from tests.accounts_support import (
    Client,
    Headers,
    admin,
    as_new,
    error_of,
    new_class,
    new_user,
    server,
)
from tests.conftest import STUDENT, login

__all__ = ["server"]


async def my_id(client: Client, headers: Headers) -> int:
    return int((await (await client.get("/api/auth/me", headers=headers)).json())["id"])


async def test_a_class_and_its_members(server: Client) -> None:
    boss = await admin(server)
    ann_user, ann = await as_new(server, boss, "ann@school.org", "teacher")
    pupil = await new_user(server, ann, "pupil@school.org")
    seven = await new_class(server, ann, "7B")
    assert seven["teacher_id"] == ann_user["id"] and seven["members"] == []
    url = f"/api/classes/{seven['id']}"
    resp = await server.post(f"{url}/members", json={"user_id": pupil["id"]}, headers=ann)
    assert resp.status == 201
    resp = await server.post(f"{url}/members", json={"email": STUDENT[0].upper()}, headers=ann)
    assert [m["email"] for m in (await resp.json())["members"]] == [
        STUDENT[0],
        "pupil@school.org",
    ]
    again = await server.post(f"{url}/members", json={"user_id": pupil["id"]}, headers=ann)
    assert again.status == 201 and len((await again.json())["members"]) == 2
    resp = await server.patch(url, json={"name": "8B"}, headers=ann)
    assert (await resp.json())["name"] == "8B"
    listed = await (await server.get("/api/classes", headers=ann)).json()
    assert [(c["id"], c["name"], len(c["members"])) for c in listed] == [(seven["id"], "8B", 2)]
    assert (await server.delete(f"{url}/members/{pupil['id']}", headers=ann)).status == 204
    assert (await server.delete(f"{url}/members/{pupil['id']}", headers=ann)).status == 404
    got = await (await server.get(url, headers=ann)).json()
    assert [m["email"] for m in got["members"]] == [STUDENT[0]]
    assert (await server.delete(url, headers=ann)).status == 204
    assert (await server.get(url, headers=ann)).status == 404
    assert await (await server.get("/api/classes", headers=ann)).json() == []


async def test_bad_class_requests(server: Client) -> None:
    boss = await admin(server)
    teacher_user, ann = await as_new(server, boss, "ann@school.org", "teacher")
    seven = await new_class(server, ann)
    url = f"/api/classes/{seven['id']}"
    for body in [{}, {"name": ""}, {"name": "x" * 121}, {"name": "A", "colour": "red"}]:
        resp = await server.post("/api/classes", json=body, headers=ann)
        assert resp.status == 422, body
        await error_of(resp)
    for body in [
        {},
        {"user_id": 1, "email": STUDENT[0]},
        {"user_id": "1"},
        {"user_id": None},
        {"email": "nobody"},
        {"user_id": teacher_user["id"]},  # a teacher is no member
    ]:
        resp = await server.post(f"{url}/members", json=body, headers=ann)
        assert resp.status == 422, body
    resp = await server.post(f"{url}/members", json={"email": "who@school.org"}, headers=ann)
    assert resp.status == 404
    assert (await server.post(f"{url}/members", json={"user_id": 999}, headers=ann)).status == 404
    resp = await server.post("/api/classes/999/members", json={"user_id": 2}, headers=ann)
    assert resp.status == 404
    assert (await server.get("/api/classes/abc", headers=ann)).status == 404
    assert (await server.patch(url, json={"name": 5}, headers=ann)).status == 422
    # An admin names the teacher, who must be one.
    resp = await server.post("/api/classes", json={"name": "C", "teacher_id": 2}, headers=boss)
    assert resp.status == 422 and "not a teacher" in (await error_of(resp))["message"]
    made = await new_class(server, boss, "C", teacher_id=teacher_user["id"])
    assert made["teacher_id"] == teacher_user["id"]


async def test_only_the_classes_teacher_or_an_admin_manages_it(server: Client) -> None:
    boss = await admin(server)
    _, ann = await as_new(server, boss, "ann@school.org", "teacher")
    _, bob = await as_new(server, boss, "bob@school.org", "teacher")
    student = await login(server)
    seven = await new_class(server, ann)
    url = f"/api/classes/{seven['id']}"
    assert (await server.get("/api/classes", headers=student)).status == 403
    assert (await server.post("/api/classes", json={"name": "x"}, headers=student)).status == 403
    assert (await server.get(url, headers=student)).status == 403
    for method, path, body in [
        ("GET", url, None),
        ("PATCH", url, {"name": "mine"}),
        ("DELETE", url, None),
        ("POST", f"{url}/members", {"email": STUDENT[0]}),
        ("DELETE", f"{url}/members/2", None),
    ]:
        resp = await server.request(method, path, json=body, headers=bob)
        assert resp.status == 403, (method, path)
        await error_of(resp)
    assert await (await server.get("/api/classes", headers=bob)).json() == []
    resp = await server.post("/api/classes", json={"name": "x", "teacher_id": 1}, headers=bob)
    assert resp.status == 403
    ann_id = await my_id(server, ann)
    resp = await server.patch(url, json={"teacher_id": await my_id(server, bob)}, headers=ann)
    assert resp.status == 403
    # An admin sees and changes every class, and can hand it to another teacher.
    assert [c["id"] for c in await (await server.get("/api/classes", headers=boss)).json()] == [
        seven["id"]
    ]
    resp = await server.patch(url, json={"teacher_id": await my_id(server, bob)}, headers=boss)
    assert resp.status == 200
    assert (await server.get(url, headers=bob)).status == 200
    assert (await server.get(url, headers=ann)).status == 403
    assert ann_id != (await resp.json())["teacher_id"]


async def test_students_see_the_tutors_of_their_classes_without_persona_prompts(
    server: Client,
) -> None:
    boss = await admin(server)
    _, ann = await as_new(server, boss, "ann@school.org", "teacher")
    pupil, pupil_headers = await as_new(server, ann, "pupil@school.org")
    demo = await login(server)  # in no class
    seven = await new_class(server, ann)
    await server.post(
        f"/api/classes/{seven['id']}/members", json={"user_id": pupil["id"]}, headers=ann
    )
    body = {
        "name": "Rex",
        "subject": "History",
        "persona_prompt": "You are Rex, a secret persona.",
        "everyone": False,
        "class_ids": [seven["id"]],
    }
    resp = await server.post("/api/tutors", json=body, headers=ann)
    assert resp.status == 201, await resp.text()
    rex = await resp.json()
    assert rex["class_ids"] == [seven["id"]] and rex["everyone"] is False
    assert rex["persona_prompt"] == body["persona_prompt"]
    demo_tutors = await (await server.get("/api/tutors", headers=demo)).json()
    pupil_tutors = await (await server.get("/api/tutors", headers=pupil_headers)).json()
    assert rex["id"] not in [t["id"] for t in demo_tutors]
    assert [t["id"] for t in pupil_tutors] == [t["id"] for t in demo_tutors] + [rex["id"]]
    for t in demo_tutors + pupil_tutors:
        assert "persona_prompt" not in t and "class_ids" not in t, t
    one = await (await server.get(f"/api/tutors/{rex['id']}", headers=pupil_headers)).json()
    assert one["name"] == "Rex" and "persona_prompt" not in one
    resp = await server.get(f"/api/tutors/{rex['id']}", headers=demo)
    assert resp.status == 404
    staff_view = await (await server.get(f"/api/tutors/{rex['id']}", headers=ann)).json()
    assert staff_view["persona_prompt"] == body["persona_prompt"]
    admin_list = await (await server.get("/api/tutors", headers=boss)).json()
    assert all("persona_prompt" in t for t in admin_list)
    # A session only with a tutor the student sees.
    resp = await server.post("/api/student/sessions", json={"tutor_id": rex["id"]}, headers=demo)
    assert resp.status == 404 and (await error_of(resp))["code"] == "tutor_not_found"
    resp = await server.post(
        "/api/student/sessions", json={"tutor_id": rex["id"]}, headers=pupil_headers
    )
    assert resp.status == 201, await resp.text()
    sid = (await resp.json())["session_id"]
    await server.post(f"/api/student/sessions/{sid}/end", headers=pupil_headers)
    # Marked for everyone, every student sees it.
    await server.patch(f"/api/tutors/{rex['id']}", json={"everyone": True}, headers=ann)
    assert (await server.get(f"/api/tutors/{rex['id']}", headers=demo)).status == 200
    # Taken out of the class, the student no longer sees a class-only tutor.
    await server.patch(
        f"/api/tutors/{rex['id']}", json={"everyone": False, "class_ids": []}, headers=ann
    )
    assert (await server.get(f"/api/tutors/{rex['id']}", headers=pupil_headers)).status == 404


async def test_a_teacher_changes_only_their_own_tutors(server: Client) -> None:
    boss = await admin(server)
    _, ann = await as_new(server, boss, "ann@school.org", "teacher")
    _, bob = await as_new(server, boss, "bob@school.org", "teacher")
    resp = await server.post("/api/tutors", json={"name": "Rex", "subject": "History"}, headers=ann)
    rex = await resp.json()
    assert rex["owner_id"] == await my_id(server, ann) and rex["everyone"] is True
    url = f"/api/tutors/{rex['id']}"
    assert (await server.patch(url, json={"name": "Bob's"}, headers=bob)).status == 403
    assert (await server.delete(url, headers=bob)).status == 403
    # The demo tutors belong to no teacher: admins manage them.
    assert (await server.patch("/api/tutors/1", json={"name": "x"}, headers=ann)).status == 403
    resp = await server.patch("/api/tutors/1", json={"subject": "Physics"}, headers=boss)
    assert resp.status == 200
    bobs_class = await new_class(server, bob)
    resp = await server.patch(url, json={"class_ids": [bobs_class["id"]]}, headers=ann)
    assert resp.status == 403
    for bad in [{"class_ids": [999]}, {"class_ids": "1"}, {"class_ids": [0]}, {"everyone": 1}]:
        resp = await server.patch(url, json=bad, headers=ann)
        assert resp.status == 422, bad
        await error_of(resp)
    assert (await server.patch(url, json={"name": "Rex II"}, headers=boss)).status == 200
    assert (await server.delete(url, headers=ann)).status == 204


async def test_a_teacher_manages_only_their_own_knowledge_bases(server: Client) -> None:
    boss = await admin(server)
    _, ann = await as_new(server, boss, "ann@school.org", "teacher")
    _, bob = await as_new(server, boss, "bob@school.org", "teacher")
    resp = await server.post("/api/knowledge-bases", json={"name": "History"}, headers=ann)
    kb = await resp.json()
    assert kb["owner_id"] == await my_id(server, ann)
    url = f"/api/knowledge-bases/{kb['id']}"
    for method, path, body in [
        ("GET", url, None),
        ("DELETE", url, None),
        ("GET", f"{url}/documents", None),
        ("GET", f"{url}/documents/1", None),
        ("DELETE", f"{url}/documents/1", None),
        ("PATCH", f"{url}/tutors", {"tutor_ids": []}),
        ("POST", f"{url}/search", {"query": "kings"}),
    ]:
        resp = await server.request(method, path, json=body, headers=bob)
        assert resp.status == 403, (method, path)
    assert await (await server.get("/api/knowledge-bases", headers=bob)).json() == []
    listed = await (await server.get("/api/knowledge-bases", headers=ann)).json()
    assert [k["id"] for k in listed] == [kb["id"]]
    # Bob cannot give his tutor Ann's base, nor can Ann attach hers to Bob's tutor.
    resp = await server.post(
        "/api/tutors", json={"name": "B", "subject": "S", "kb_id": kb["id"]}, headers=bob
    )
    assert resp.status == 403
    bobs = await (
        await server.post("/api/tutors", json={"name": "B", "subject": "S"}, headers=bob)
    ).json()
    resp = await server.patch(f"{url}/tutors", json={"tutor_ids": [bobs["id"]]}, headers=ann)
    assert resp.status == 403
    anns = await (
        await server.post(
            "/api/tutors", json={"name": "A", "subject": "S", "kb_id": kb["id"]}, headers=ann
        )
    ).json()
    assert anns["kb_id"] == kb["id"]
    # The demo bases have no owner: admins see and manage them, teachers do not.
    every = await (await server.get("/api/knowledge-bases", headers=boss)).json()
    demo = [k for k in every if k["owner_id"] is None]
    assert demo and kb["id"] in [k["id"] for k in every]
    assert (await server.get(f"/api/knowledge-bases/{demo[0]['id']}", headers=ann)).status == 403
    assert (await server.get(url, headers=boss)).status == 200
    assert (await server.delete(url, headers=ann)).status == 204
