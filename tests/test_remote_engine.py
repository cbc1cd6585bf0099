"""The engine as a separate worker behind the signaling server (ENGINE_URL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from auth import TokenIssuer
from media_engine.api import create_engine_app
from media_engine.llm.base import LLM
from signaling.app import create_app
from signaling.seed import seed
from storage import Database
from tests.calls import open_call, wait_reply
from tests.conftest import SECRET, MakeClient, login, make_settings


async def test_calls_go_through_a_remote_engine(
    make_client: MakeClient, tmp_path: Path, real_llm: LLM
) -> None:
    engine = TestServer(create_engine_app(make_settings(tmp_path, MAX_SESSIONS="1"), llm=real_llm))
    await engine.start_server()
    try:
        engine_url = str(engine.make_url("")).rstrip("/")
        client = await make_client(
            create_app(make_settings(tmp_path, ENGINE_URL=engine_url), llm=real_llm)
        )
        health = await (await client.get("/health")).json()
        assert health["engine"]["mode"] == "remote" and health["engine"]["sessions_max"] == 1

        headers = await login(client)
        grant, call = await open_call(client, headers)
        assert grant["engine_url"].startswith(engine_url)
        call.send_text("Name one planet. One word.")
        reply = await wait_reply(call, timeout=120, on_event=lambda m: None)
        assert reply["content"]

        # The engine is full: the API says so with 503 and Retry-After.
        full = await client.post("/api/student/sessions", json={"tutor_id": 1}, headers=headers)
        assert full.status == 503 and full.headers["Retry-After"]

        # Ending through the API reaches the engine and frees its slot.
        await client.post(f"/api/student/sessions/{grant['session_id']}/end", headers=headers)
        health = await (await client.get("/health")).json()
        assert health["engine"]["sessions_in_use"] == 0
        detail = await (
            await client.get(f"/api/student/sessions/{grant['session_id']}", headers=headers)
        ).json()
        assert [t["role"] for t in detail["turns"]] == ["user", "assistant"]
        await call.pc.close()
    finally:
        await engine.close()


async def test_engine_management_api_needs_the_service_token(
    tmp_path: Path, real_llm: LLM, aiohttp_client: Any
) -> None:
    settings = make_settings(tmp_path)
    db = Database(settings.database_url)  # a standalone engine reads the tutors the API made
    await db.migrate()
    await seed(db, settings)
    await db.close()
    engine = await aiohttp_client(create_engine_app(settings, llm=real_llm))
    body = {"tutor_id": 1, "student_id": 2}
    assert (await engine.post("/v1/sessions", json=body)).status == 401
    access = TokenIssuer(secret_key=SECRET)
    wrong = {"Authorization": "Bearer " + access.service_token().replace(".", "x", 1)}
    assert (await engine.post("/v1/sessions", json=body, headers=wrong)).status == 401
    good = {"Authorization": "Bearer " + access.service_token()}
    resp = await engine.post("/v1/sessions", json=body, headers=good)
    assert resp.status == 201
    assert set(await resp.json()) == {"session_id", "engine_url", "engine_token", "websocket_url"}
    assert (await engine.post("/v1/sessions", json={"tutor_id": "x"}, headers=good)).status == 422
    unknown = await engine.post(
        "/v1/sessions", json={"tutor_id": 99, "student_id": 2}, headers=good
    )
    assert unknown.status == 404
    health = await (await engine.get("/health")).json()
    assert health["engine"]["sessions_in_use"] == 1


async def test_unreachable_engine(make_client: MakeClient, tmp_path: Path) -> None:
    client = await make_client(create_app(make_settings(tmp_path, ENGINE_URL="http://127.0.0.1:9")))
    headers = await login(client)
    resp = await client.post("/api/student/sessions", json={"tutor_id": 1}, headers=headers)
    assert resp.status == 502
    assert (await resp.json())["error"]["code"] == "engine_unavailable"
    health = await client.get("/health")
    assert health.status == 503 and (await health.json())["status"] == "degraded"
