"""How calls end when the engine stops, and what a restarted engine does with the sessions its
last run left active."""

from __future__ import annotations

from sqlalchemy import update

from signaling.keys import SETTINGS
from storage import Database, SessionRecord
from tests.calls import next_event, open_call, open_session
from tests.conftest import MakeClient, login


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
