"""Shared by the benchmarks: start a real server as a subprocess, percentiles, RSS."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from virtual_tutor.client import ClientError  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
STUDENT = ("student@example.com", "bench-student-pass")


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def summary(name: str, values_ms: list[float]) -> str:
    return (
        f"{name:34} n={len(values_ms):4}  p50={pct(values_ms, 50):8.1f} ms  "
        f"p95={pct(values_ms, 95):8.1f} ms  max={max(values_ms, default=float('nan')):8.1f} ms"
    )


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    pid: int


ADMIN = ("bench-admin@example.com", secrets.token_urlsafe(16))


async def rest(http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> Any:
    async with http.request(method, url, **kwargs) as resp:
        if resp.status >= 400:
            raise ClientError(f"{method} {url}: {resp.status} {await resp.text()}")
        return await resp.json()


async def bearer(
    http: aiohttp.ClientSession, server: str, email: str, password: str
) -> dict[str, str]:
    body = await rest(
        http, "POST", f"{server}/api/auth/login", json={"email": email, "password": password}
    )
    return {"Authorization": f"Bearer {body['access_token']}"}


async def wait_material(http: aiohttp.ClientSession, server: str, timeout: float = 600) -> None:
    """The demo knowledge bases are ingested after start: wait until every document is ready."""
    admin = await bearer(http, server, *ADMIN)
    deadline = time.monotonic() + timeout
    for kb in await rest(http, "GET", f"{server}/api/knowledge-bases", headers=admin):
        url = f"{server}/api/knowledge-bases/{kb['id']}/documents"
        while not (
            (docs := await rest(http, "GET", url, headers=admin))
            and all(d["status"] == "ready" for d in docs)
        ):
            if time.monotonic() > deadline:
                raise RuntimeError(f"knowledge base {kb['id']} not ready in {timeout:.0f} s")
            await asyncio.sleep(0.5)
    # And the tutors' system prompts, which the engine reads after start: a school's server is
    # started before its students call.
    while not (await rest(http, "GET", f"{server}/health"))["engine"].get("prompts_read", True):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the tutors' prompts were not read in {timeout:.0f} s")
        await asyncio.sleep(0.5)
    # And the course material's speech, which the engine makes while no call is open and keeps
    # (SPEECH_DIR, here var/speech): the first time, for a while.
    said = time.monotonic()
    while True:
        speech = (await rest(http, "GET", f"{server}/health"))["engine"].get("speech")
        if not speech or speech["done"]:
            break
        if time.monotonic() - said > 30:
            print(f"  (course speech made ahead: {speech['made']} of {speech['chunks']} chunks)")
            said = time.monotonic()
        await asyncio.sleep(1.0)


@asynccontextmanager
async def running_server(**env: str) -> AsyncIterator[Server]:
    """`virtual-tutor serve` on a fresh database and a free port, until the block ends.

    Its log, debug lines included, goes to the file that `BENCH_SERVER_LOG` names, if set
    (where the time went).
    """
    port = free_port()
    log_path = os.environ.get("BENCH_SERVER_LOG")
    with tempfile.TemporaryDirectory() as tmp:
        full_env = {
            **os.environ,
            "PORT": str(port),
            "HOST": "127.0.0.1",
            "VAR_DIR": tmp,
            "DATABASE_URL": f"sqlite:///{tmp}/bench.db",
            "MODELS_DIR": str(ROOT / "var" / "models"),
            "SPEECH_DIR": str(ROOT / "var" / "speech"),
            "SECRET_KEY": secrets.token_urlsafe(48),
            "DEMO_STUDENT_EMAIL": STUDENT[0],
            "DEMO_STUDENT_PASSWORD": STUDENT[1],
            "ADMIN_EMAIL": ADMIN[0],
            "ADMIN_PASSWORD": ADMIN[1],
            **env,
        }
        # Opened once, before the server starts: closed below.
        log = open(log_path, "ab") if log_path else None  # noqa: SIM115, ASYNC230
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "virtual_tutor.cli",
            *(["--verbose"] if log else []),
            "serve",
            stdout=asyncio.subprocess.PIPE,
            stderr=log or asyncio.subprocess.DEVNULL,
            env=full_env,
        )
        assert proc.stdout is not None
        drain: asyncio.Task[bytes] | None = None
        try:
            while True:
                line = await asyncio.wait_for(proc.stdout.readline(), 300)
                if not line:
                    raise RuntimeError("the server exited during start-up")
                if b"is running at" in line:
                    break
            drain = asyncio.create_task(proc.stdout.read())
            yield Server(url=f"http://127.0.0.1:{port}", pid=proc.pid)
        finally:
            if proc.returncode is None:  # a server that failed to start has exited already
                proc.terminate()
            await proc.wait()
            if drain is not None:
                drain.cancel()
            if log is not None:
                log.close()
