"""Who reads which questions and sessions in the teacher's console, on a real server: a teacher
their own tutors' questions and their own students' sessions with those tutors, an admin
everything, a student nothing. Another teacher's tutor or session is a 403, as the tutors
routes answer; one that does not exist is a 404."""

from __future__ import annotations

from tests.accounts_support import Client, Headers, admin, as_new, error_of, server
from tests.conftest import login

__all__ = ["server"]


async def new_tutor(client: Client, by: Headers, name: str) -> int:
    resp = await client.post("/api/tutors", json={"name": name, "subject": "History"}, headers=by)
    assert resp.status == 201, await resp.text()
    return int((await resp.json())["id"])


async def a_session(client: Client, student: Headers, tutor_id: int) -> str:
    resp = await client.post("/api/student/sessions", json={"tutor_id": tutor_id}, headers=student)
    assert resp.status == 201, await resp.text()
    sid = str((await resp.json())["session_id"])
    assert (await client.post(f"/api/student/sessions/{sid}/end", headers=student)).status == 200
    return sid


async def ids(client: Client, who: Headers, query: str = "") -> list[str]:
    resp = await client.get(f"/api/sessions{query}", headers=who)
    assert resp.status == 200, await resp.text()
    return [s["session_id"] for s in await resp.json()]


async def status_of(client: Client, url: str, who: Headers) -> int:
    resp = await client.get(url, headers=who)
    if resp.status >= 400:
        await error_of(resp)
    return resp.status


async def test_a_teacher_reads_only_their_own_tutors_and_students(server: Client) -> None:
    boss = await admin(server)
    _, ann = await as_new(server, boss, "ann@school.org", "teacher")
    _, bob = await as_new(server, boss, "bob@school.org", "teacher")
    _, anns_pupil = await as_new(server, ann, "pupil@school.org")
    _, bobs_pupil = await as_new(server, bob, "other@school.org")
    demo = await login(server)
    rex, max_ = await new_tutor(server, ann, "Rex"), await new_tutor(server, bob, "Max")
    mine = await a_session(server, anns_pupil, rex)
    not_my_student = await a_session(server, bobs_pupil, rex)
    not_my_tutor = await a_session(server, anns_pupil, max_)
    demo_tutor = await a_session(server, demo, 1)

    # Sessions: Ann's student with Ann's tutor, nothing else.
    assert await ids(server, ann) == [mine]
    assert await ids(server, ann, f"?tutor_id={rex}") == [mine]
    assert await status_of(server, f"/api/sessions?tutor_id={max_}", ann) == 403
    assert await status_of(server, "/api/sessions?tutor_id=1", ann) == 403  # the admins' demo tutor
    assert await status_of(server, "/api/sessions?tutor_id=9999", ann) == 404
    assert await status_of(server, f"/api/sessions/{mine}", ann) == 200
    for other in (not_my_student, not_my_tutor, demo_tutor):
        assert await status_of(server, f"/api/sessions/{other}", ann) == 403, other
    assert await status_of(server, "/api/sessions/no-such-session", ann) == 404
    # Bob's tutor was used only by Ann's student, Bob's student used only Ann's tutor.
    assert await ids(server, bob) == []

    # Questions: only of tutors the teacher manages, in JSON and CSV.
    for suffix in ("", "&format=csv"):
        assert await status_of(server, f"/api/tutors/{rex}/questions?days=7{suffix}", ann) == 200
        assert await status_of(server, f"/api/tutors/{max_}/questions?days=7{suffix}", ann) == 403
        assert await status_of(server, f"/api/tutors/1/questions?days=7{suffix}", ann) == 403
        assert await status_of(server, f"/api/tutors/9999/questions?days=7{suffix}", ann) == 404
        assert await status_of(server, f"/api/tutors/{max_}/questions?days=7{suffix}", bob) == 200

    # An admin reads everything; a student nothing.
    everything = {mine, not_my_student, not_my_tutor, demo_tutor}
    assert set(await ids(server, boss)) == everything
    assert await ids(server, boss, f"?tutor_id={rex}") == [not_my_student, mine]
    assert await status_of(server, f"/api/sessions/{not_my_tutor}", boss) == 200
    assert await status_of(server, "/api/tutors/1/questions?days=7", boss) == 200
    for url in ("/api/sessions", f"/api/sessions/{mine}", f"/api/tutors/{rex}/questions"):
        assert await status_of(server, url, anns_pupil) == 403, url
