"""Soak benchmark: calls opened, used and closed, over and over, for `--minutes`; does the
server give back what each call took?

    python bench/soak.py [--minutes 30] [--calls 2] [--json out.json]

Starts `virtual-tutor serve` (voice models on) and runs `--calls` students side by side, each
in a loop: open a session, connect a real aiortc call (the headless client's own classes: a
WAV microphone, a listener), type a question and wait for the reply, speak a question (espeak-ng
WAV) and wait for the reply, hang up. Meanwhile it samples the server process from outside
(/proc/PID: open file descriptors, threads, RSS, and of it the private memory and the mapped
files' pages) and its loop's task count (/health), with no call open: after a warm-up
(`--warm-minutes` of the same calls), and at the end. Growth between the two is what ended
calls left behind. Goal: no tasks, descriptors or threads, and
under 5 MB of memory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import STUDENT, Server, rss_mb, running_server, wait_material  # noqa: E402
from bench.latency import speak  # noqa: E402
from media_engine.manager import LATE_TRIM_S  # noqa: E402
from virtual_tutor.client import Api, CallConnection, ClientError  # noqa: E402
from virtual_tutor.voice_client import Listener, Microphone, read_wav  # noqa: E402

TYPED = ["What is photosynthesis?", "What is gravity?", "What is a food chain?"]
SPOKEN = "What is evaporation?"
REPLY_TIMEOUT_S = 180.0  # the default of --reply-timeout
MEMORY_GOAL_MB = 5.0
RELOGIN_S = 20 * 60


@dataclass
class Sample:
    at_s: float
    calls_done: int
    tasks: int
    fds: int
    threads: int
    rss_mb: float
    anon_mb: float
    """Of rss_mb, the heap and other private memory: what a leak grows."""
    file_mb: float
    """Of rss_mb, mapped files' pages (the models' weights, the libraries' code)."""
    heap_in_use_mb: float
    """The C heap's live allocations (glibc's count): a leak, or a cache at a new size."""
    heap_free_mb: float
    """Free memory the C heap keeps: growth here alone is fragmentation."""
    python_blocks: int
    """Blocks Python's own allocator holds (its arenas are outside the C heap's count)."""
    prompt_reads_mb: float = 0.0
    """The model's saved prompt reads (a cache bounded at 48 MB): part of the heap held."""
    phrases_mb: float = 0.0
    """The synthesizers' kept phrases (bounded by count): part of the heap held."""
    database_mb: float = 0.0
    """SQLite's page caches (2 MB a pooled connection), which fill as the database grows:
    part of the heap held."""


def status(pid: int) -> dict[str, int]:
    """The numeric fields of /proc/PID/status (sizes in kB)."""
    fields = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            name, _, value = line.partition(":")
            if value.split() and value.split()[0].isdigit():
                fields[name] = int(value.split()[0])
    return fields


async def sample(http: aiohttp.ClientSession, server: Server, at: float, done: int) -> Sample:
    async with http.get(f"{server.url}/health") as resp:
        engine = (await resp.json())["engine"]
    heap = engine.get("heap") or {}
    caches = engine.get("caches_mb") or {}
    proc = status(server.pid)
    # The server's end of this very request may not be closed yet: the fewest descriptors
    # of a few looks, so the bench's own connection is not counted as the server's.
    fds = len(os.listdir(f"/proc/{server.pid}/fd"))
    for _ in range(4):
        await asyncio.sleep(0.25)
        fds = min(fds, len(os.listdir(f"/proc/{server.pid}/fd")))
    return Sample(
        at_s=round(at, 1),
        calls_done=done,
        tasks=int(engine["tasks"]),
        fds=fds,
        threads=proc["Threads"],
        rss_mb=round(rss_mb(server.pid), 1),
        anon_mb=round(proc["RssAnon"] / 1024, 1),
        file_mb=round(proc["RssFile"] / 1024, 1),
        heap_in_use_mb=heap.get("in_use_mb", 0.0),
        heap_free_mb=heap.get("free_mb", 0.0),
        python_blocks=int(engine.get("python_blocks", 0)),
        prompt_reads_mb=caches.get("prompt_reads", 0.0),
        phrases_mb=caches.get("phrases", 0.0),
        database_mb=caches.get("database", 0.0),
    )


async def reply(call: CallConnection, timeout_s: float) -> str:
    """The final text of the tutor's next reply; an error event is a failure."""
    deadline = time.monotonic() + timeout_s
    while True:
        event = await asyncio.wait_for(call.events.get(), deadline - time.monotonic())
        if event["type"] in ("error", "bye"):
            raise ClientError(f"{event['type']}: {event.get('code') or event.get('reason')}")
        if event["type"] == "text" and event.get("role") == "assistant":
            return str(event["content"])


async def one_call(
    http: aiohttp.ClientSession,
    api: Api,
    tutor: int,
    question: NDArray[np.int16],
    n: int,
    timeout_s: float = REPLY_TIMEOUT_S,
) -> None:
    """Open, type, speak, hang up."""
    grant = await api.open_session(tutor)
    mic, listener = Microphone(), Listener()
    call = CallConnection(
        http,
        grant["engine_url"],
        grant["engine_token"],
        microphone=mic.track,
        on_track=listener.start,
    )
    try:
        await call.connect()
        call.send_text(TYPED[n % len(TYPED)])
        await reply(call, timeout_s)
        await mic.speak(question)
        await reply(call, timeout_s)
    finally:
        await call.hang_up()
        await listener.aclose()


async def warm_up(
    http: aiohttp.ClientSession, server: Server, question: NDArray[np.int16], timeout_s: float
) -> None:
    api = Api(http, server.url)
    await api.login(*STUDENT)
    await one_call(http, api, 1, question, 0, timeout_s)


async def student(
    http: aiohttp.ClientSession,
    server: Server,
    question: NDArray[np.int16],
    until: float,
    tally: dict[str, int],
    timeout_s: float,
) -> None:
    api = Api(http, server.url)
    await api.login(*STUDENT)
    logged_in = time.monotonic()
    while time.monotonic() < until:
        if time.monotonic() - logged_in > RELOGIN_S:
            # As the web client does: a soak outlasts an access token (30 minutes).
            await api.login(*STUDENT)
            logged_in = time.monotonic()
        try:
            await one_call(http, api, 1, question, tally["calls"], timeout_s)
            tally["calls"] += 1
        except (ClientError, TimeoutError) as exc:
            tally["failed"] += 1
            print(f"  a call failed: {exc}", file=sys.stderr)


async def settle(http: aiohttp.ClientSession, server: Server) -> None:
    """Wait until no call is open and the loop's tasks stop changing (ICE and DTLS close a
    little after hang-up), and the engine has trimmed its heap after them."""
    previous = -1
    for _ in range(60):
        await asyncio.sleep(1)
        async with http.get(f"{server.url}/health") as resp:
            engine = (await resp.json())["engine"]
        if engine["sessions_in_use"] == 0 and engine["tasks"] == previous:
            break
        previous = engine["tasks"]
    # Work a call started may end after it; the engine gives back what that freed a few
    # seconds after its last call (media_engine.manager.LATE_TRIM_S).
    await asyncio.sleep(LATE_TRIM_S + 2)


async def soak(args: argparse.Namespace, question: NDArray[np.int16]) -> dict[str, Any]:
    env = {"MAX_SESSIONS_PER_USER": str(args.calls), "LLM_MAX_TOKENS": str(args.max_tokens)}
    if args.llm:
        env["LLM_MODEL"] = args.llm
    # No keep-alive: a pooled connection is a descriptor in the server that is the client's.
    connector = aiohttp.TCPConnector(force_close=True)
    async with running_server(**env) as server, aiohttp.ClientSession(connector=connector) as http:
        # What the server does once after start (the material read in, the tutors' prompts
        # read, the course material spoken ahead) is start-up, not what calls leave behind.
        await wait_material(http, server.url, timeout=1800)
        started = time.monotonic()
        tally = {"calls": 0, "failed": 0}
        # A warm-up first, as many calls at once as later, for --warm-minutes: the first calls
        # allocate what every later one reuses (thread pools grow to their size, model arenas
        # and caches to theirs). Growth is measured from its end, with no call open.
        await asyncio.gather(
            *(warm_up(http, server, question, args.reply_timeout) for _ in range(args.calls))
        )
        warming: list[Sample] = []
        if args.warm_minutes > 0:
            warm_until = time.monotonic() + args.warm_minutes * 60
            warm_tally = {"calls": 0, "failed": 0}
            warmers = [
                asyncio.create_task(
                    student(http, server, question, warm_until, warm_tally, args.reply_timeout)
                )
                for _ in range(args.calls)
            ]
            # Sampled as it goes: the busy samples show when the process stops growing.
            while not all(t.done() for t in warmers):
                await asyncio.wait(warmers, timeout=args.sample_s)
                at = time.monotonic() - started
                warming.append(await sample(http, server, at, warm_tally["calls"]))
            await asyncio.gather(*warmers)
            tally["failed"] += warm_tally["failed"]
        await settle(http, server)
        samples = [await sample(http, server, time.monotonic() - started, 0)]
        until = time.monotonic() + args.minutes * 60
        students = [
            asyncio.create_task(student(http, server, question, until, tally, args.reply_timeout))
            for _ in range(args.calls)
        ]
        while not all(t.done() for t in students):
            await asyncio.wait(students, timeout=args.sample_s)
            samples.append(await sample(http, server, time.monotonic() - started, tally["calls"]))
        await asyncio.gather(*students)
        await settle(http, server)
        samples.append(await sample(http, server, time.monotonic() - started, tally["calls"]))
    first, last = samples[0], samples[-1]
    growth = {
        "tasks": last.tasks - first.tasks,
        "fds": last.fds - first.fds,
        "threads": last.threads - first.threads,
        "rss_mb": round(last.rss_mb - first.rss_mb, 1),
        "anon_mb": round(last.anon_mb - first.anon_mb, 1),
        "file_mb": round(last.file_mb - first.file_mb, 1),
        "heap_in_use_mb": round(last.heap_in_use_mb - first.heap_in_use_mb, 1),
        "heap_free_mb": round(last.heap_free_mb - first.heap_free_mb, 1),
        "python_blocks": last.python_blocks - first.python_blocks,
        "prompt_reads_mb": round(last.prompt_reads_mb - first.prompt_reads_mb, 1),
        "phrases_mb": round(last.phrases_mb - first.phrases_mb, 1),
        "database_mb": round(last.database_mb - first.database_mb, 1),
    }
    return {
        "minutes": args.minutes,
        "students": args.calls,
        "calls": tally["calls"],
        "failed_calls": tally["failed"],
        "growth": growth,
        "ok": growth["tasks"] <= 0
        and growth["fds"] <= 0
        and growth["threads"] <= 0
        and growth["rss_mb"] < MEMORY_GOAL_MB
        and tally["failed"] == 0,
        "samples": [asdict(s) for s in samples],
        "warm_up_samples": [asdict(s) for s in warming],
    }


def table(report: dict[str, Any]) -> str:
    first, last = report["samples"][0], report["samples"][-1]
    rows = [
        f"soak: {report['minutes']} min, {report['students']} students side by side, "
        f"{report['calls']} calls (typed + spoken turn each), {report['failed_calls']} failed",
        f"{'':14} {'after warm-up':>14} {'at the end':>12} {'growth':>8}   goal",
    ]
    for key, goal in (
        ("tasks", "0"),
        ("fds", "0"),
        ("threads", "0"),
        ("rss_mb", "< 5 MB"),
        ("anon_mb", ""),
        ("file_mb", ""),
        ("heap_in_use_mb", ""),
        ("heap_free_mb", ""),
        ("python_blocks", ""),
        ("prompt_reads_mb", ""),
        ("phrases_mb", ""),
        ("database_mb", ""),
    ):
        rows.append(
            f"{key:14} {first[key]:>14} {last[key]:>12} {report['growth'][key]:>8}   {goal}"
        )
    peak = max(s["rss_mb"] for s in report["samples"])
    rows.append(f"{'peak rss_mb':14} {peak:>14}")
    rows.append("verdict: " + ("no leak" if report["ok"] else "LEAK OR FAILURES (see above)"))
    return "\n".join(rows)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--calls", type=int, default=2, help="students calling side by side")
    parser.add_argument("--sample-s", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--llm", help="LLM_MODEL for the server (default: the server's)")
    parser.add_argument("--max-tokens", type=int, default=64, help="LLM_MAX_TOKENS")
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument(
        "--warm-minutes",
        type=float,
        default=10.0,
        help="calls before the first sample (the server grew for about 7 minutes of calls)",
    )
    parser.add_argument(
        "--reply-timeout", type=float, default=REPLY_TIMEOUT_S, help="seconds to wait per reply"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        question = read_wav(speak(Path(tmp), "soak", SPOKEN))
    report = await soak(args, question)
    print(table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    sys.exit(0 if report["ok"] else 1)


if __name__ == "__main__":
    asyncio.run(main())
