"""Signaling benchmark: login, session creation and offer → answer times, and the server's
memory across many calls opened and closed.

    python bench/signaling.py [--calls 100] [--text-only]

Each call is a real aiortc peer connection over loopback: log in once, create a session, send
the offer (an audio transceiver and the `chat` data channel, like the browser), wait for the
channel to open, hang up, end the session.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import STUDENT, Server, rss_mb, running_server, summary  # noqa: E402
from virtual_tutor.client import Api, CallConnection  # noqa: E402


async def one_call(http: aiohttp.ClientSession, api: Api, audio: bool) -> tuple[float, float]:
    started = time.perf_counter()
    session = await api.open_session(1)
    created = time.perf_counter() - started
    call = CallConnection(http, session["engine_url"], session["engine_token"])
    if audio:
        call.pc.addTransceiver("audio", direction="recvonly")
    answered = await call.connect()
    await call.hang_up()
    await api.end_session(session["session_id"])
    return created * 1000, answered * 1000


async def bench(server: Server, calls: int, audio: bool) -> None:
    async with aiohttp.ClientSession() as http:
        logins = []
        for _ in range(20):
            api = Api(http, server.url)
            t = time.perf_counter()
            await api.login(*STUDENT)
            logins.append((time.perf_counter() - t) * 1000)
        for _ in range(10):  # warm-up: first-use allocations are not growth
            await one_call(http, api, audio)
        gc.collect()
        await asyncio.sleep(2)
        before = rss_mb(server.pid)
        created, answered = [], []
        for _ in range(calls):
            c, a = await one_call(http, api, audio)
            created.append(c)
            answered.append(a)
        await asyncio.sleep(3)
        after = rss_mb(server.pid)
        async with http.get(f"{server.url}/health") as resp:
            in_use = (await resp.json())["engine"]["sessions_in_use"]
    kind = "audio + data channel" if audio else "data channel"
    print(f"signaling benchmark: {calls} calls ({kind})")
    print(summary("login (argon2 verify)", logins))
    print(summary("session creation", created))
    print(summary("offer -> answer (target p95 <= 50)", answered))
    print(
        f"{'server RSS':34} before={before:.1f} MB  after={after:.1f} MB  "
        f"growth={after - before:+.1f} MB (target < 5)"
    )
    print(f"{'slots in use after the run':34} {in_use}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--text-only", action="store_true", help="no audio transceiver")
    args = parser.parse_args()
    async with running_server() as server:
        await bench(server, args.calls, audio=not args.text_only)


if __name__ == "__main__":
    asyncio.run(main())
