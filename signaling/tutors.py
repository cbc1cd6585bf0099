"""The tutor catalog: plain queries behind the tutor routes, on fields the handlers validated."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from storage import Database, KnowledgeBase, Tutor


def tutor_json(t: Tutor) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "subject": t.subject,
        "language": t.language,
        "persona_prompt": t.persona_prompt,
        "voice": t.voice,
        "kb_id": t.kb_id,
        "answer_policy": t.answer_policy,
    }


class TutorService:
    """Reads and changes tutors; a missing tutor is None (or False), for the caller to answer."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def all(self) -> list[dict[str, Any]]:
        async with self._db.session() as s:
            rows = await s.scalars(select(Tutor).order_by(Tutor.id))
            return [tutor_json(t) for t in rows]

    async def get(self, tutor_id: int) -> dict[str, Any] | None:
        async with self._db.session() as s:
            tutor = await s.get(Tutor, tutor_id)
        return None if tutor is None else tutor_json(tutor)

    async def knowledge_base_exists(self, kb_id: int) -> bool:
        async with self._db.session() as s:
            return await s.get(KnowledgeBase, kb_id) is not None

    async def create(self, fields: dict[str, Any]) -> dict[str, Any]:
        async with self._db.session() as s, s.begin():
            tutor = Tutor(**fields)
            s.add(tutor)
        return tutor_json(tutor)

    async def update(self, tutor_id: int, fields: dict[str, Any]) -> dict[str, Any] | None:
        async with self._db.session() as s, s.begin():
            tutor = await s.get(Tutor, tutor_id)
            if tutor is None:
                return None
            for name, value in fields.items():
                setattr(tutor, name, value)
        return tutor_json(tutor)

    async def delete(self, tutor_id: int) -> bool:
        async with self._db.session() as s, s.begin():
            tutor = await s.get(Tutor, tutor_id)
            if tutor is None:
                return False
            await s.delete(tutor)
        return True
