"""Real calls over loopback: aiortc on both sides, the real embedded LLM, the real database."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
from aiohttp.test_utils import TestClient

from signaling.keys import SETTINGS
from storage import Database, SessionRecord
from tests.calls import (
    demo_material_ready,
    eventually,
    in_use,
    next_event,
    open_call,
    open_session,
    plain_tutor,
    wait_reply,
)
from tests.conftest import SECRET, MakeClient, login
from virtual_tutor.client import CallConnection


async def session_detail(client: TestClient[Any, Any], headers: dict[str, str], sid: str) -> Any:
    return await (await client.get(f"/api/student/sessions/{sid}", headers=headers)).json()


async def test_text_exchange_streams_and_is_stored(client: TestClient[Any, Any]) -> None:
    await demo_material_ready(client)  # Ada answers from her course material
    headers = await login(client)
    grant, call = await open_call(client, headers)
    deltas: list[str] = []
    call.send_text("What do plants need for photosynthesis?")
    reply = await wait_reply(
        call,
        timeout=120,
        on_event=lambda m: deltas.append(m["content"]) if m["type"] == "text_delta" else None,
    )
    assert len(deltas) > 1, "the reply must stream in pieces"
    assert "".join(deltas).strip() == reply["content"]
    words = reply["content"].lower()
    assert any(w in words for w in ("light", "sun", "water", "carbon")), words

    detail = await session_detail(client, headers, grant["session_id"])
    roles = [(t["role"], t["source"]) for t in detail["turns"]]
    assert roles == [("user", "typed"), ("assistant", "generated")]
    assert detail["turns"][1]["text"] == reply["content"]
    assert detail["turns"][1]["turn_id"] == reply["turn_id"]
    assert detail["turns"][1]["timings"]["llm_first_token_ms"] > 0
    await call.hang_up()


async def test_follow_up_uses_history(client: TestClient[Any, Any]) -> None:
    headers = await login(client)
    # A tutor without course material: this is about the conversation's own memory.
    _, call = await open_call(client, headers, tutor_id=await plain_tutor(client))
    call.send_text("My name is Zorblat. Just say hello to me.")
    await wait_reply(call, timeout=120, on_event=lambda m: None)
    call.send_text("What is my name? Reply with the name only.")
    reply = await wait_reply(call, timeout=120, on_event=lambda m: None)
    assert "zorblat" in reply["content"].lower()
    await call.hang_up()


async def test_bad_channel_messages_get_errors_and_call_goes_on(
    client: TestClient[Any, Any],
) -> None:
    headers = await login(client)
    _, call = await open_call(client, headers)
    for raw, code in [
        ("not json", "bad_message"),
        ("[1]", "bad_message"),
        (json.dumps({"type": "dance"}), "unknown_type"),
        (json.dumps({"type": "text", "content": "   "}), "bad_message"),
        (json.dumps({"type": "text", "content": "x" * 20_000}), "message_too_large"),
        (b"\xff\xfe", "bad_message"),
    ]:
        call.channel.send(raw)
        err = await next_event(call, "error", timeout=10)
        assert err["code"] == code, raw
    call.send_text("Say hi.")
    reply = await wait_reply(call, timeout=120, on_event=lambda m: None)
    assert reply["content"]
    await call.hang_up()


async def post_offer(
    client: TestClient[Any, Any], url: str, token: str, body: Any, ctype: str = "application/sdp"
) -> Any:
    return await client.session.post(
        url, data=body, headers={"Authorization": f"Bearer {token}", "Content-Type": ctype}
    )


async def test_bad_offers_and_tokens_leak_nothing(client: TestClient[Any, Any]) -> None:
    headers = await login(client)
    grant = await open_session(client, headers)
    url, token = grant["engine_url"], grant["engine_token"]
    assert (await post_offer(client, url, token, "v=0\r\nnonsense")).status == 400
    assert (await post_offer(client, url, token, "hello")).status == 400
    assert (await post_offer(client, url, token, "v=0\r\n" + "a" * 70_000)).status == 413
    assert (await post_offer(client, url, token, "v=0", ctype="text/plain")).status == 415
    assert (await post_offer(client, url, token, b"{", ctype="application/json")).status == 400
    now = int(time.time())
    claims = {
        "sub": grant["session_id"],
        "uid": 2,
        "aud": "virtual-tutor:call",
        "iss": "virtual-tutor",
        "iat": now,
        "exp": now + 60,
    }
    for bad in [
        jwt.encode(claims, None, algorithm="none"),
        jwt.encode(claims, "wrong-key-" + "z" * 40, algorithm="HS256"),
        jwt.encode({**claims, "exp": now - 1}, SECRET, algorithm="HS256"),
        headers["Authorization"].split()[1],  # a login token is not a call token
    ]:
        resp = await post_offer(client, url, bad, "v=0\r\n")
        assert resp.status == 401
        assert "error" in await resp.json()
    # A token for one session does not open another.
    other = await open_session(client, headers)
    resp = await post_offer(client, other["engine_url"], token, "v=0\r\n")
    assert resp.status == 401
    assert await in_use(client) == 2

    # After all that, the session still takes a good offer, as JSON this time.
    call = CallConnection(client.session, url, token)
    offer = await call.pc.createOffer()
    await call.pc.setLocalDescription(offer)
    resp = await post_offer(
        client,
        url,
        token,
        json.dumps({"sdp": call.pc.localDescription.sdp, "type": "offer"}),
        ctype="application/json",
    )
    assert resp.status == 201 and resp.headers["Location"].endswith(grant["session_id"])
    assert (await resp.json())["type"] == "answer"
    # A second offer for the same session is a conflict.
    assert (await post_offer(client, url, token, call.pc.localDescription.sdp)).status == 409
    await call.pc.close()
    for sid in (grant["session_id"], other["session_id"]):
        await client.post(f"/api/student/sessions/{sid}/end", headers=headers)
    assert await in_use(client) == 0


async def _zero(client: TestClient[Any, Any]) -> bool:
    return await in_use(client) == 0


async def test_slot_released_on_hang_up(client: TestClient[Any, Any]) -> None:
    headers = await login(client)
    grant, call = await open_call(client, headers)
    assert await in_use(client) == 1
    await call.hang_up()
    assert await in_use(client) == 0
    detail = await session_detail(client, headers, grant["session_id"])
    assert detail["status"] == "ended" and detail["end_reason"] == "hangup"


async def test_slot_released_when_client_just_disappears(client: TestClient[Any, Any]) -> None:
    headers = await login(client)
    grant, call = await open_call(client, headers)
    await call.pc.close()  # no DELETE: the peer connection simply goes away
    await eventually(lambda: _zero(client), timeout=20)  # CALL_IDLE_TIMEOUT_SECONDS, not ICE
    detail = await session_detail(client, headers, grant["session_id"])
    assert detail["status"] == "ended" and detail["end_reason"] in {"hangup", "failed", "vanished"}


async def test_slot_released_on_session_end(client: TestClient[Any, Any]) -> None:
    headers = await login(client)
    grant, call = await open_call(client, headers)
    resp = await client.post(f"/api/student/sessions/{grant['session_id']}/end", headers=headers)
    assert resp.status == 200
    assert await in_use(client) == 0
    await call.pc.close()


async def test_slot_released_when_call_never_connects(make_client: MakeClient) -> None:
    client = await make_client(CONNECT_TIMEOUT_SECONDS="1")
    headers = await login(client)
    grant = await open_session(client, headers)
    assert await in_use(client) == 1
    await eventually(lambda: _zero(client), timeout=10)
    detail = await session_detail(client, headers, grant["session_id"])
    assert detail["end_reason"] == "connect_timeout"


async def test_slot_released_on_session_timeout(make_client: MakeClient) -> None:
    # The connect deadline leaves a loaded machine time to connect; the session then times out.
    client = await make_client(CONNECT_TIMEOUT_SECONDS="4", SESSION_TIMEOUT_SECONDS="6")
    headers = await login(client)
    grant, call = await open_call(client, headers)
    await eventually(lambda: _zero(client), timeout=15)
    detail = await session_detail(client, headers, grant["session_id"])
    assert detail["end_reason"] == "session_timeout"
    await call.pc.close()


async def test_shutdown_closes_every_call(make_client: MakeClient) -> None:
    client = await make_client()
    headers = await login(client)
    opened = [await open_call(client, headers) for _ in range(2)]
    database_url = client.app[SETTINGS].database_url
    await client.close()  # runs the app's cleanup: every call closes, every session ends
    db = Database(database_url)
    async with db.session() as s:
        for grant, _ in opened:
            record = await s.get(SessionRecord, grant["session_id"])
            assert record is not None and record.end_reason == "shutdown"
    await db.close()
    for _, call in opened:
        await call.pc.close()
