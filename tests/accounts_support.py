"""Shared pieces of the account and class tests: a real server (create_app on a fresh SQLite
database, the in-process engine without a language model) and small API helpers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from signaling.app import create_app
from signaling.keys import EMBEDDER
from tests.conftest import ADMIN, LoopGuard, login, make_settings
from tests.test_knowledge_api import shared_embedder

Client = TestClient[Any, Any]
Headers = dict[str, str]


@pytest.fixture
async def server(aiohttp_client: Any, tmp_path: Path, loop_guard: LoopGuard) -> Client:
    app = create_app(make_settings(tmp_path, ENABLE_LLM="false"))
    app[EMBEDDER] = shared_embedder()
    client: Client = await aiohttp_client(app)
    loop_guard.start()
    return client


async def error_of(resp: Any) -> dict[str, Any]:
    body = await resp.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    return dict(body["error"])


async def admin(client: Client) -> Headers:
    return await login(client, ADMIN)


async def new_user(
    client: Client, by: Headers, email: str, role: str = "student", **extra: Any
) -> dict[str, Any]:
    body = {"email": email, "display_name": email.split("@")[0].title(), "role": role, **extra}
    resp = await client.post("/api/users", json=body, headers=by)
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())


async def as_new(
    client: Client, by: Headers, email: str, role: str = "student"
) -> tuple[dict[str, Any], Headers]:
    """A new account and a logged-in header for it."""
    user = await new_user(client, by, email, role)
    return user, await login(client, (email, user["one_time_password"]))


async def new_class(client: Client, by: Headers, name: str = "7B", **extra: Any) -> dict[str, Any]:
    resp = await client.post("/api/classes", json={"name": name, **extra}, headers=by)
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())
