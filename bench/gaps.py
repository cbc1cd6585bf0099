"""Speech without gaps: the silences inside the tutor's spoken replies, one call alone and
several calls answering at once.

    python bench/gaps.py [--calls 1,3] [--questions 2] [--languages en,zh] [--json out.json]

Starts `virtual-tutor serve` (default models) and, for each number of calls, opens that many
calls at once to each demo tutor (English, then Chinese); each speaks the same questions (said by
Kokoro student voices) at the same moment, so the replies are synthesized side by side. The
questions ask for an explanation, so each reply has several sentences. It prints, per reply:

- the longest silence inside it, measured on the client in the received audio (20 ms frames
  between the first and last sounding frame; a sentence's own pause is about 0.3 s);
- the engine's longest wait for synthesis between two chunks and how many waits exceeded
  150 ms (the `metrics` event's `longest_gap_ms` and `gaps`);
- the share of outbound frames the server sent late (its /health, over the run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import STUDENT, Server, pct, running_server, wait_material  # noqa: E402
from bench.latency import Students, client  # noqa: E402

# The first three the course notes answer (their sentences, spoken ahead); the rest they do
# not, so the model writes the reply and it is synthesized as it plays: the hard case.
QUESTIONS = {
    "en": [
        "Can you explain how the water cycle works?",
        "How do plants make their own food?",
        "What happens in a food chain?",
        "Why is the sky blue?",
        "How do bees make honey?",
        "Why do we have seasons?",
        "How is a rainbow made?",
        "Why does ice float on water?",
    ],
    "zh": [
        "你能讲讲水是怎么循环的吗？",
        "植物是怎么制造养分的？",
        "食物链是什么？",
        "为什么天空是蓝色的？",
        "蜜蜂是怎么酿蜜的？",
        "地球为什么有四季？",
        "彩虹是怎么形成的？",
        "为什么冰会浮在水面上？",
    ],
}
TUTORS = {"en": 1, "zh": 2}
GOAL_MS = 600


async def pacing(http: aiohttp.ClientSession, server: Server) -> tuple[int, int]:
    async with http.get(f"{server.url}/health") as resp:
        audio = (await resp.json())["engine"].get("audio") or {}
    return int(audio.get("frames", 0)), int(audio.get("late_frames", 0))


async def at_once(server: Server, calls: int, language: str, wavs: list[Path]) -> list[Any]:
    """`calls` calls to the tutor of `language`, each speaking `wavs` in turn, all at once."""
    # A long reply on a loaded machine takes a while; the client's default wait is 120 s.
    args = ["--timeout", "600", *(a for w in wavs for a in ("--wav", str(w)))]
    runs = await asyncio.gather(*(client(server, TUTORS[language], *args) for _ in range(calls)))
    return [e for events in runs for e in events if e["event"] == "turn"]


def report(name: str, turns: list[dict[str, Any]], late: float) -> dict[str, Any]:
    silences = [t["longest_silence_ms"] for t in turns if "longest_silence_ms" in t]
    gaps = [t.get("metrics", {}).get("longest_gap_ms", 0.0) for t in turns]
    over = sum(1 for s in silences if s > GOAL_MS)
    waits = sum(int(t.get("metrics", {}).get("gaps", 0)) for t in turns)
    # How long the model took to go on from the engine's opening: the opening must cover it.
    model = [
        t["metrics"]["model_first_token_ms"]
        for t in turns
        if "model_first_token_ms" in t.get("metrics", {})
    ]
    print(
        f"{name:16} replies={len(turns):3}  longest silence p50={pct(silences, 50):6.0f} ms "
        f"max={max(silences, default=0):6.0f} ms  over {GOAL_MS} ms: {over}/{len(silences)}  "
        f"engine wait max={max(gaps, default=0):6.0f} ms ({waits} over 150 ms)  "
        f"late frames {late:.2%}  model went on after p50={pct(model, 50):6.0f} ms "
        f"max={max(model, default=0):6.0f} ms (n={len(model)})"
    )
    return {"name": name, "turns": turns, "late_frame_rate": late}


async def bench(server: Server, args: argparse.Namespace, folder: Path) -> list[dict[str, Any]]:
    students = Students(folder)
    wavs = {
        lang: [
            await students.say(f"{lang}{i}", q, lang) for i, q in enumerate(qs[: args.questions])
        ]
        for lang, qs in QUESTIONS.items()
    }
    warm = await students.say("warm", "Hello, can you hear me?")
    await students.aclose()  # the voices are made: the server gets the cores to itself
    await client(server, TUTORS["en"], "--wav", str(warm))
    results = []
    async with aiohttp.ClientSession() as http:
        for calls in args.calls:
            for language in args.languages.split(","):
                before = await pacing(http, server)
                turns = await at_once(server, calls, language, wavs[language])
                after = await pacing(http, server)
                frames, late = after[0] - before[0], after[1] - before[1]
                name = f"{language}, {calls} call{'s' if calls > 1 else ''}"
                results.append(report(name, turns, late / frames if frames else 0.0))
    return results


async def main() -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", default="1,3", help="comma-separated numbers of calls")
    parser.add_argument("--questions", type=int, default=2, help="questions per call")
    parser.add_argument("--languages", default="en,zh", help="comma-separated: en, zh")
    parser.add_argument("--json", help="write every reply's figures here")
    args = parser.parse_args()
    args.calls = [int(n) for n in args.calls.split(",")]
    # One bench student stands for a class: let it hold every call at once.
    async with running_server(MAX_SESSIONS_PER_USER=str(max(args.calls) + 1)) as server:
        async with aiohttp.ClientSession() as http:
            await wait_material(http, server.url)
        print(f"speech gaps: {STUDENT[0]} asks tutors {TUTORS}; default models")
        with tempfile.TemporaryDirectory() as tmp:
            results = await bench(server, args, Path(tmp))
    if args.json:
        await asyncio.to_thread(
            Path(args.json).write_text, json.dumps(results, ensure_ascii=False, indent=1)
        )
    return results


if __name__ == "__main__":
    asyncio.run(main())
