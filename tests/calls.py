"""Helpers to open real WebRTC calls over loopback with the project's own client code."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import ADMIN, login
from virtual_tutor.client import CallConnection, ClientError


async def open_session(
    client: TestClient[Any, Any], headers: dict[str, str], tutor_id: int = 1
) -> dict[str, Any]:
    resp = await client.post("/api/student/sessions", json={"tutor_id": tutor_id}, headers=headers)
    assert resp.status == 201, await resp.text()
    grant: dict[str, Any] = await resp.json()
    return grant


async def open_call(
    client: TestClient[Any, Any], headers: dict[str, str], tutor_id: int = 1
) -> tuple[dict[str, Any], CallConnection]:
    grant = await open_session(client, headers, tutor_id)
    call = CallConnection(client.session, grant["engine_url"], grant["engine_token"])
    await call.connect()
    return grant, call


async def next_event(call: CallConnection, kind: str, timeout: float = 60.0) -> dict[str, Any]:
    """The next event of `kind`, skipping others."""
    deadline = time.monotonic() + timeout
    while True:
        message = await asyncio.wait_for(call.events.get(), deadline - time.monotonic())
        if message.get("type") == kind:
            return message


async def wait_reply(
    call: CallConnection, *, timeout: float, on_event: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    """Events until the final reply text (returned) or an error (raised)."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ClientError(f"no reply within {timeout:.0f} s")
        try:
            message = await asyncio.wait_for(call.events.get(), remaining)
        except TimeoutError:
            raise ClientError(f"no reply within {timeout:.0f} s") from None
        on_event(message)
        if message.get("type") == "error":
            raise ClientError(f"{message.get('code')}: {message.get('content')}")
        if message.get("type") == "text" and message.get("role") == "assistant":
            return message


async def in_use(client: TestClient[Any, Any]) -> int:
    body = await (await client.get("/health")).json()
    return int(body["engine"]["sessions_in_use"])


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def demo_material_ready(client: TestClient[Any, Any]) -> None:
    """The demo knowledge bases are ingested in the background after start: wait for them."""
    admin = await login(client, ADMIN)
    for kb in await (await client.get("/api/knowledge-bases", headers=admin)).json():

        async def ready(kb_id: int = kb["id"]) -> bool:
            docs = await (
                await client.get(f"/api/knowledge-bases/{kb_id}/documents", headers=admin)
            ).json()
            return bool(docs) and all(d["status"] == "ready" for d in docs)

        await eventually(ready, timeout=120)


async def plain_tutor(client: TestClient[Any, Any], language: str = "en") -> int:
    """A tutor without course material, for tests about the model rather than the material."""
    admin = await login(client, ADMIN)
    name = "Pat" if language == "en" else "王老师"
    resp = await client.post(
        "/api/tutors",
        json={"name": name, "subject": "Chat", "language": language},
        headers=admin,
    )
    assert resp.status == 201, await resp.text()
    return int((await resp.json())["id"])


async def turns(
    client: TestClient[Any, Any], headers: dict[str, str], sid: str
) -> list[tuple[str, str]]:
    """The session's stored turns as (role, text)."""
    resp = await client.get(f"/api/student/sessions/{sid}", headers=headers)
    detail: dict[str, Any] = await resp.json()
    return [(t["role"], t["text"]) for t in detail["turns"]]


async def outcome(call: CallConnection, timeout: float = 60) -> tuple[dict[str, Any] | None, str]:
    """How the last message's turn ended: its error event (if any) and the reply's final text
    (the turn's last event, empty when nothing was generated)."""
    deadline = time.monotonic() + timeout
    error = None
    while True:
        event = await asyncio.wait_for(call.events.get(), deadline - time.monotonic())
        assert event["type"] != "bye", event
        if event["type"] == "error":
            error = event
        if event["type"] == "text" and event.get("role") == "assistant":
            return error, str(event["content"])
