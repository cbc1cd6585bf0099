"""A pool of engines (ENGINE_POOL): real `virtual-tutor engine` processes register themselves in
the shared database; the server places sessions on the least-loaded live one, tries another
when one answers 503, and ends the sessions of an engine that died."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import update

from signaling.keys import DB
from storage import Database, EngineRecord
from storage import engines as registry
from tests.calls import eventually, open_session
from tests.conftest import MakeClient, login
from tests.engine_procs import engine_env, start_engine, stop


def host(grant: dict[str, Any]) -> str:
    parts = urlsplit(grant["engine_url"])
    return f"{parts.scheme}://{parts.netloc}"


async def start_pool(
    tmp_path: Path, count: int, **extra: str
) -> tuple[list[str], list[asyncio.subprocess.Process]]:
    envs = [engine_env(tmp_path, ENGINE_POOL="true", **extra) for _ in range(count)]
    # One after another: each registers in turn, so their ids (the order among equals) are
    # the order of `urls`.
    procs = [await start_engine(env, env["PUBLIC_URL"]) for env in envs]
    return [env["PUBLIC_URL"] for env in envs], procs


async def live(client: TestClient[Any, Any]) -> list[str]:
    engine = (await (await client.get("/health")).json())["engine"]
    return [e["url"] for e in engine["engines"] if e["live"]]


async def test_sessions_are_placed_least_loaded_first_and_a_full_engine_is_passed_over(
    make_client: MakeClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The API first (it migrates and seeds the shared database), then the engines. Their
    # heartbeats are slow here, so the registry's counts are only what placing wrote.
    slow = {"ENGINE_HEARTBEAT_SECONDS": "600", "ENGINE_STALE_SECONDS": "900"}
    client = await make_client(ENGINE_POOL="true", MAX_SESSIONS_PER_USER="5", **slow)
    urls, procs = await start_pool(tmp_path, 3, MAX_SESSIONS="1", **slow)
    try:
        assert await live(client) == urls
        # The web client may talk to any engine of the pool, and only to them.
        policy = (await client.get("/")).headers["Content-Security-Policy"]
        connect = policy.split("connect-src ", 1)[1].split(";", 1)[0].split()
        ws = [url.replace("http://", "ws://") for url in urls]
        assert sorted(connect) == sorted(["'self'", *urls, *ws])
        headers = await login(client)
        first = await open_session(client, headers)
        assert host(first) == urls[0]
        # As if the first engine's last heartbeat had been sent before that session: the pool
        # offers it again, it answers 503 (full), and the session goes to the next one.
        db: Database = client.app[DB]
        async with db.session() as s, s.begin():
            await s.execute(
                update(EngineRecord).where(EngineRecord.url == urls[0]).values(in_use=0)
            )
        caplog.set_level(logging.INFO, logger="signaling.engine_pool")
        second = await open_session(client, headers)
        assert host(second) == urls[1]
        assert any("did not take a session" in r.getMessage() for r in caplog.records)
        third = await open_session(client, headers)
        assert host(third) == urls[2]
        full = await client.post("/api/student/sessions", json={"tutor_id": 1}, headers=headers)
        assert full.status == 503 and full.headers["Retry-After"]
        assert (await full.json())["error"]["code"] == "engine_full"
        # Ending a session reaches its own engine, whose slot is free again.
        ended = await client.post(
            f"/api/student/sessions/{second['session_id']}/end", headers=headers
        )
        assert ended.status == 200
        health = await (await client.get("/health")).json()
        assert health["engine"]["mode"] == "pool" and health["engine"]["sessions_max"] == 3
    finally:
        for proc in procs:
            await stop(proc)


async def test_a_dead_engines_sessions_end_and_new_ones_go_elsewhere(
    make_client: MakeClient, tmp_path: Path
) -> None:
    timing = {"ENGINE_HEARTBEAT_SECONDS": "0.5", "ENGINE_STALE_SECONDS": "4"}
    client = await make_client(ENGINE_POOL="true", **timing)
    urls, procs = await start_pool(tmp_path, 2, MAX_SESSIONS="2", **timing)
    try:
        headers = await login(client)
        grant = await open_session(client, headers)
        assert host(grant) == urls[0]
        procs[0].send_signal(signal.SIGKILL)  # no goodbye: it just stops reporting
        await procs[0].wait()

        async def ended() -> bool:
            resp = await client.get(f"/api/student/sessions/{grant['session_id']}", headers=headers)
            detail = await resp.json()
            return bool(detail["status"] == "ended" and detail["end_reason"] == "engine_lost")

        await eventually(ended, timeout=60)
        assert await live(client) == [urls[1]]
        again = await open_session(client, headers)
        assert host(again) == urls[1]
    finally:
        for proc in procs:
            await stop(proc)


async def test_a_stopped_engine_leaves_the_pool(make_client: MakeClient, tmp_path: Path) -> None:
    client = await make_client(ENGINE_POOL="true")
    urls, procs = await start_pool(tmp_path, 1)
    await stop(procs[0])
    assert await registry.engines(client.app[DB]) == []
    resp = await client.post(
        "/api/student/sessions", json={"tutor_id": 1}, headers=await login(client)
    )
    assert resp.status == 503
    assert "no engine is running" in (await resp.json())["error"]["message"]
