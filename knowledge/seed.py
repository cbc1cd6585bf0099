"""Demo knowledge bases for the seeded tutors, created once.

A base is created (with its document queued for ingestion) only when no base of that name
exists yet, so running the seed again, or after a teacher has changed things, alters nothing.
The ingestion worker picks the pending documents up when it starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources

from sqlalchemy import select

from core.settings import KnowledgeSettings
from knowledge.ingest import make_document
from storage import Database, KnowledgeBase, Tutor

DEMO_KNOWLEDGE = {
    "Ada": ("Ada's science notes", "Short notes on school science topics.", "science_en.md"),
    "李老师": ("李老师的科学笔记", "小学和初中科学知识的简短笔记。", "science_zh.md"),
    "Max": ("Max's maths notes", "Short notes on school maths topics.", "maths_en.md"),
    "王老师": ("王老师的数学笔记", "小学和初中数学知识的简短笔记。", "maths_zh.md"),
}


def demo_text(filename: str) -> bytes:
    return resources.files("knowledge.demo").joinpath(filename).read_bytes()


async def seed_demo_knowledge(db: Database, tutors_by_name: Mapping[str, int]) -> list[int]:
    """Give the demo tutors (name → tutor id) their knowledge bases; returns the new bases."""
    created: list[int] = []
    limit = KnowledgeSettings().max_upload_bytes  # the demo files are ours: the default limit
    async with db.session() as s, s.begin():
        for tutor_name, (kb_name, description, filename) in DEMO_KNOWLEDGE.items():
            tutor_id = tutors_by_name.get(tutor_name)
            if tutor_id is None:
                continue
            if await s.scalar(select(KnowledgeBase.id).where(KnowledgeBase.name == kb_name)):
                continue
            kb = KnowledgeBase(name=kb_name, description=description)
            s.add(kb)
            await s.flush()
            s.add(make_document(kb.id, filename, demo_text(filename), max_bytes=limit))
            tutor = await s.get(Tutor, tutor_id)
            if tutor is not None and tutor.kb_id is None:
                tutor.kb_id = kb.id
            created.append(kb.id)
    return created
