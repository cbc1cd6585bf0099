"""The WebSocket transport over a real server: a guide-style client, the real LLM and database."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from auth import TokenIssuer
from auth.tokens import CallGrant
from media_engine.socket_protocol import MAX_AUDIO_MESSAGE_BYTES
from signaling.keys import SETTINGS
from storage import Database, SessionRecord
from tests.calls import eventually, in_use, open_session, plain_tutor
from tests.conftest import SECRET, MakeClient, login
from tests.socket_client import GuideClient, drain


async def stored_turns(client: TestClient[Any, Any], headers: dict[str, str], sid: str) -> Any:
    detail = await (await client.get(f"/api/student/sessions/{sid}", headers=headers)).json()
    return detail


async def test_text_over_both_addresses_is_answered_and_stored(
    client: TestClient[Any, Any],
) -> None:
    headers = await login(client)
    tutor = await plain_tutor(client)
    for address in ("engine_url", "websocket_url"):
        grant = await open_session(client, headers, tutor_id=tutor)
        assert grant["websocket_url"].startswith("ws://")
        assert grant["websocket_url"].endswith(f"/ws/ws/{grant['session_id']}")
        guide, hello = await GuideClient.connect(client, grant[address], grant["engine_token"])
        assert hello["type"] == "hello" and hello["session_id"] == grant["session_id"]
        assert hello["limits"]["max_audio_message_bytes"] == MAX_AUDIO_MESSAGE_BYTES
        assert "pcm_s16le_16k_mono" in hello["formats"]["in"]

        await guide.send_text("Say hello to me in one short sentence.")
        reply = await guide.until("text", role="assistant")
        assert reply["content"].strip()
        deltas = [e["content"] for e in guide.received if e["type"] == "text_delta"]
        assert "".join(deltas).strip() == reply["content"]

        detail = await stored_turns(client, headers, grant["session_id"])
        assert [(t["role"], t["source"]) for t in detail["turns"]] == [
            ("user", "typed"),
            ("assistant", "generated"),
        ]
        assert detail["turns"][1]["text"] == reply["content"]
        await guide.close()

        async def released() -> bool:
            return await in_use(client) == 0

        await eventually(released)
        detail = await stored_turns(client, headers, grant["session_id"])
        assert (detail["status"], detail["end_reason"]) == ("ended", "hangup")


async def test_refusals_and_bad_messages_are_clear(client: TestClient[Any, Any]) -> None:
    headers = await login(client)
    grant = await open_session(client, headers, tutor_id=await plain_tutor(client))
    url, sid = grant["websocket_url"], grant["session_id"]

    # Not an upgrade: the address says what it takes.
    resp = await client.get(f"/ws/ws/{sid}")
    assert resp.status == 426

    issuer = TokenIssuer(secret_key=SECRET)
    expired = issuer.engine_token(CallGrant(session_id=sid, user_id=1), ttl_s=-60)
    other = issuer.engine_token(CallGrant(session_id="0" * 32, user_id=1), ttl_s=60)
    for token, says in (("not-a-token", "invalid"), (expired, "expired"), (other, "that call")):
        guide, error = await GuideClient.connect(client, url, token)
        assert error["type"] == "error" and error["code"] == "unauthorized"
        code, reason = await guide.closed()
        assert code == 4401 and says in reason, (code, reason)
    assert await in_use(client) == 1  # refusals cost nothing: the session waits for its call

    guide, hello = await GuideClient.connect(client, url, grant["engine_token"])
    assert hello["type"] == "hello"
    second, error = await GuideClient.connect(client, grant["engine_url"], grant["engine_token"])
    assert error["code"] == "call_exists"
    assert (await second.closed())[0] == 4409

    bad = [
        ("{not json", "bad_message"),
        (json.dumps(["text"]), "bad_message"),
        (json.dumps({"type": "dance"}), "unknown_type"),
        (json.dumps({"type": "text", "content": ""}), "bad_message"),
        (json.dumps({"type": "text", "content": "x" * 20_000}), "message_too_large"),
        (
            json.dumps({"type": "audio", "data": "a" * (MAX_AUDIO_MESSAGE_BYTES + 8)}),
            "message_too_large",
        ),
        (json.dumps({"type": "audio", "data": "%%%"}), "bad_audio"),
        (json.dumps({"type": "audio", "data": "AAAA"}), "no_voice"),
    ]
    for raw, code in bad:
        await guide.ws.send_str(raw)
        error = await guide.until("error", timeout=30)
        assert error["code"] == code, (raw[:40], error)
    await guide.ws.send_bytes(b"\x00\x01")
    assert (await guide.until("error", timeout=30))["code"] == "bad_message"

    # The call goes on: a good message after the bad ones is answered.
    await guide.interrupt()
    await guide.send_text("Say yes.")
    assert (await guide.until("text", role="assistant"))["content"]
    assert not [e for e in await drain(guide, 0.5) if e["type"] == "error"]

    # Ending the session from the API closes the socket and frees the slot.
    resp = await client.post(f"/api/student/sessions/{sid}/end", headers=headers)
    assert resp.status == 200
    code, reason = await guide.closed()
    assert code == 1000 and reason == "ended_by_student"
    assert await in_use(client) == 0
    # An ended session cannot be joined again.
    late, error = await GuideClient.connect(client, url, grant["engine_token"])
    assert error["code"] == "not_found" and (await late.closed())[0] == 4404


async def test_socket_calls_end_on_session_timeout_and_shutdown(make_client: MakeClient) -> None:
    client = await make_client(CONNECT_TIMEOUT_SECONDS="4", SESSION_TIMEOUT_SECONDS="6")
    headers = await login(client)
    grant = await open_session(client, headers)
    guide, _ = await GuideClient.connect(client, grant["websocket_url"], grant["engine_token"])
    code, reason = await guide.closed(timeout=30)
    assert (code, reason) == (4408, "session_timeout")
    assert [e["reason"] for e in guide.received if e["type"] == "bye"] == ["session_timeout"]
    await eventually(lambda: _none_in_use(client))

    grant = await open_session(client, headers)
    # A client of its own, which the test server does not close before it shuts down.
    async with aiohttp.ClientSession() as http:
        guide, _ = await GuideClient.connect(
            client, grant["websocket_url"], grant["engine_token"], http=http
        )
        database_url = client.app[SETTINGS].database_url
        closing = asyncio.ensure_future(guide.closed(timeout=30))
        await client.close()  # the server shuts down: the socket is closed, not waited for
        assert (await closing)[0] == 1001
        assert [e["reason"] for e in guide.received if e["type"] == "bye"] == ["shutdown"]
    db = Database(database_url)
    async with db.session() as s:
        record = await s.get(SessionRecord, grant["session_id"])
        assert record is not None and record.end_reason == "shutdown"
    await db.close()


async def _none_in_use(client: TestClient[Any, Any]) -> bool:
    return await in_use(client) == 0
