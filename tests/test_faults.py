"""Faults around a live call, each ending in a clear state with nothing stored lost: the LLM
server down and stalled (Ollama), the client's process killed, the engine's process killed and
started again. Real servers and real aiortc peers over loopback throughout; processes that are
killed are real processes."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from signaling.app import create_app
from tests.calls import (
    eventually,
    in_use,
    next_event,
    open_call,
    open_session,
    outcome,
    plain_tutor,
    turns,
)
from tests.conftest import ROOT, MakeClient, login, make_settings
from tests.engine_procs import engine_env as make_engine_env
from tests.engine_procs import free_port, start_engine
from tests.fake_ollama import BEHAVIOUR, create_fake_ollama

# --- the LLM server ----------------------------------------------------------------------------


async def test_ollama_down_then_stalled_the_call_goes_on(
    make_client: MakeClient, tmp_path: Path
) -> None:
    port = free_port()  # nothing listens here yet: the LLM server is down
    settings = make_settings(
        tmp_path,
        OLLAMA_BASE_URL=f"http://127.0.0.1:{port}",
        DEFAULT_LLM_MODEL="tiny-tutor",
        OLLAMA_TIMEOUT_SECONDS="3",
    )
    client = await make_client(create_app(settings))
    headers = await login(client)
    grant, call = await open_call(client, headers, tutor_id=await plain_tutor(client))
    sid = grant["session_id"]

    call.send_text("Down?")
    error, _ = await outcome(call)
    assert error is not None and error["code"] == "llm_error" and error["retryable"], error

    ollama = create_fake_ollama()
    server = TestServer(ollama, port=port)
    await server.start_server()
    try:
        call.send_text("Back?")
        error, reply = await outcome(call)
        assert error is None and reply == "Ollama here: you asked about Back.", (error, reply)

        # Stalled before answering, then after the first word: each ends in a retryable
        # error after OLLAMA_TIMEOUT_SECONDS, not a turn that hangs.
        for before in (True, False):
            ollama[BEHAVIOUR].stall(before=before)
            started = time.monotonic()
            call.send_text(f"Slow {before}?")
            error, _ = await outcome(call, timeout=60)
            assert error is not None, before
            assert error["code"] == "llm_error" and error["retryable"], error
            assert time.monotonic() - started < 30  # 3 s and a loaded machine's allowance
            ollama[BEHAVIOUR].normal()

        call.send_text("Again?")
        error, reply = await outcome(call)
        assert error is None and reply == "Ollama here: you asked about Again.", (error, reply)
        assert await in_use(client) == 1
        await call.hang_up()
    finally:
        ollama[BEHAVIOUR].normal()
        await server.close()
    said = await turns(client, headers, sid)
    assert [text for role, text in said if role == "user"] == [
        "Down?",
        "Back?",
        "Slow True?",
        "Slow False?",
        "Again?",
    ]
    replies = [text for role, text in said if role == "assistant"]
    assert replies[0] == "Ollama here: you asked about Back."
    assert replies[-1] == "Ollama here: you asked about Again."
    assert await in_use(client) == 0


# --- a killed client ---------------------------------------------------------------------------

CLIENT = """
import asyncio, sys
import aiohttp
from virtual_tutor.client import CallConnection

async def main() -> None:
    async with aiohttp.ClientSession() as http:
        call = CallConnection(http, sys.argv[1], sys.argv[2])
        await call.connect()
        print("connected", flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_a_killed_client_releases_its_slot_within_the_idle_timeout(
    make_client: MakeClient,
) -> None:
    client = await make_client(CALL_IDLE_TIMEOUT_SECONDS="4")
    headers = await login(client)
    grant = await open_session(client, headers)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CLIENT,
        grant["engine_url"],
        grant["engine_token"],
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 120)
        assert line.strip() == b"connected"
        await asyncio.sleep(6)  # past the idle timeout: a live client is not ended
        assert await in_use(client) == 1
    finally:
        proc.kill()  # no bye, no DTLS close, no SCTP abort: the process is simply gone
        await proc.wait()
    killed = time.monotonic()
    await eventually(lambda: no_calls(client), timeout=40)
    # The idle timeout (4 s) and one check; the rest is allowance for a loaded machine.
    assert time.monotonic() - killed < 20
    detail = await (
        await client.get(f"/api/student/sessions/{grant['session_id']}", headers=headers)
    ).json()
    assert detail["status"] == "ended" and detail["end_reason"] == "vanished"


async def no_calls(client: TestClient[Any, Any]) -> bool:
    return await in_use(client) == 0


# --- a killed engine ---------------------------------------------------------------------------


@pytest.fixture
async def engine_env(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    yield make_engine_env(tmp_path)


async def test_a_killed_engine_restarted_ends_its_sessions(
    make_client: MakeClient, engine_env: dict[str, str]
) -> None:
    url = engine_env["PUBLIC_URL"]
    client = await make_client(ENGINE_URL=url)  # the API, on the same database
    engine = await start_engine(engine_env, url)
    try:
        headers = await login(client)
        opened = [await open_call(client, headers) for _ in range(2)]  # MAX_SESSIONS_PER_USER
        engine.send_signal(signal.SIGKILL)  # no bye, no end written: its sessions stay active
        await engine.wait()
        for _, call in opened:
            await call.pc.close()
        engine = await start_engine(engine_env, url)
        for grant, _ in opened:
            resp = await client.get(f"/api/student/sessions/{grant['session_id']}", headers=headers)
            detail = await resp.json()
            assert detail["status"] == "ended", detail
            assert detail["end_reason"] == "engine_restart", detail
        # The student's session slots are free again, and a new call works.
        _, call = await open_call(client, headers)
        call.send_text("Hello?")
        error = await next_event(call, "error")
        assert error["code"] == "llm_disabled"  # the engine runs without a model here
        await call.hang_up()
    finally:
        if engine.returncode is None:
            engine.terminate()
            await engine.wait()
