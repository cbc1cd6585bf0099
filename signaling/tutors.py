"""The tutor catalog: plain queries behind the tutor routes, on fields the handlers validated.

A student sees the tutors for everyone and those of their classes, without persona prompts;
teachers and admins see every tutor. A teacher changes only the tutors they made.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from auth import Principal, Role
from signaling.access import check_owns, tutor_visible_to
from signaling.classes import check_class_ids
from signaling.errors import Refused, not_found
from storage import Database, KnowledgeBase, SchoolClass, Tutor, TutorClass


def tutor_json(t: Tutor, class_ids: list[int], *, for_staff: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": t.id,
        "name": t.name,
        "subject": t.subject,
        "language": t.language,
        "voice": t.voice,
        "kb_id": t.kb_id,
        "answer_policy": t.answer_policy,
    }
    if for_staff:
        # A persona prompt is the teacher's work and how the tutor is steered: not for students.
        out |= {
            "persona_prompt": t.persona_prompt,
            "owner_id": t.owner_id,
            "everyone": t.everyone,
            "class_ids": class_ids,
        }
    return out


def _staff(who: Principal) -> bool:
    return who.role is not Role.STUDENT


class TutorService:
    """Reads and changes tutors; a missing (or, for a student, unseen) tutor is a 404."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def _classes(self, s: AsyncSession, tutor_ids: list[int]) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {t: [] for t in tutor_ids}
        rows = await s.execute(
            select(TutorClass.tutor_id, TutorClass.class_id)
            .where(TutorClass.tutor_id.in_(tutor_ids))
            .order_by(TutorClass.class_id)
        )
        for tutor_id, class_id in rows:
            out[tutor_id].append(class_id)
        return out

    async def _json(
        self, s: AsyncSession, who: Principal, tutors: list[Tutor]
    ) -> list[dict[str, Any]]:
        classes = await self._classes(s, [t.id for t in tutors])
        return [tutor_json(t, classes[t.id], for_staff=_staff(who)) for t in tutors]

    async def all(self, who: Principal) -> list[dict[str, Any]]:
        query = select(Tutor).order_by(Tutor.id)
        if not _staff(who):
            query = query.where(tutor_visible_to(who.user_id))
        async with self._db.session() as s:
            return await self._json(s, who, list(await s.scalars(query)))

    async def visible(self, s: AsyncSession, who: Principal, tutor_id: int) -> Tutor:
        """The tutor, if `who` may see it: a tutor of another class does not exist for them."""
        query = select(Tutor).where(Tutor.id == tutor_id)
        if not _staff(who):
            query = query.where(tutor_visible_to(who.user_id))
        tutor = await s.scalar(query)
        if tutor is None:
            raise not_found("tutor")
        return tutor

    async def get(self, who: Principal, tutor_id: int) -> dict[str, Any]:
        async with self._db.session() as s:
            return (await self._json(s, who, [await self.visible(s, who, tutor_id)]))[0]

    async def _check(self, s: AsyncSession, who: Principal, fields: dict[str, Any]) -> None:
        """The knowledge base and the classes named may be used by `who`."""
        if (kb_id := fields.get("kb_id")) is not None:
            kb = await s.get(KnowledgeBase, kb_id)
            if kb is None:
                raise Refused(f"no knowledge base with id {kb_id}")
            check_owns(who, kb.owner_id, "knowledge bases")
        if "class_ids" in fields:
            rows = await s.execute(
                select(SchoolClass.id, SchoolClass.teacher_id).where(
                    SchoolClass.id.in_(fields["class_ids"])
                )
            )
            check_class_ids(who, {c: t for c, t in rows}, fields["class_ids"])

    async def _set(self, s: AsyncSession, tutor: Tutor, fields: dict[str, Any]) -> None:
        for name, value in fields.items():
            if name != "class_ids":
                setattr(tutor, name, value)
        await s.flush()
        if "class_ids" in fields:
            await s.execute(delete(TutorClass).where(TutorClass.tutor_id == tutor.id))
            s.add_all(TutorClass(tutor_id=tutor.id, class_id=c) for c in set(fields["class_ids"]))
            await s.flush()

    async def create(self, who: Principal, fields: dict[str, Any]) -> dict[str, Any]:
        async with self._db.session() as s, s.begin():
            await self._check(s, who, fields)
            tutor = Tutor(owner_id=who.user_id)
            s.add(tutor)
            await self._set(s, tutor, fields)
            return (await self._json(s, who, [tutor]))[0]

    async def update(self, who: Principal, tutor_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        async with self._db.session() as s, s.begin():
            tutor = await self.visible(s, who, tutor_id)
            check_owns(who, tutor.owner_id, "tutors")
            await self._check(s, who, fields)
            await self._set(s, tutor, fields)
            return (await self._json(s, who, [tutor]))[0]

    async def delete(self, who: Principal, tutor_id: int) -> None:
        async with self._db.session() as s, s.begin():
            tutor = await self.visible(s, who, tutor_id)
            check_owns(who, tutor.owner_id, "tutors")
            await s.execute(delete(TutorClass).where(TutorClass.tutor_id == tutor_id))
            await s.delete(tutor)
