"""Knowledge bases and their documents as the API and the CLI see them: plain queries."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select, update

from storage import Database, KnowledgeBase, Tutor
from storage.knowledge_tables import KBChunk, KBDocument


def document_json(d: KBDocument) -> dict[str, Any]:
    return {
        "id": d.id,
        "kb_id": d.kb_id,
        "title": d.title,
        "media_type": d.media_type,
        "size_bytes": d.size_bytes,
        "status": d.status,
        "progress": round(d.progress, 3),
        "error": d.error,
        "chunk_count": d.chunk_count,
        "created_at": d.created_at.isoformat(),
    }


class Catalog:
    """Reads and changes knowledge bases; every document query is scoped by `kb_id`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self, name: str, description: str, *, owner_id: int | None = None
    ) -> dict[str, Any]:
        async with self._db.session() as s, s.begin():
            kb = KnowledgeBase(name=name, description=description, owner_id=owner_id)
            s.add(kb)
            await s.flush()
            return {
                "id": kb.id,
                "name": kb.name,
                "description": kb.description,
                "owner_id": kb.owner_id,
                "created_at": kb.created_at.isoformat(),
                "tutor_ids": [],
                "documents": 0,
            }

    async def all(self, *, owner_id: int | None = None) -> list[dict[str, Any]]:
        """Every knowledge base, or those `owner_id` owns."""
        query = select(KnowledgeBase).order_by(KnowledgeBase.id)
        if owner_id is not None:
            query = query.where(KnowledgeBase.owner_id == owner_id)
        async with self._db.session() as s:
            kbs = list(await s.scalars(query))
            return [await self._describe(s, kb) for kb in kbs]

    async def get(self, kb_id: int) -> dict[str, Any] | None:
        async with self._db.session() as s:
            kb = await s.get(KnowledgeBase, kb_id)
            return None if kb is None else await self._describe(s, kb)

    async def _describe(self, s: Any, kb: KnowledgeBase) -> dict[str, Any]:
        tutors = await s.scalars(select(Tutor.id).where(Tutor.kb_id == kb.id).order_by(Tutor.id))
        counts = dict(
            (
                await s.execute(
                    select(KBDocument.status, func.count(KBDocument.id))
                    .where(KBDocument.kb_id == kb.id)
                    .group_by(KBDocument.status)
                )
            ).all()
        )
        return {
            "id": kb.id,
            "name": kb.name,
            "description": kb.description,
            "owner_id": kb.owner_id,
            "created_at": kb.created_at.isoformat(),
            "tutor_ids": list(tutors),
            "documents": sum(counts.values()),
            "status_counts": counts,
        }

    async def delete(self, kb_id: int) -> bool:
        async with self._db.session() as s, s.begin():
            kb = await s.get(KnowledgeBase, kb_id)
            if kb is None:
                return False
            # Explicit deletes as well as the foreign keys' cascade: a database without
            # enforced foreign keys must not keep orphaned passages either.
            await s.execute(delete(KBChunk).where(KBChunk.kb_id == kb_id))
            await s.execute(delete(KBDocument).where(KBDocument.kb_id == kb_id))
            await s.execute(update(Tutor).where(Tutor.kb_id == kb_id).values(kb_id=None))
            await s.delete(kb)
            return True

    async def tutor_owners(self, tutor_ids: list[int]) -> dict[int, int | None]:
        """The owner of each of `tutor_ids` that exists."""
        async with self._db.session() as s:
            rows = await s.execute(select(Tutor.id, Tutor.owner_id).where(Tutor.id.in_(tutor_ids)))
            return {tutor_id: owner for tutor_id, owner in rows}

    async def set_tutors(self, kb_id: int, tutor_ids: list[int]) -> list[int] | None:
        """Make exactly `tutor_ids` use this base; None when a tutor does not exist."""
        async with self._db.session() as s, s.begin():
            found = set(await s.scalars(select(Tutor.id).where(Tutor.id.in_(tutor_ids))))
            if found != set(tutor_ids):
                return None
            await s.execute(
                update(Tutor)
                .where(Tutor.kb_id == kb_id, Tutor.id.not_in(tutor_ids))
                .values(kb_id=None)
            )
            if tutor_ids:
                await s.execute(update(Tutor).where(Tutor.id.in_(tutor_ids)).values(kb_id=kb_id))
            return sorted(found)

    async def documents(self, kb_id: int) -> list[dict[str, Any]]:
        async with self._db.session() as s:
            rows = await s.scalars(
                select(KBDocument).where(KBDocument.kb_id == kb_id).order_by(KBDocument.id)
            )
            return [document_json(d) for d in rows]

    async def document(self, kb_id: int, doc_id: int) -> dict[str, Any] | None:
        async with self._db.session() as s:
            d = await s.scalar(
                select(KBDocument).where(KBDocument.id == doc_id, KBDocument.kb_id == kb_id)
            )
            return None if d is None else document_json(d)

    async def passages(self, kb_id: int, doc_id: int) -> list[dict[str, Any]] | None:
        """The passages a document was cut into, in order; None for no such document."""
        async with self._db.session() as s:
            doc = await s.scalar(
                select(KBDocument.id).where(KBDocument.id == doc_id, KBDocument.kb_id == kb_id)
            )
            if doc is None:
                return None
            rows = await s.execute(
                select(KBChunk.id, KBChunk.ordinal, KBChunk.location, KBChunk.text)
                .where(KBChunk.document_id == doc_id)
                .order_by(KBChunk.ordinal)
            )
            return [
                {"id": cid, "ordinal": ordinal, "location": location, "text": text}
                for cid, ordinal, location, text in rows
            ]

    async def delete_document(self, kb_id: int, doc_id: int) -> bool:
        async with self._db.session() as s, s.begin():
            d = await s.scalar(
                select(KBDocument).where(KBDocument.id == doc_id, KBDocument.kb_id == kb_id)
            )
            if d is None:
                return False
            await s.execute(delete(KBChunk).where(KBChunk.document_id == doc_id))
            await s.delete(d)
            return True
