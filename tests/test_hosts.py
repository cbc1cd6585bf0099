"""The engine_url handed to clients never comes from a Host header nobody allowed."""

from __future__ import annotations

from tests.calls import in_use
from tests.conftest import MakeClient, login


async def test_engine_url_only_from_allowed_hosts(make_client: MakeClient) -> None:
    client = await make_client(ALLOWED_HOSTS="tutor.example, school.example")
    headers = await login(client)
    body = {"tutor_id": 1}
    forged = await client.post(
        "/api/student/sessions", json=body, headers={**headers, "Host": "evil.example"}
    )
    assert forged.status == 400
    assert (await forged.json())["error"]["code"] == "untrusted_host"
    assert await in_use(client) == 0
    ok = await client.post(
        "/api/student/sessions", json=body, headers={**headers, "Host": "Tutor.Example:8443"}
    )
    assert ok.status == 201, await ok.text()
    assert (await ok.json())["engine_url"].startswith("http://tutor.example:8443/v1/calls/")
    # Loopback is always where the server is when nothing is configured (development).
    local = await client.post("/api/student/sessions", json=body, headers=headers)
    assert (await local.json())["engine_url"].startswith("http://127.0.0.1:")


async def test_public_url_wins_over_any_host(make_client: MakeClient) -> None:
    client = await make_client(PUBLIC_URL="https://tutor.school.example/")
    headers = {**(await login(client)), "Host": "evil.example"}
    resp = await client.post("/api/student/sessions", json={"tutor_id": 1}, headers=headers)
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["engine_url"].startswith("https://tutor.school.example/v1/calls/")
