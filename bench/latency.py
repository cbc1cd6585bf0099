"""Latency benchmark: spoken turns through the headless client over loopback.

    python bench/latency.py [--turns 10] [--fresh 10] [--paused 5] [--barge-ins 5] [--tutor 1]
        [--waterfall bench/latency-waterfall.png] [--json out.json] [--websocket]

Starts `virtual-tutor serve` (default models) and speaks questions said by Kokoro in a student's
voice through `virtual-tutor call --wav ... --json`:
- fresh calls: each question the first turn of a new call (what a student does most), English
  to the English demo tutor and Chinese to the Chinese one;
- one multi-turn call of `--turns` questions;
- utterances with a thinking pause mid-sentence ("The answer is, um ... seven"): answering
  before the second half is a false cut-off;
- typed message → first text delta, and barge-in (speech start → the tutor's silence);
- with `--websocket`, the multi-turn questions again over the engine's WebSocket transport
  (`--transport ws`), beside WebRTC's.
It prints p50/p95 of the client-measured end of speech → first reply audio and of each engine
stage (from the metrics events), how many replies prepared ahead were committed or dropped, and
draws the fresh calls' median stage timeline as a waterfall (PNG).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import wave
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    STUDENT,
    Server,
    pct,
    running_server,
    summary,
    wait_material,
)
from core.paths import ModelPaths  # noqa: E402
from media_engine.audio import OUT_RATE  # noqa: E402
from media_engine.tts import KokoroTTS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

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
    "What is a magnet?",
    "How do we hear sounds?",
    "What is the Moon?",
]
# Chinese questions for the Chinese demo tutor (its material covers them).
QUESTIONS_ZH = [
    "什么是光合作用？",
    "水是怎么循环的？",
    "为什么东西会往下掉？",
    "植物制造养分需要什么？",
    "什么是蒸发？",
    "什么是食物链？",
    "物质有哪三种状态？",
    "电路是怎么工作的？",
    "磁铁为什么能吸铁？",
    "月亮为什么有圆缺变化？",
]
# A thinking pause mid-sentence: the tutor must wait for the second half, whose last word the
# final transcript must hold. English and Chinese in turn, so any count asks both tutors.
PAUSED = [
    ("en", "The answer is, um,", "seven."),
    ("zh", "我觉得答案是，嗯，", "七。"),
    ("en", "I think plants need", "sunlight and water."),
    ("zh", "植物需要", "阳光和水。"),
    ("en", "Can you tell me why", "the sky is blue?"),
    ("zh", "我想问一下，", "为什么天空是蓝色的？"),
    ("en", "My question is about", "the water cycle."),
    ("zh", "水在加热以后，", "会变成什么？"),
    ("en", "Is it true that", "the moon makes its own light?"),
    ("zh", "老师，我想知道", "月亮为什么会发光？"),
    ("en", "What happens to ice when", "you heat it?"),
    ("zh", "如果我们把冰放在太阳下，", "会怎么样？"),
]
PAUSE_S = 1.2
TIMELINE = ["decided", "transcript", "llm_start", "first_token", "first_audio", "first_sent"]
STAGES = [
    "endpoint_ms",
    "asr_final_ms",
    "llm_first_token_ms",
    "model_first_token_ms",
    "tts_first_audio_ms",
    "first_audio_sent_ms",
    "total_ms",
]


def speak(folder: Path, name: str, text: str, voice: str = "en-us") -> Path:
    """`text` said by espeak-ng, as a 48 kHz mono WAV (what the client streams)."""
    raw, wav = folder / f"{name}.raw.wav", folder / f"{name}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "160", "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", "48000", "-c", "1", "-b", "16", str(wav)], check=True)
    return wav


# Student voices: Kokoro's, which Whisper hears about as it hears people (espeak-ng's Mandarin
# reads pinyin and was transcribed as nonsense most of the time, so its turns measured nothing
# a student does).
STUDENT_VOICES = {"en": "am_michael", "zh": "zm_yunxi"}


class Students:
    """Questions said by Kokoro in a student's voice, as 48 kHz mono WAVs."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._tts: KokoroTTS | None = None

    async def pcm(self, text: str, language: str = "en") -> NDArray[np.int16]:
        if self._tts is None:
            paths = ModelPaths(ROOT / "var" / "models")
            self._tts = KokoroTTS(paths.kokoro_model, paths.kokoro_voices_dir)
        voice = STUDENT_VOICES[language]
        return (await self._tts.synthesize(text, voice=voice, language=language)).pcm

    def write(self, name: str, pcm: NDArray[np.int16]) -> Path:
        wav = self.folder / f"{name}.wav"
        with wave.open(str(wav), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(OUT_RATE)
            out.writeframes(pcm.tobytes())
        return wav

    async def say(self, name: str, text: str, language: str = "en") -> Path:
        return self.write(name, await self.pcm(text, language))

    async def aclose(self) -> None:
        if self._tts is not None:
            await self._tts.aclose()


async def make_wavs(students: Students, count: int) -> list[Path]:
    return [await students.say(f"q{i}", QUESTIONS[i % len(QUESTIONS)]) for i in range(count)]


async def paused_wav(students: Students, i: int, language: str, first: str, second: str) -> Path:
    """The two halves with PAUSE_S of silence between them."""
    pause = np.zeros(int(PAUSE_S * OUT_RATE), dtype=np.int16)
    halves = [await students.pcm(first, language), pause, await students.pcm(second, language)]
    return students.write(f"p{i}", np.concatenate(halves))


_NUMBER_WORDS = "zero one two three four five six seven eight nine ten".split()


def _spelled(text: str) -> str:
    """Digits written as words ("7" as "seven"), as Whisper writes either."""
    for n, word in enumerate(_NUMBER_WORDS):
        text = re.sub(rf"\b{n}\b", word, text)
    return text


def _heard_end(second: str, transcript: str) -> bool:
    """Whether the first turn's transcript holds the second half: its last word (English), or
    most of its characters (Chinese: a homophone may replace one)."""
    hanzi = [c for c in second if "\u4e00" <= c <= "\u9fff"]
    if hanzi:
        transcript = transcript.replace("7", "七")
        return sum(c in transcript for c in hanzi) * 2 >= len(hanzi)
    last = _spelled(second.lower().strip("?.").split()[-1])
    return last in _spelled(transcript.lower())


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


def stage_summary(turns: list[dict[str, Any]]) -> list[str]:
    lines = []
    for stage in STAGES:
        values = [t["metrics"][stage] for t in turns if stage in t.get("metrics", {})]
        if values:
            lines.append(summary(f"  engine: {stage}", values))
    committed = sum(1 for t in turns if t.get("metrics", {}).get("speculation") == "committed")
    drops = sum(int(t.get("metrics", {}).get("speculation_drops", 0)) for t in turns)
    lines.append(f"  answered ahead and committed {committed}/{len(turns)}, dropped {drops}")
    ahead = sum(1 for t in turns if t.get("metrics", {}).get("first_chunk_ahead"))
    lines.append(f"  first chunk's audio made ahead (or kept) {ahead}/{len(turns)}")
    return lines


async def multi_turn(
    server: Server, tutor: int, wavs: list[Path], questions: list[str]
) -> list[dict[str, Any]]:
    """One call asking each of `wavs` in turn."""
    events = await client(server, tutor, *[a for w in wavs for a in ("--wav", str(w))])
    turns = [e for e in events if e["event"] == "turn"]
    print(latency_line(f"one call, {len(turns)} turns: end of speech -> 1st audio", turns))
    print("\n".join(stage_summary(turns)))
    heard = sum(
        1
        for t, q in zip(turns, questions, strict=False)
        if set(q.lower().strip("?").split()[-1:])
        <= set(t["transcript"].lower().replace("?", "").split())
    )
    print(f"{'  transcripts with the key word':34} {heard}/{len(turns)}")
    return turns


def latency_line(name: str, turns: list[dict[str, Any]]) -> str:
    latency = [t["latency_ms"] for t in turns if t.get("latency_ms") is not None]
    missing = len(turns) - len(latency)
    return summary(name, latency) + (f"  ({missing} without audio)" if missing else "")


async def bench(server: Server, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    students = Students(folder)
    en_fresh = (args.fresh + 1) // 2
    # The multi-turn call asks other questions than the fresh calls: a reply's first words
    # repeated would come from the TTS's kept phrases and measure nothing of a first use.
    wavs = await make_wavs(students, max(en_fresh + args.turns, args.barge_ins, 1))
    multi = wavs[en_fresh:][: args.turns]
    warm = await students.say("warm", "Hello, can you hear me?")
    zh_wavs = [
        await students.say(f"zh{i}", q, "zh") for i, q in enumerate(QUESTIONS_ZH[: args.fresh])
    ]
    paused = [await paused_wav(students, i, *PAUSED[i % len(PAUSED)]) for i in range(args.paused)]
    await students.aclose()  # the voices are made: the server gets the cores to itself
    results: dict[str, Any] = {}
    # One warm-up turn: the first call after the server starts pays for caches the others share.
    await client(server, args.tutor, "--wav", str(warm))
    print(f"latency benchmark: tutor {args.tutor} (English), 2 (Chinese); default models")

    fresh: list[dict[str, Any]] = []
    # English first, then Chinese: one class asks one tutor. (The model holds one prompt: a
    # call to another tutor reads that tutor's system prompt again, seconds on 2 cores.)
    for i in range(args.fresh):
        zh = i >= (args.fresh + 1) // 2
        wav = zh_wavs[i % len(zh_wavs)] if zh else wavs[i % len(wavs)]
        events = await client(server, 2 if zh else args.tutor, "--wav", str(wav))
        fresh += [dict(e, language="zh" if zh else "en") for e in events if e["event"] == "turn"]
    if fresh:
        print(latency_line("fresh call, 1st turn: end of speech -> 1st audio", fresh))
        for lang in ("en", "zh"):
            some = [t for t in fresh if t["language"] == lang]
            if some:
                print(latency_line(f"  {lang}", some))
        print("\n".join(stage_summary(fresh)))
    results["fresh"] = fresh

    if multi:
        results["multi_turn"] = await multi_turn(server, args.tutor, multi, QUESTIONS[en_fresh:])
    if args.websocket:
        await websocket_latency(server, args, wavs)

    cut_off = 0
    answered: list[dict[str, Any]] = []
    for i, wav in enumerate(paused):
        language, first, second = PAUSED[i % len(PAUSED)]
        events = await client(server, 2 if language == "zh" else args.tutor, "--wav", str(wav))
        turn = next((e for e in events if e["event"] == "turn"), {})
        early = not _heard_end(second, turn.get("transcript", ""))
        cut_off += early
        answered.append(dict(turn, expected=f"{first} {second}", cut_off=early))
    if answered:
        print(f"{'thinking pause: answered early':34} {cut_off}/{len(answered)}")
    results["paused"] = answered

    typed = await client(server, args.tutor, *[a for q in QUESTIONS[:5] for a in ("--text", q)])
    first_delta = [e["first_delta_ms"] for e in typed if e["event"] == "reply"]
    print(summary("typed (text-only call) -> 1st delta", first_delta))
    results["typed_first_delta_ms"] = first_delta

    stops: list[float] = []
    for wav in wavs[: args.barge_ins]:
        events = await client(server, args.tutor, "--barge-in", "--wav", str(wav))
        stops += [
            e["stop_ms"]
            for e in events
            if e["event"] == "barge_in" and e.get("stop_ms") is not None
        ]
    if stops:
        print(summary("barge-in: speech start -> silence", stops))
    results["barge_in_stop_ms"] = stops
    if args.waterfall and fresh:
        waterfall(fresh, Path(args.waterfall))
        print(f"waterfall: {args.waterfall}")
    return results


def waterfall(turns: list[dict[str, Any]], path: Path) -> None:
    """The median turn: each stage as a bar from where the one before it ended (ms after the end
    of speech; work done ahead at a pause starts left of 0), and the client's first sound."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    marks = {
        name: pct(
            [
                t["metrics"]["timeline_ms"][name]
                for t in turns
                if name in t.get("metrics", {}).get("timeline_ms", {})
            ],
            50,
        )
        for name in TIMELINE
    }
    heard = pct([t["latency_ms"] for t in turns if t.get("latency_ms") is not None], 50)
    rows = [
        ("end of turn decided", 0.0, marks["decided"]),
        ("final transcript (from the 250 ms pause)", 250.0, marks["transcript"]),
        ("LLM: plan, search, read, 1st token", marks["llm_start"], marks["first_token"]),
        ("TTS: 1st chunk synthesized", marks["first_token"], marks["first_audio"]),
        ("1st frame sent", max(marks["first_audio"], marks["decided"]), marks["first_sent"]),
        ("network, jitter buffer, playout", marks["first_sent"], heard),
    ]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    for y, (_label, start, end) in enumerate(reversed(rows)):
        ax.barh(y, end - start, left=start, color="#4a7ab5" if end >= start else "#b54a4a")
        ax.text(max(start, end) + 15, y, f"{end:.0f} ms", va="center", fontsize=8)
    ax.set_yticks(range(len(rows)), [r[0] for r in reversed(rows)], fontsize=8)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.axvline(700, color="#888", linestyle="--", linewidth=0.8)
    ax.set_xlabel("ms after the student stopped speaking (median fresh-call first turn)")
    ax.set_title(f"end of speech -> first reply audio heard: p50 {heard:.0f} ms (target 700)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


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
    parser.add_argument("--fresh", type=int, default=10, help="questions, each in a new call")
    parser.add_argument("--paused", type=int, default=5, help="utterances with a thinking pause")
    parser.add_argument("--waterfall", default="bench/latency-waterfall.png")
    parser.add_argument("--json", help="write every turn's events here")
    parser.add_argument(
        "--websocket", action="store_true", help="also time the turns over the WebSocket"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        async with running_server() as server, aiohttp.ClientSession() as http:
            # The demo material is embedded after start, on the cores the turns need.
            await wait_material(http, server.url)
            results = await bench(server, args, Path(tmp))
    if args.json:
        text = json.dumps(results, ensure_ascii=False, indent=1)
        await asyncio.to_thread(Path(args.json).write_text, text)


if __name__ == "__main__":
    asyncio.run(main())
