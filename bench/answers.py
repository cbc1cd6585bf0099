"""Answer benchmark: how well and how fast the demo tutors answer, over real WebRTC calls.

    python bench/answers.py [--models qwen2.5-coder-0.5b,qwen2.5-coder-1.5b]
        [--mode typed|spoken|both] [--limit N] [--ids ID,...] [--spoken-sample N]
        [--json out.json]

For each model it starts `virtual-tutor serve` with that `LLM_MODEL`, waits for the demo course
material, then asks every question of `bench/answer_questions.json` in a new call to its tutor:
the `history` user turns typed first (each waiting for its reply), then the question, typed or
spoken (a WAV from `bench/speech_clips.py` streamed as the microphone in real time). Replies
are scored by `bench/answer_scoring.py`. Latency is typed → first text delta, or spoken: end of
speech → first reply audio, both measured on the client.

`--limit N` takes N questions spread evenly over the file (so every language and category
shows up); `--spoken-sample N` speaks only N of them per language, spread the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.answer_scoring import pass_label, score  # noqa: E402
from bench.common import ROOT, STUDENT, bearer, pct, rest, running_server, wait_material  # noqa: E402
from bench.speech_clips import ClipSpec, make_clips, plan_clip  # noqa: E402
from media_engine.audio import OUT_RATE  # noqa: E402
from virtual_tutor.client import Api, CallConnection, ClientError, TurnLog  # noqa: E402
from virtual_tutor.voice_client import Listener, Microphone  # noqa: E402

QUESTIONS = ROOT / "bench" / "answer_questions.json"
MODELS = ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]
TIMEOUT_S = 90.0  # per reply
WARM_CLIP = ClipSpec("Hello, can you hear me?", "en", "kokoro", "af_heart", noise=False)
T = TypeVar("T")


@dataclass
class Result:
    """One question asked once: what came back and how it scored."""

    id: str
    model: str
    mode: str
    lang: str
    category: str
    tutor: str
    question: str
    reply: str = ""
    route: str | None = None
    heard: str | None = None
    clip: str | None = None
    latency_ms: float | None = None
    passed: bool = False
    wrong_fact: bool = False
    error: str | None = None


class Routes:
    """A quiet `Reporter` that keeps the route of each final reply, by turn id."""

    def __init__(self) -> None:
        self.by_turn: dict[str, str] = {}

    def event(self, kind: str, **fields: Any) -> None:
        if kind == "text" and fields.get("role") == "assistant":
            self.by_turn[str(fields.get("turn_id"))] = str(fields.get("route", ""))

    def say(self, text: str, *, end: str = "\n") -> None:
        pass


def spread(items: Sequence[T], n: int | None) -> list[T]:
    """`n` items spread evenly over `items`, in order (all of them when n is None or larger)."""
    if n is None or n >= len(items):
        return list(items)
    return [items[i * len(items) // n] for i in range(max(n, 0))]


async def ask(
    http: aiohttp.ClientSession,
    api: Api,
    tutor_id: int,
    question: dict[str, Any],
    clip: NDArray[np.int16] | None,
    result: Result,
) -> None:
    """One new call: the history typed, then the question; fills in `result`."""
    session = await api.open_session(tutor_id)
    mic = Microphone() if clip is not None else None
    listener = Listener()
    call = CallConnection(
        http,
        session["engine_url"],
        session["engine_token"],
        microphone=mic.track if mic else None,
        on_track=listener.start if mic else None,
    )
    routes = Routes()
    log = TurnLog(call, routes)
    voice = mic is not None
    try:
        await call.connect()
        log.start()
        for turn in question.get("history", []):
            if turn["role"] == "user":
                index = len(log.order)
                call.send_text(turn["content"])
                await log.wait_turn(index, voice=voice, timeout=TIMEOUT_S)
        index = len(log.order)
        if mic is None:
            sent = time.monotonic()
            call.send_text(question["q"])
            reply = await log.wait_turn(index, voice=False, timeout=TIMEOUT_S)
            first = reply.first_delta_at or time.monotonic()
            result.latency_ms = round((first - sent) * 1000, 1)
        else:
            assert clip is not None
            _, speech_end = await mic.speak(clip)
            reply = await log.wait_turn(index, voice=False, timeout=TIMEOUT_S)
            result.heard = reply.transcript
            result.reply, result.route = reply.reply, routes.by_turn.get(reply.turn_id)
            heard_at = await listener.wait_sound(after=speech_end, timeout=TIMEOUT_S)
            result.latency_ms = round((heard_at - speech_end) * 1000, 1)
            return
        result.reply, result.route = reply.reply, routes.by_turn.get(reply.turn_id)
    finally:
        await log.aclose()
        await call.hang_up()
        await listener.aclose()
        with contextlib.suppress(ClientError):
            await api.end_session(session["session_id"])


async def run_one(
    http: aiohttp.ClientSession,
    api: Api,
    tutor: dict[str, Any],
    question: dict[str, Any],
    model: str,
    clip: tuple[ClipSpec, NDArray[np.int16]] | None,
) -> Result:
    result = Result(
        id=question["id"],
        model=model,
        mode="typed" if clip is None else "spoken",
        lang=question["lang"],
        category=question["category"],
        tutor=question["tutor"],
        question=question["q"],
        clip=clip[0].describe() if clip else None,
    )
    turns = 1 + sum(1 for t in question.get("history", []) if t["role"] == "user")
    budget = TIMEOUT_S * turns + (len(clip[1]) / OUT_RATE if clip else 0) + 30
    try:
        await asyncio.wait_for(
            ask(http, api, tutor["id"], question, clip[1] if clip else None, result), budget
        )
    except TimeoutError:
        result.error = f"timed out after {budget:.0f} s"
    except Exception as exc:  # any failure is this question's, and the run goes on
        result.error = f"{type(exc).__name__}: {exc}"
    if result.error is None:
        scored = score(question, result.reply, str(tutor.get("subject", "")))
        result.passed, result.wrong_fact = scored.passed, scored.wrong_fact
    return result


async def run_model(
    model: str,
    typed: list[dict[str, Any]],
    spoken: list[tuple[dict[str, Any], ClipSpec]],
    clips: dict[ClipSpec, NDArray[np.int16]],
) -> list[Result]:
    results: list[Result] = []
    env = {"LLM_MODEL": model}
    async with (
        running_server(**env) as server,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http,
    ):
        await wait_material(http, server.url)
        api = Api(http, server.url)
        await api.login(*STUDENT)
        student = await bearer(http, server.url, *STUDENT)
        tutors = {
            t["name"]: t
            for t in await rest(http, "GET", f"{server.url}/api/tutors", headers=student)
        }
        # Warm-up turns, not counted: the first call pays for caches the others share.
        warm = {"id": "warm-up", "lang": "en", "category": "chat", "q": "Hello!", "tutor": "Ada"}
        await run_one(http, api, tutors["Ada"], warm, model, None)
        if spoken:
            await run_one(http, api, tutors["Ada"], warm, model, (WARM_CLIP, clips[WARM_CLIP]))
        jobs = [(q, None) for q in typed] + [(q, (s, clips[s])) for q, s in spoken]
        for i, (question, clip) in enumerate(jobs, 1):
            if i % 20 == 0:
                await api.login(*STUDENT)  # a long run outlives an access token
            result = await run_one(http, api, tutors[question["tutor"]], question, model, clip)
            mark = "ok " if result.passed else "ERR" if result.error else "no "
            print(f"  [{i}/{len(jobs)}] {model} {result.mode:6} {mark} {result.id}", flush=True)
            results.append(result)
    return results


def table(results: list[Result]) -> list[str]:
    """Rows per language × category, then per language and overall."""
    header = (
        f"  {'lang':4} {'category':13} {'n':>4} {'pass %':>7} {'(meaning)':9} "
        f"{'wrong %':>7} {'p50 ms':>8} {'p95 ms':>8}"
    )
    lines = [header]
    langs = sorted({r.lang for r in results})
    categories = list(dict.fromkeys(r.category for r in results))
    groups: list[tuple[str, str, list[Result]]] = []
    for lang in langs:
        for category in categories:
            rows = [r for r in results if r.lang == lang and r.category == category]
            if rows:
                groups.append((lang, category, rows))
        groups.append((lang, "all", [r for r in results if r.lang == lang]))
    groups.append(("all", "all", results))
    for lang, category, rows in groups:
        n = len(rows)
        latency = [r.latency_ms for r in rows if r.latency_ms is not None and r.error is None]
        meaning = pass_label(category) if category != "all" else "pass"
        lines.append(
            f"  {lang:4} {category:13} {n:4} {100 * sum(r.passed for r in rows) / n:7.1f} "
            f"{meaning:9} {100 * sum(r.wrong_fact for r in rows) / n:7.1f} "
            f"{pct(latency, 50):8.0f} {pct(latency, 95):8.0f}"
        )
    return lines


def failures(results: list[Result]) -> list[str]:
    lines = []
    for r in results:
        if r.passed:
            continue
        why = f"ERROR {r.error}" if r.error else f"route={r.route}"
        lines.append(f"  {r.id} [{why}]{' WRONG FACT' if r.wrong_fact else ''}")
        if r.heard is not None:
            lines.append(f"      heard: {r.heard[:160]!r}")
        lines.append(f"      reply: {' '.join(r.reply.split())[:160]!r}")
    return lines


def report(results: list[Result]) -> None:
    for model in dict.fromkeys(r.model for r in results):
        for mode in ("typed", "spoken"):
            rows = [r for r in results if r.model == model and r.mode == mode]
            if not rows:
                continue
            what = "typed -> first text delta" if mode == "typed" else "end of speech -> 1st audio"
            print(f"\n== {model}, {mode} ({len(rows)} questions; latency: {what})")
            print("\n".join(table(rows)))
            failed = failures(rows)
            print(f"  failed ({sum(not r.passed for r in rows)}):" if failed else "  no failures")
            print("\n".join(failed))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated LLM_MODELs")
    parser.add_argument("--mode", choices=["typed", "spoken", "both"], default="typed")
    parser.add_argument("--limit", type=int, help="only N questions, spread over the file")
    parser.add_argument("--ids", help="only these comma-separated question ids")
    parser.add_argument("--spoken-sample", type=int, help="speak only N questions per language")
    parser.add_argument("--json", type=Path, help="write every per-question result here")
    parser.add_argument(
        "--questions", type=Path, default=QUESTIONS, help="a question file in the same form"
    )
    args = parser.parse_args()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    everything = json.loads(args.questions.read_text(encoding="utf-8"))["questions"]
    ids = set(args.ids.split(",")) if args.ids else None
    chosen = [(i, q) for i, q in enumerate(everything) if ids is None or q["id"] in ids]
    chosen = spread(chosen, args.limit)
    typed = [q for _, q in chosen] if args.mode in ("typed", "both") else []
    spoken: list[tuple[dict[str, Any], ClipSpec]] = []
    if args.mode in ("spoken", "both"):
        for lang in dict.fromkeys(q["lang"] for _, q in chosen):
            in_lang = [(i, q) for i, q in chosen if q["lang"] == lang]
            spoken += [(q, plan_clip(i, q)) for i, q in spread(in_lang, args.spoken_sample)]
    print(
        f"answer benchmark: {platform.node()} {os.cpu_count()} cores, {platform.machine()}; "
        f"models {', '.join(models)}; mode {args.mode}; {len(typed)} typed and {len(spoken)} "
        f"spoken questions (limit {args.limit}, spoken sample {args.spoken_sample}); "
        f"timeout {TIMEOUT_S:.0f} s per reply",
        flush=True,
    )
    specs = [WARM_CLIP] + [s for _, s in spoken]
    clips = await make_clips(specs, ROOT / "var" / "models") if spoken else {}
    results: list[Result] = []
    for model in models:
        # Reported (and saved) model by model: one model's figures are usable on their own.
        done = await run_model(model, typed, spoken, clips)
        report(done)
        results += done
        if args.json:
            settings = {"models": models, "mode": args.mode, "limit": args.limit}
            settings |= {"spoken_sample": args.spoken_sample, "cores": os.cpu_count()}
            body = {"settings": settings, "results": [asdict(r) for r in results]}
            text = json.dumps(body, ensure_ascii=False, indent=1)
            args.json.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(main())
