"""Per-student session limits and offers the engine cannot serve: clear 4xx JSON, no leaks."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from aiortc import RTCPeerConnection
from yarl import URL

from tests.calls import in_use, open_session
from tests.conftest import ADMIN, MakeClient, login


async def test_sessions_per_student_are_limited(make_client: MakeClient) -> None:
    client = await make_client(MAX_SESSIONS_PER_USER="2")
    student = await login(client)
    grants = [await open_session(client, student) for _ in range(2)]
    third = await client.post("/api/student/sessions", json={"tutor_id": 1}, headers=student)
    assert third.status == 429
    error = (await third.json())["error"]
    assert error["code"] == "too_many_sessions" and "end one" in error["message"]
    assert await in_use(client) == 2
    # Someone else is not held back by this student's sessions.
    await open_session(client, await login(client, ADMIN))
    sid = grants[0]["session_id"]
    await client.post(f"/api/student/sessions/{sid}/end", headers=student)
    await open_session(client, student)
    assert await in_use(client) == 3


async def test_video_only_offer_is_422_and_the_session_survives(
    client: TestClient[Any, Any],
) -> None:
    student = await login(client)
    grant = await open_session(client, student)
    path = URL(grant["engine_url"]).path
    headers = {"Authorization": f"Bearer {grant['engine_token']}"}
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    resp = await client.post(
        path, json={"sdp": pc.localDescription.sdp, "type": "offer"}, headers=headers
    )
    await pc.close()
    assert resp.status == 422, await resp.text()
    assert (await resp.json())["error"]["code"] == "unsupported_offer"
    assert await in_use(client) == 1
    # Audio alongside video is fine (the video is not used).
    pc = RTCPeerConnection()
    pc.addTransceiver("audio", direction="sendrecv")
    pc.addTransceiver("video", direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    resp = await client.post(
        path, json={"sdp": pc.localDescription.sdp, "type": "offer"}, headers=headers
    )
    assert resp.status == 201, await resp.text()
    await pc.close()
    await client.post(f"/api/student/sessions/{grant['session_id']}/end", headers=student)
    assert await in_use(client) == 0


async def test_an_audio_offer_without_opus_is_422(client: TestClient[Any, Any]) -> None:
    """The tutor speaks Opus (the engine encodes it itself); an offer of PCMU/PCMA alone is
    refused, clearly, and the session can still connect with a proper offer."""
    student = await login(client)
    grant = await open_session(client, student)
    path = URL(grant["engine_url"]).path
    headers = {"Authorization": f"Bearer {grant['engine_token']}"}
    pc = RTCPeerConnection()
    pc.addTransceiver("audio", direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    opus = [line.split()[0].split(":")[1] for line in sdp.splitlines() if "opus/48000" in line]
    without = "\r\n".join(
        line.replace(f" {opus[0]} ", " ").replace(f" {opus[0]}\r", "\r")
        for line in sdp.split("\r\n")
        if f":{opus[0]} " not in line
    )
    assert "opus" not in without.lower()
    resp = await client.post(path, json={"sdp": without, "type": "offer"}, headers=headers)
    await pc.close()
    assert resp.status == 422, await resp.text()
    error = (await resp.json())["error"]
    assert error["code"] == "unsupported_offer" and "Opus" in error["message"]
    assert await in_use(client) == 1
    await client.post(f"/api/student/sessions/{grant['session_id']}/end", headers=student)
