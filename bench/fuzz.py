"""Fuzz a real server (in this process, over loopback) with more inputs than the tests do:
hostile data-channel messages on a live call, mutated SDP offers, and REST requests drawn from
the OpenAPI description. Reports inputs sent, 5xx, errors that were not JSON, and what leaked:
call slots, file descriptors, asyncio tasks.

    python bench/fuzz.py --messages 500 --offers 300 --requests 2000 [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from signaling.app import create_app  # noqa: E402
from signaling.keys import ISSUER  # noqa: E402
from tests.calls import in_use, open_call, open_session  # noqa: E402
from tests.conftest import ADMIN, login, make_settings  # noqa: E402
from tests.fuzzing import (  # noqa: E402
    Tally,
    channel_messages,
    fuzz_channel,
    fuzz_offers,
    fuzz_rest,
    mutate,
    offer_mutations,
    rest_requests,
)
from virtual_tutor.client import CallConnection  # noqa: E402


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def channel(client: TestClient[Any, Any], messages: list[str | bytes]) -> dict[str, Any]:
    headers = await login(client)
    _, call = await open_call(client, headers)
    await fuzz_channel(call, messages)
    call.send_text("Say ok.")
    alive = False
    while True:
        try:
            event = await asyncio.wait_for(call.events.get(), 300)
        except TimeoutError:
            break
        if event["type"] == "bye" or event.get("code") == "internal_error":
            break
        if event["type"] == "text" and event.get("role") == "assistant":
            alive = True
            break
    await call.hang_up()
    return {"inputs": len(messages), "call_alive_after": alive}


async def offers(client: TestClient[Any, Any], mutations: list[tuple[int, int]]) -> Tally:
    headers = await login(client)
    probe = CallConnection(client.session, "", "")
    await probe.pc.setLocalDescription(await probe.pc.createOffer())
    offer = probe.pc.localDescription.sdp
    await probe.pc.close()

    async def end(sid: str) -> None:
        await client.post(f"/api/student/sessions/{sid}/end", headers=headers)

    sdps = [mutate(offer, m) for m in mutations]
    return await fuzz_offers(client.session, sdps, lambda: open_session(client, headers), end)


async def rest(client: TestClient[Any, Any], n: int) -> Tally:
    tokens = {
        "admin": (await login(client, ADMIN))["Authorization"].split()[1],
        "student": (await login(client))["Authorization"].split()[1],
        "service": client.app[ISSUER].service_token(),
    }
    tally = await fuzz_rest(client.session, client.make_url("/"), rest_requests(n), tokens)
    for who in ("admin", "student"):
        auth = {"Authorization": f"Bearer {tokens[who]}"}
        resp = await client.get("/api/student/sessions", headers=auth)
        for s in await resp.json():
            await client.post(f"/api/student/sessions/{s['session_id']}/end", headers=auth)
    return tally


def tally_json(t: Tally) -> dict[str, Any]:
    return {
        "inputs": t.inputs,
        "by_status": dict(sorted(t.by_status.items())),
        "5xx": len(t.server_errors),
        "errors_not_json": len(t.not_json),
        "examples_5xx": t.server_errors[:5],
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--offers", type=int, default=200)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    # Drawn before the server runs: the figures below are the server's, not hypothesis's.
    messages = channel_messages(args.messages)
    mutations = offer_mutations(args.offers)
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(
            Path(tmp), LLM_MODEL="qwen2.5-coder-0.5b", LOGIN_FREE_FAILURES="1000"
        )
        client: TestClient[Any, Any] = TestClient(TestServer(create_app(settings)))
        await client.start_server()
        fds_before, tasks_before = fds(), len(asyncio.all_tasks())
        started = time.monotonic()
        report: dict[str, Any] = {
            "channel": await channel(client, messages),
            "offers": tally_json(await offers(client, mutations)),
            "rest": tally_json(await rest(client, args.requests)),
        }
        await asyncio.sleep(2)  # let closing calls finish closing
        report["leaks"] = {
            "slots_in_use": await in_use(client),
            "fds": fds() - fds_before,
            "tasks": len(asyncio.all_tasks()) - tasks_before,
        }
        report["seconds"] = round(time.monotonic() - started, 1)
        await client.close()
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
