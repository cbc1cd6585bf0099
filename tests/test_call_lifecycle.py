"""How calls end when the engine stops, and what a restarted engine does with the sessions its
last run left active."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp.test_utils import TestClient
from aiortc.mediastreams import AudioStreamTrack
from sqlalchemy import update

from signaling.keys import SETTINGS
from storage import Database, SessionRecord
from tests.calls import eventually, in_use, next_event, open_call, open_session
from tests.conftest import MakeClient, login
from virtual_tutor.client import CallConnection


async def test_shutdown_says_bye_before_closing_calls(make_client: MakeClient) -> None:
    client = await make_client()
    headers = await login(client)
    opened = [await open_call(client, headers) for _ in range(2)]
    await client.close()
    for _, call in opened:
        bye = await next_event(call, "bye", timeout=10)
        assert bye["reason"] == "shutdown"
        await call.pc.close()


async def test_restart_ends_the_sessions_the_engine_left_active(make_client: MakeClient) -> None:
    client = await make_client()
    headers = await login(client)
    mine = [await open_session(client, headers) for _ in range(2)]
    url = client.app[SETTINGS].database_url
    await client.close()
    # As if the engine had died: its sessions are still active. One belongs to another engine.
    db = Database(url)
    async with db.session() as s, s.begin():
        await s.execute(
            update(SessionRecord).values(status="active", ended_at=None, end_reason=None)
        )
        await s.execute(
            update(SessionRecord)
            .where(SessionRecord.id == mine[1]["session_id"])
            .values(engine="http://gpu-engine-2.example:8001")
        )
    await db.close()

    client = await make_client()
    headers = await login(client)
    restarted = await (
        await client.get(f"/api/student/sessions/{mine[0]['session_id']}", headers=headers)
    ).json()
    assert restarted["status"] == "ended" and restarted["end_reason"] == "engine_restart"
    other = await (
        await client.get(f"/api/student/sessions/{mine[1]['session_id']}", headers=headers)
    ).json()
    assert other["status"] == "active"


async def test_a_silent_client_is_ended_and_a_live_one_is_not(make_client: MakeClient) -> None:
    client = await make_client(CALL_IDLE_TIMEOUT_SECONDS="5")
    headers = await login(client)
    # Audio alone keeps a call alive (a client that sends no pings)...
    speaking = CallConnection(
        client.session, *(await grant_of(client, headers)), microphone=AudioStreamTrack()
    )
    await speaking.connect()
    speaking.stop_heartbeat()
    # ...and so do pings alone (a text-only client).
    typing_grant, typing = await open_call(client, headers)
    await asyncio.sleep(8)
    assert await in_use(client) == 2
    # Without either, the call ends and its slot is released within seconds, not ICE's 30.
    started = time.monotonic()
    typing.stop_heartbeat()
    await eventually(lambda: one_left(client), timeout=20)
    assert time.monotonic() - started < 15
    detail = await (
        await client.get(f"/api/student/sessions/{typing_grant['session_id']}", headers=headers)
    ).json()
    assert detail["end_reason"] == "vanished"
    await typing.pc.close()
    await speaking.hang_up()


async def grant_of(client: TestClient[Any, Any], headers: dict[str, str]) -> tuple[str, str]:
    grant = await open_session(client, headers)
    return grant["engine_url"], grant["engine_token"]


async def one_left(client: TestClient[Any, Any]) -> bool:
    return await in_use(client) == 1
