"""Retrieval benchmark over the demo knowledge bases (English and Chinese), per embedder.

Prints recall@3 (the expected section among the top three passages) and recall@1, how often
the relevance threshold keeps the expected passage and how often it refuses questions the
material cannot answer, and retrieval time per question (p50/p95), for hybrid, lexical-only and
dense-only ranking (hybrid with the embedder's weights, core.settings.WEIGHTS), and how long
ingesting the material took. Query embeddings are cached, so only the first (hybrid) pass
shows the time of embedding a new question.
Run: `python bench/retrieval.py [e5] [minilm]` (default: both, each on its own database). It
uses a temporary SQLite database; with DATABASE_URL set (e.g. `postgresql://user@host/bench_db`,
an empty database; name one embedder) it runs there instead, so on PostgreSQL the dense half is
pgvector's.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select  # noqa: E402

from core.settings import WEIGHTS, KnowledgeSettings, Weights  # noqa: E402
from knowledge.runtime import KnowledgeRuntime  # noqa: E402
from knowledge.seed import seed_demo_knowledge  # noqa: E402
from storage import Database, KBChunk, Tutor  # noqa: E402

QUESTIONS = Path(__file__).with_name("retrieval_questions.json")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main(embedders: list[str]) -> None:
    data = json.loads(QUESTIONS.read_text())
    unknown = set(embedders) - set(WEIGHTS)
    if unknown:
        raise SystemExit(f"no embedder {', '.join(sorted(unknown))}: name {' or '.join(WEIGHTS)}")
    url = os.environ.get("DATABASE_URL")
    if url:
        if len(embedders) != 1:
            raise SystemExit("with DATABASE_URL, name one embedder: its database must be empty")
        await run(url, data, embedders[0])
        return
    for embedder in embedders:
        with tempfile.TemporaryDirectory() as tmp:
            await run(f"sqlite:///{tmp}/bench.db", data, embedder)


async def run(url: str, data: dict, embedder: str) -> None:  # type: ignore[type-arg]
    db = Database(url)
    await db.migrate()
    async with db.session() as s:
        if await s.scalar(select(Tutor.id).limit(1)) is not None:
            await db.close()
            raise SystemExit("DATABASE_URL must name an empty database: the benchmark adds tutors")
    settings = KnowledgeSettings(embedder=embedder)
    tuned = settings.fusion
    print(
        f"\nembedder: {embedder}, database: {db.url.get_backend_name()}, min_relevance "
        f"{settings.min_relevance}, weights: en {tuned.dense_en} zh {tuned.dense_zh}, "
        f"similarity floor {tuned.floor}"
    )
    async with db.session() as s, s.begin():
        s.add_all(
            [
                Tutor(name="Ada", subject="Science"),
                Tutor(name="李老师", subject="科学", language="zh"),
            ]
        )
    async with db.session() as s:
        tutors = {t.name: t.id for t in await s.scalars(select(Tutor))}
    await seed_demo_knowledge(db, tutors)
    runtime = await KnowledgeRuntime.start(db, settings)
    started = time.perf_counter()
    await runtime.ingestor.idle()
    elapsed = time.perf_counter() - started
    async with db.session() as s:
        passages = await s.scalar(select(func.count(KBChunk.id)))
    threads = runtime.settings.embed_threads
    print(f"ingested {passages} passages in {elapsed:.1f} s on {threads} embedding thread(s)")
    async with db.session() as s:
        kbs = {t.name: t.kb_id for t in await s.scalars(select(Tutor))}
    retriever = runtime.retriever
    modes = {
        "hybrid": tuned,
        "lexical": Weights(dense_en=0.0, dense_zh=0.0),
        "dense": Weights(dense_en=1.0, dense_zh=1.0, floor=tuned.floor),
    }
    for mode, weights in modes.items():
        retriever.settings = replace(retriever.settings, weights=weights)
        await report(mode, data, kbs, retriever)
    await runtime.aclose()
    await db.close()


async def report(mode: str, data: dict, kbs: dict, retriever: object) -> None:  # type: ignore[type-arg]
    rows = []
    for lang in ("en", "zh"):
        hits = top1 = kept = total = 0
        times: list[float] = []
        for item in data["answerable"]:
            if (item["kb"] == "Ada") != (lang == "en"):
                continue
            found = await retriever.search(kbs[item["kb"]], item["q"], k=3)  # type: ignore[attr-defined]
            times.append(found.elapsed_ms)
            total += 1
            hits += any(p.location == item["expect"] for p in found.candidates)
            top1 += bool(found.candidates) and found.candidates[0].location == item["expect"]
            kept += any(p.location == item["expect"] for p in found.relevant)
        refused = n_un = 0
        for item in data["unanswerable"]:
            if (item["kb"] == "Ada") != (lang == "en"):
                continue
            started = time.perf_counter()
            found = await retriever.search(kbs[item["kb"]], item["q"], k=3)  # type: ignore[attr-defined]
            times.append((time.perf_counter() - started) * 1000)
            n_un += 1
            refused += not found.relevant
        rows.append(
            f"{mode:8} {lang}  recall@3 {hits}/{total} = {hits / total:.2f}  "
            f"recall@1 {top1 / total:.2f}  "
            f"kept by threshold {kept / total:.2f}  refused unanswerable {refused}/{n_un}  "
            f"time p50 {statistics.median(times):.1f} ms p95 {pct(times, 0.95):.1f} ms"
        )
    print("\n".join(rows))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:] or list(WEIGHTS)))
