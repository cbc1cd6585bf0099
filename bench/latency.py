"""Latency benchmark: spoken turns through the headless client over loopback.

    python bench/latency.py [--turns 10] [--barge-ins 5] [--tutor 1] [--websocket]

Starts `virtual-tutor serve` (default models), speaks questions made with espeak-ng through
`virtual-tutor call --wav ... --json`, and prints p50/p95 of the client-measured end of speech →
first reply audio, of each engine stage (from the metrics events), of typed message → first text
delta, and of the barge-in stop time measured on the client. `--websocket` also times the same
spoken turns over the engine's WebSocket transport (`--transport ws`), beside WebRTC's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import STUDENT, Server, running_server, summary  # noqa: E402

# Questions the demo tutor's course material answers, so every reply is a grounded one.
QUESTIONS = [
    "What is photosynthesis?",
    "How does the water cycle work?",
    "What is gravity?",
    "What are cells?",
    "What are the three states of matter?",
    "What is in the solar system?",
    "What is a food chain?",
    "How does an electric circuit work?",
    "What do plants need to make food?",
    "Why do things fall down?",
    "What is evaporation?",
    "What do producers do in a food chain?",
]
STAGES = [
    "endpoint_ms",
    "asr_final_ms",
    "llm_first_token_ms",
    "tts_first_audio_ms",
    "first_audio_sent_ms",
    "total_ms",
]


def make_wavs(folder: Path, count: int) -> list[Path]:
    paths = []
    for i in range(count):
        raw, wav = folder / f"q{i}.raw.wav", folder / f"q{i}.wav"
        subprocess.run(
            [
                "espeak-ng",
                "-v",
                "en-us",
                "-s",
                "160",
                "-w",
                str(raw),
                QUESTIONS[i % len(QUESTIONS)],
            ],
            check=True,
        )
        subprocess.run(
            ["sox", str(raw), "-r", "48000", "-c", "1", "-b", "16", str(wav)], check=True
        )
        paths.append(wav)
    return paths


async def client(server: Server, tutor: int, *args: str) -> list[dict[str, Any]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "virtual_tutor.cli",
        "call",
        "--server",
        server.url,
        "--email",
        STUDENT[0],
        "--password",
        STUDENT[1],
        "--tutor",
        str(tutor),
        "--json",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=os.environ.copy(),
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"client failed: {err.decode()[-2000:]}")
    return [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]


async def bench(server: Server, args: argparse.Namespace, folder: Path) -> None:
    wavs = make_wavs(folder, max(args.turns, args.barge_ins))
    # One warm-up turn: the first call pays for caches the others share.
    await client(server, args.tutor, "--wav", str(wavs[0]))
    events = await client(
        server, args.tutor, *[a for w in wavs[: args.turns] for a in ("--wav", str(w))]
    )
    turns = [e for e in events if e["event"] == "turn"]
    latency = [t["latency_ms"] for t in turns if t.get("latency_ms") is not None]
    print(f"latency benchmark: {len(turns)} spoken turns, tutor {args.tutor}, default models")
    print(summary("client: end of speech -> 1st audio", latency))
    for stage in STAGES:
        values = [t["metrics"][stage] for t in turns if stage in t.get("metrics", {})]
        if values:
            print(summary(f"engine: {stage}", values))
    heard = sum(
        1
        for t, q in zip(turns, QUESTIONS, strict=False)
        if set(q.lower().strip("?").split()[-1:])
        <= set(t["transcript"].lower().replace("?", "").split())
    )
    print(f"{'transcripts with the key word':34} {heard}/{len(turns)}")
    if args.websocket:
        await websocket_latency(server, args, wavs)

    typed = await client(server, args.tutor, *[a for q in QUESTIONS[:5] for a in ("--text", q)])
    first_delta = [e["first_delta_ms"] for e in typed if e["event"] == "reply"]
    print(summary("typed (text-only call) -> 1st delta", first_delta))

    if args.barge_ins:
        stops: list[float] = []
        for wav in wavs[: args.barge_ins]:
            events = await client(server, args.tutor, "--barge-in", "--wav", str(wav))
            stops += [
                e["stop_ms"]
                for e in events
                if e["event"] == "barge_in" and e.get("stop_ms") is not None
            ]
        print(summary("barge-in: speech start -> silence", stops))


async def websocket_latency(server: Server, args: argparse.Namespace, wavs: list[Path]) -> None:
    """The same spoken turns over the WebSocket transport, timed the same way on the client."""
    wav_args = [a for w in wavs[: args.turns] for a in ("--wav", str(w))]
    events = await client(server, args.tutor, "--transport", "ws", *wav_args)
    turns = [e for e in events if e["event"] == "turn"]
    latency = [t["latency_ms"] for t in turns if t.get("latency_ms") is not None]
    if not latency:
        print("WebSocket: no spoken turn was answered with audio")
        return
    print(summary("ws client: speech end -> 1st audio", latency))
    values = [t["metrics"]["total_ms"] for t in turns if "total_ms" in t.get("metrics", {})]
    if values:
        print(summary("ws engine: total_ms", values))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--barge-ins", type=int, default=5)
    parser.add_argument("--tutor", type=int, default=1)
    parser.add_argument(
        "--websocket", action="store_true", help="also time the turns over the WebSocket"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        async with running_server() as server:
            await bench(server, args, Path(tmp))


if __name__ == "__main__":
    asyncio.run(main())
