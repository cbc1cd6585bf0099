"""`virtual-tutor engine` as a real process of its own, for tests that kill or pool engines."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from pathlib import Path

import aiohttp

from tests.conftest import ROOT, SECRET


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def engine_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A light engine (no voice models, no LLM) on a free port, on the tests' database."""
    port = free_port()
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path}/test.db",
        "SECRET_KEY": SECRET,
        "VAR_DIR": str(tmp_path),
        "MODELS_DIR": str(ROOT / "var" / "models"),
        "LOAD_VOICE_MODELS": "false",
        "ENABLE_LLM": "false",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        **extra,
    }


async def start_engine(env: dict[str, str], url: str) -> asyncio.subprocess.Process:
    """`virtual-tutor engine` in a process of its own, once it answers /health."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "virtual_tutor.cli",
        "engine",
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 180
    async with aiohttp.ClientSession() as http:
        while True:
            assert proc.returncode is None, "the engine exited during start-up"
            try:
                async with http.get(f"{url}/health") as resp:
                    if resp.status == 200:
                        return proc
            except aiohttp.ClientError:
                pass
            assert time.monotonic() < deadline, "the engine did not start"
            await asyncio.sleep(0.5)


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        await proc.wait()
