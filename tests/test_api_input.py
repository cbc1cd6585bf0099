"""Hostile input on every endpoint is a 4xx with a JSON body, never a 500: ids past the
database's range, deeply nested JSON, SDP that aiortc's parser chokes on."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from yarl import URL

from signaling.keys import ISSUER
from tests.calls import in_use, open_session
from tests.conftest import ADMIN, login
from virtual_tutor.client import CallConnection

HUGE = 2**63
DEEP = "[" * 2000


async def json_error(resp: Any) -> dict[str, Any]:
    assert 400 <= resp.status < 500, (resp.method, resp.url, resp.status, await resp.text())
    body = await resp.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    return dict(body["error"])


async def test_ids_past_the_database_range_are_refused(client: TestClient[Any, Any]) -> None:
    admin = await login(client, ADMIN)
    student = await login(client)
    service = {"Authorization": f"Bearer {client.app[ISSUER].service_token()}"}
    kb = await (
        await client.post("/api/knowledge-bases", json={"name": "Ids"}, headers=admin)
    ).json()
    for big in (HUGE, 2**64, 10**30, -(2**63) - 1, 0, -1):
        for method, path, body, headers in [
            ("POST", "/api/student/sessions", {"tutor_id": big}, student),
            ("POST", "/api/tutors", {"name": "n", "subject": "s", "kb_id": big}, admin),
            ("PATCH", "/api/tutors/1", {"kb_id": big}, admin),
            ("PATCH", f"/api/knowledge-bases/{kb['id']}/tutors", {"tutor_ids": [1, big]}, admin),
            ("POST", "/v1/sessions", {"tutor_id": big, "student_id": 2}, service),
            ("POST", "/v1/sessions", {"tutor_id": 1, "student_id": big}, service),
            ("POST", "/v1/sessions", {"tutor_id": 1, "student_id": 2, "kb_id": big}, service),
            ("GET", f"/api/tutors/{big}", None, admin),
            ("PATCH", f"/api/tutors/{big}", {"name": "x"}, admin),
            ("DELETE", f"/api/tutors/{big}", None, admin),
            ("GET", f"/api/knowledge-bases/{big}", None, admin),
            ("DELETE", f"/api/knowledge-bases/{big}", None, admin),
            ("GET", f"/api/knowledge-bases/{big}/documents", None, admin),
            ("GET", f"/api/knowledge-bases/{kb['id']}/documents/{big}", None, admin),
            ("DELETE", f"/api/knowledge-bases/{big}/documents/{big}", None, admin),
            ("POST", f"/api/knowledge-bases/{big}/search", {"query": "x"}, admin),
        ]:
            resp = await client.request(method, path, json=body, headers=headers)
            await json_error(resp)
    # Spellings int() accepts are not ids either.
    for odd in ("+1", "1_0", "%201", "٣", "01"):
        await json_error(await client.get(f"/api/tutors/{odd}", headers=admin))
    assert await in_use(client) == 0


async def test_deeply_nested_json_is_a_400_everywhere(client: TestClient[Any, Any]) -> None:
    admin = await login(client, ADMIN)
    student = await login(client)
    service = {"Authorization": f"Bearer {client.app[ISSUER].service_token()}"}
    grant = await open_session(client, student)
    call = {"Authorization": f"Bearer {grant['engine_token']}"}
    kb = await (
        await client.post("/api/knowledge-bases", json={"name": "Deep"}, headers=admin)
    ).json()
    for method, path, headers in [
        ("POST", "/api/auth/login", {}),
        ("POST", "/api/student/sessions", student),
        ("POST", "/api/tutors", admin),
        ("PATCH", "/api/tutors/1", admin),
        ("POST", "/api/knowledge-bases", admin),
        ("PATCH", f"/api/knowledge-bases/{kb['id']}/tutors", admin),
        ("POST", f"/api/knowledge-bases/{kb['id']}/search", admin),
        ("POST", "/v1/sessions", service),
        ("POST", URL(grant["engine_url"]).path, call),
    ]:
        for deep in (DEEP, '{"a":' * 800, "[" * 2000 + "]" * 2000):
            resp = await client.request(
                method, path, data=deep, headers={**headers, "Content-Type": "application/json"}
            )
            assert resp.status == 400, (path, resp.status)
            await json_error(resp)
    await client.post(f"/api/student/sessions/{grant['session_id']}/end", headers=student)


BASE = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
AUDIO = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\n"


async def test_sdp_the_parser_asserts_on_is_a_400(client: TestClient[Any, Any]) -> None:
    student = await login(client)
    grant = await open_session(client, student)
    headers = {
        "Authorization": f"Bearer {grant['engine_token']}",
        "Content-Type": "application/sdp",
    }
    for sdp in [
        BASE + "m=foo\r\n",
        BASE + AUDIO + "a=candidate:garbage\r\n",
        BASE + "m=audio notaport UDP/TLS/RTP/SAVPF 111\r\n",
        BASE + "m=audio 9 UDP/TLS/RTP/SAVPF x\r\n",
        BASE + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111\r\n",
    ]:
        resp = await client.post(URL(grant["engine_url"]).path, data=sdp, headers=headers)
        assert resp.status == 400, (sdp, resp.status)
        assert (await json_error(resp))["code"] == "bad_offer"
    # The session survives bad offers; ending it frees the slot.
    assert await in_use(client) == 1
    await client.post(f"/api/student/sessions/{grant['session_id']}/end", headers=student)
    assert await in_use(client) == 0


async def test_an_offer_without_a_fingerprint_is_refused_not_left_to_fail(
    client: TestClient[Any, Any],
) -> None:
    student = await login(client)
    grant = await open_session(client, student)
    probe = CallConnection(client.session, "", "")
    await probe.pc.setLocalDescription(await probe.pc.createOffer())
    offer = probe.pc.localDescription.sdp
    await probe.pc.close()
    headers = {
        "Authorization": f"Bearer {grant['engine_token']}",
        "Content-Type": "application/sdp",
    }
    for drop in ("a=fingerprint:", "a=ice-ufrag:", "a=ice-pwd:"):
        sdp = "\r\n".join(line for line in offer.split("\r\n") if not line.startswith(drop))
        resp = await client.post(URL(grant["engine_url"]).path, data=sdp, headers=headers)
        assert resp.status == 400, (drop, resp.status)
        assert (await json_error(resp))["code"] == "bad_offer"
    await client.post(f"/api/student/sessions/{grant['session_id']}/end", headers=student)
    assert await in_use(client) == 0


async def test_a_tutors_choice_fields_refuse_json_objects(client: TestClient[Any, Any]) -> None:
    # Found by bench/fuzz.py: a dict is unhashable, and the set lookup raised (a 500).
    admin = await login(client, ADMIN)
    for field in ("language", "answer_policy"):
        for value in ({"a": 1}, ["en"], 1):
            resp = await client.patch("/api/tutors/1", json={field: value}, headers=admin)
            assert resp.status == 422, (field, value, await resp.text())
            assert (await resp.json())["error"]["code"] == "invalid"
