"""What students asked, and their sessions, as teachers read them: questions typed over real
calls, grouped by topic through the API (JSON and CSV), with the role checks; voices without
an engine's voice models."""

from __future__ import annotations

import csv
import io
from typing import Any

from aiohttp.test_utils import TestClient

from tests.calls import (
    demo_material_ready,
    eventually,
    next_event,
    open_call,
    turns,
    wait_reply,
)
from tests.conftest import ADMIN, MakeClient, login

Client = TestClient[Any, Any]
COVERED = "What do plants need for photosynthesis?"
UNCOVERED = ("Who won the football World Cup in 1998?", "Which country won the World Cup?")
SMALL_TALK = "Hello there"


async def ask_all(client: Client, headers: dict[str, str], questions: list[str]) -> str:
    """Type each question in one call to Ada (tutor 1) and wait for each reply; then say hello
    (small talk, no question) and wait only until it is stored."""
    grant, call = await open_call(client, headers, tutor_id=1)
    for question in questions:
        call.send_text(question)
        await next_event(call, "sources", timeout=60)
        await wait_reply(call, timeout=240, on_event=lambda m: None)
    call.send_text(SMALL_TALK)
    sid = str(grant["session_id"])

    async def stored() -> bool:
        return SMALL_TALK in [text for _, text in await turns(client, headers, sid)]

    await eventually(stored, timeout=60)
    await call.hang_up()
    return sid


async def test_questions_by_topic_uncovered_first(make_client: MakeClient) -> None:
    client = await make_client()
    await demo_material_ready(client)
    admin = await login(client, ADMIN)
    # course_only: the engine itself says it does not know, so no model time is spent there.
    resp = await client.patch("/api/tutors/1", json={"answer_policy": "course_only"}, headers=admin)
    assert resp.status == 200
    student = await login(client)
    session_id = await ask_all(client, student, [COVERED, *UNCOVERED])

    resp = await client.get("/api/tutors/1/questions?days=7", headers=admin)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["days"] == 7
    topics = body["topics"]
    assert [t["covered"] for t in topics] == [False, True], topics
    first, second = topics
    assert first["count"] == 2 and first["uncovered"] == 2
    assert {q["text"] for q in first["questions"]} == set(UNCOVERED)
    assert first["topic"] in UNCOVERED
    assert second["topic"] == COVERED and second["count"] == 1
    question = second["questions"][0]
    assert question["session_id"] == session_id and question["covered"] is True
    assert question["asked_at"].endswith("+00:00")
    # Small talk is not a question.
    assert all(SMALL_TALK not in q["text"] for t in topics for q in t["questions"])

    resp = await client.get("/api/tutors/1/questions?days=7&format=csv", headers=admin)
    assert resp.status == 200 and resp.content_type == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO((await resp.text()).lstrip("\ufeff"))))
    assert rows[0] == ["topic", "topic_covered", "topic_count", "question", "covered", "asked_at"]
    assert [r[1] for r in rows[1:]] == ["no", "no", "yes"]
    assert {r[3] for r in rows[1:3]} == set(UNCOVERED) and rows[3][3] == COVERED

    # Another tutor's questions are its own.
    resp = await client.get("/api/tutors/2/questions", headers=admin)
    assert (await resp.json())["topics"] == []

    # The teacher's view of the session: who, what, and the sources of the grounded reply.
    resp = await client.get("/api/sessions?tutor_id=1", headers=admin)
    listed = await resp.json()
    assert [s["session_id"] for s in listed] == [session_id]
    assert listed[0]["student"] and listed[0]["tutor_name"]
    resp = await client.get(f"/api/sessions/{session_id}", headers=admin)
    detail = await resp.json()
    replies = [t for t in detail["turns"] if t["role"] == "assistant"]
    assert replies[0]["sources"] and replies[0]["sources"][0]["title"]
    assert all(not t["sources"] for t in detail["turns"] if t["role"] == "user")
    assert (await client.get("/api/sessions?tutor_id=2", headers=admin)).status == 200


async def test_students_and_bad_input_are_refused(client: Client) -> None:
    student = await login(client)
    for path in ("/api/tutors/1/questions", "/api/sessions", "/api/sessions/x", "/api/voices"):
        resp = await client.get(path, headers=student)
        assert resp.status == 403, path
        assert "error" in await resp.json()
    resp = await client.post("/api/voices/sample", json={"voice": "af_heart"}, headers=student)
    assert resp.status == 403
    assert (await client.get("/api/tutors/1/questions")).status == 401

    admin = await login(client, ADMIN)
    for query in ("days=0", "days=366", "days=x", "format=xml"):
        resp = await client.get(f"/api/tutors/1/questions?{query}", headers=admin)
        assert resp.status == 422, query
        assert "error" in await resp.json()
    assert (await client.get("/api/tutors/999/questions", headers=admin)).status == 404
    assert (await client.get("/api/sessions?tutor_id=abc", headers=admin)).status == 422
    assert (await client.get("/api/sessions/nope", headers=admin)).status == 404


async def test_voices_need_the_engines_voice_models(client: Client) -> None:
    # The tests' server loads no voice models (LOAD_VOICE_MODELS=false): a clear 503.
    admin = await login(client, ADMIN)
    resp = await client.get("/api/voices", headers=admin)
    assert resp.status == 503
    assert (await resp.json())["error"]["code"] == "voices_unavailable"
    resp = await client.post("/api/voices/sample", json={"voice": "af_heart"}, headers=admin)
    assert resp.status == 503
