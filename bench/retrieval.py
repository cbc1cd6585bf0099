"""Retrieval benchmark over the demo knowledge bases (English and Chinese).

Prints recall@3 (the expected section among the top three passages) and recall@1, how often
the relevance threshold keeps the expected passage and how often it refuses questions the
material cannot answer, and retrieval time per question (p50/p95), for hybrid, lexical-only and
dense-only ranking. Query embeddings are cached, so only the first (hybrid) pass shows the
time of embedding a new question.
Run: `python bench/retrieval.py` (the embedding model must be installed). It uses a temporary
SQLite database; with DATABASE_URL set (e.g. `postgresql://user@host/bench_db`, an empty
database) it runs there instead, so on PostgreSQL the dense half is pgvector's.
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

from sqlalchemy import select  # noqa: E402

from core.settings import KnowledgeSettings  # noqa: E402
from knowledge.index import Weights  # noqa: E402
from knowledge.runtime import KnowledgeRuntime  # noqa: E402
from knowledge.seed import seed_demo_knowledge  # noqa: E402
from storage import Database, Tutor  # noqa: E402

QUESTIONS = Path(__file__).with_name("retrieval_questions.json")
MODES = {
    "hybrid": Weights(),
    "lexical": Weights(dense_en=0.0, dense_zh=0.0),
    "dense": Weights(dense_en=1.0, dense_zh=1.0),
}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main() -> None:
    data = json.loads(QUESTIONS.read_text())
    url = os.environ.get("DATABASE_URL")
    if url:
        await run(url, data)
        return
    with tempfile.TemporaryDirectory() as tmp:
        await run(f"sqlite:///{tmp}/bench.db", data)


async def run(url: str, data: dict) -> None:  # type: ignore[type-arg]
    db = Database(url)
    await db.migrate()
    async with db.session() as s:
        if await s.scalar(select(Tutor.id).limit(1)) is not None:
            await db.close()
            raise SystemExit("DATABASE_URL must name an empty database: the benchmark adds tutors")
    print(f"database: {db.url.get_backend_name()}")
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
    runtime = await KnowledgeRuntime.start(db, KnowledgeSettings())
    await runtime.ingestor.idle()
    async with db.session() as s:
        kbs = {t.name: t.kb_id for t in await s.scalars(select(Tutor))}
    retriever = runtime.retriever
    for mode, weights in MODES.items():
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
    asyncio.run(main())
