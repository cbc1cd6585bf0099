"""Fuzz a real server (in this process, over loopback) with far more inputs than the tests do,
with the tests' own generators and runners (tests/fuzzing.py): hostile data-channel messages on
live calls, mutated SDP offers, and REST requests drawn from the OpenAPI description.

    python bench/fuzz.py [--inputs 100000] [--batch 1000] [--json out.json]

`--inputs` is split 20 % channel messages, 10 % offers, 70 % REST requests, sent in batches
of `--batch`, each drawn with its own seed (in a worker process, while the previous batch is
sent: drawing is slower than sending). Every batch of channel messages goes to a new call,
which must still answer a question afterwards; one that does not is a dead call. Reports
inputs sent, statuses, 5xx, errors that were not JSON, dead calls, and what leaked: call
slots, file descriptors, asyncio tasks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from media_engine.manager import LATE_TRIM_S  # noqa: E402
from signaling.app import create_app  # noqa: E402
from tests.calls import in_use, plain_tutor  # noqa: E402
from tests.conftest import make_settings  # noqa: E402
from tests.fuzzing import (  # noqa: E402
    Tally,
    call_survives,
    channel_messages,
    fuzz_offers_on,
    fuzz_rest_on,
    offer_mutations,
    rest_requests,
)

SHARES = {"channel": 0.2, "offers": 0.1, "rest": 0.7}


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def batches(total: int, size: int) -> list[int]:
    return [min(size, total - start) for start in range(0, total, size)]


class Report:
    """Everything sent and everything that came back, by kind."""

    def __init__(self) -> None:
        self.tallies = {kind: Tally() for kind in SHARES}
        self.calls = 0
        self.dead_calls = 0

    def add(self, kind: str, tally: Tally) -> None:
        total = self.tallies[kind]
        total.inputs += tally.inputs
        for status, count in tally.by_status.items():
            total.by_status[status] = total.by_status.get(status, 0) + count
        total.server_errors += tally.server_errors
        total.not_json += tally.not_json
        total.unavailable += tally.unavailable

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for kind, t in self.tallies.items():
            out[kind] = {
                "inputs": t.inputs,
                "by_status": dict(sorted(t.by_status.items())),
                "5xx": len(t.server_errors),
                "503_documented": t.unavailable,
                "errors_not_json": len(t.not_json),
                "examples_5xx": t.server_errors[:5],
                "examples_not_json": t.not_json[:5],
            }
        out["channel"]["calls"] = self.calls
        out["channel"]["dead_calls"] = self.dead_calls
        return out


async def run_kind(
    kind: str,
    sizes: list[int],
    draw: Callable[..., list[Any]],
    send: Callable[[list[Any]], Any],
    pool: ProcessPoolExecutor,
) -> None:
    """Send each batch while the next one is drawn."""
    loop = asyncio.get_running_loop()
    seeds = iter(range(1, len(sizes) + 1))
    pending = loop.run_in_executor(pool, draw, sizes[0], next(seeds)) if sizes else None
    for i in range(len(sizes)):
        assert pending is not None
        inputs = await pending
        pending = (
            loop.run_in_executor(pool, draw, sizes[i + 1], next(seeds))
            if i + 1 < len(sizes)
            else None
        )
        await send(inputs)
        print(f"  {kind}: batch {i + 1}/{len(sizes)} sent", file=sys.stderr, flush=True)


async def fuzz(args: argparse.Namespace) -> dict[str, Any]:
    report = Report()
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(max_workers=1) as pool:
        settings = make_settings(
            Path(tmp), LLM_MODEL="qwen2.5-coder-0.5b", LOGIN_FREE_FAILURES="1000000000"
        )
        # No keep-alive: a pooled connection is two descriptors (its socket and the server's)
        # and a handler task that belong to no input, and would count as leaked.
        client: TestClient[Any, Any] = TestClient(
            TestServer(create_app(settings)), connector=aiohttp.TCPConnector(force_close=True)
        )
        await client.start_server()
        tutor = await plain_tutor(client)
        # The worker process starts with the first batch drawn: its pipes are not leaks either.
        await asyncio.get_running_loop().run_in_executor(pool, int)
        fds_before, tasks_before = fds(), len(asyncio.all_tasks())
        started = time.monotonic()

        async def channel(messages: list[str | bytes]) -> None:
            report.calls += 1
            report.dead_calls += not await call_survives(client, messages, tutor_id=tutor)
            report.add("channel", Tally(inputs=len(messages)))

        async def offers(mutations: list[tuple[int, int]]) -> None:
            report.add("offers", await fuzz_offers_on(client, mutations))

        async def rest(requests: list[Any]) -> None:
            report.add("rest", await fuzz_rest_on(client, requests))

        runners: dict[str, Callable[[list[Any]], Any]] = {
            "channel": channel,
            "offers": offers,
            "rest": rest,
        }
        draws: dict[str, Callable[..., list[Any]]] = {
            "channel": channel_messages,
            "offers": offer_mutations,
            "rest": rest_requests,
        }
        for kind, share in SHARES.items():
            sizes = batches(round(args.inputs * share), args.batch)
            await run_kind(kind, sizes, draws[kind], runners[kind], pool)
        # Let closing calls finish closing, and the engine's heap trim after the last one.
        await asyncio.sleep(LATE_TRIM_S + 2)
        out = report.as_json()
        out["leaks"] = {
            "slots_in_use": await in_use(client),
            "fds": fds() - fds_before,
            "tasks": len(asyncio.all_tasks()) - tasks_before,
        }
        out["inputs"] = sum(t.inputs for t in report.tallies.values())
        out["seconds"] = round(time.monotonic() - started, 1)
        await client.close()
    return out


def table(out: dict[str, Any]) -> str:
    rows = [f"fuzz: {out['inputs']} inputs in {out['seconds']:.0f} s"]
    rows.append(
        f"{'':10} {'inputs':>8} {'5xx':>5} {'not JSON':>9}  statuses "
        "(503s of voice samples, documented where no voice models load, are not 5xx errors)"
    )
    for kind in SHARES:
        k = out[kind]
        rows.append(
            f"{kind:10} {k['inputs']:>8} {k['5xx']:>5} {k['errors_not_json']:>9}  {k['by_status']}"
        )
    rows.append(f"calls {out['channel']['calls']}, dead calls {out['channel']['dead_calls']}")
    leaks = out["leaks"]
    rows.append(
        f"leaked: slots {leaks['slots_in_use']}, fds {leaks['fds']}, tasks {leaks['tasks']}"
    )
    return "\n".join(rows)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inputs", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=1000, help="inputs drawn with one seed")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    out = await fuzz(args)
    print(table(out))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    bad = sum(out[k]["5xx"] + out[k]["errors_not_json"] for k in SHARES)
    leaks = out["leaks"]
    sys.exit(1 if bad or out["channel"]["dead_calls"] or leaks["slots_in_use"] else 0)


if __name__ == "__main__":
    asyncio.run(main())
