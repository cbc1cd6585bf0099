"""Dense search inside PostgreSQL: pgvector's cosine distance over one knowledge base's chunks.

`ORDER BY embedding <=> :query LIMIT n` is answered by the HNSW index (vector_cosine_ops) that
migration 0003 creates. The `kb_id` filter is applied while the index is walked: from pgvector
0.8 on, an iterative scan goes on until enough chunks of this base are found, so a base among
many larger ones still gets its n nearest; before 0.8 a wider `ef_search` is all there is.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import CompoundSelect, Float, Select, func, select, text, union
from sqlalchemy.ext.asyncio import AsyncSession

from storage import Database
from storage.knowledge_tables import KBChunk, Vectors

ITERATIVE_SCAN = (0, 8, 0)
"""The first pgvector release whose HNSW scan can continue past `ef_search` under a filter."""
EF_SEARCH_PER_CANDIDATE = 4
"""HNSW's search list, per passage asked for. pgvector's default (40) found 80% of the true 50
nearest in a 20,000-passage base of clustered synthetic vectors; 200 found all of them, for
about 7 ms a question on two cores."""
EF_SEARCH_RANGE = (40, 1000)
"""pgvector's default and largest `hnsw.ef_search`."""
EXTENSION_VERSION = text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")


def _version(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


class PgVectorSearch:
    """Cosine similarities from the database, for the retriever to fuse with BM25."""

    def __init__(self, db: Database, *, candidates: int, embedder: str | None = None) -> None:
        """`embedder`: only embeddings made by the model of this name count (all if None)."""
        self._db = db
        self.candidates = candidates
        self._embedder = embedder
        self._iterative: bool | None = None

    async def similarities(
        self, kb_id: int, vector: Vectors, *, also: Sequence[int] = ()
    ) -> dict[int, float]:
        """Cosine similarity, by chunk id, of the `candidates` chunks of `kb_id` nearest to
        `vector`, and of those chunks among `also` (BM25's best) that belong to `kb_id`,
        however far they are."""
        distance = KBChunk.embedding.op("<=>", return_type=Float)(vector)
        ours = [KBChunk.kb_id == kb_id, KBChunk.embedding.is_not(None)]
        if self._embedder is not None:
            ours.append(KBChunk.embedder == self._embedder)
        nearest = (
            select(KBChunk.id, distance.label("distance"))
            .where(*ours)
            .order_by(distance)
            .limit(self.candidates)
        )
        query: Select[int, float] | CompoundSelect[int, float] = nearest
        if also:
            named = select(KBChunk.id, distance.label("distance")).where(
                *ours, KBChunk.id.in_(also)
            )
            query = union(nearest, named)
        async with self._db.session() as s, s.begin():
            await self._tune(s)
            rows = (await s.execute(query)).all()
        return {int(chunk_id): 1.0 - float(d) for chunk_id, d in rows}

    async def _tune(self, s: AsyncSession) -> None:
        """Settings for this transaction only: a search list a few times longer than the
        answer, and the iterative scan where the server has it."""
        if self._iterative is None:
            found = await s.scalar(EXTENSION_VERSION)
            self._iterative = found is not None and _version(str(found)) >= ITERATIVE_SCAN
        low, high = EF_SEARCH_RANGE
        ef_search = str(min(max(EF_SEARCH_PER_CANDIDATE * self.candidates, low), high))
        settings = [func.set_config("hnsw.ef_search", ef_search, True)]
        if self._iterative:
            settings.append(func.set_config("hnsw.iterative_scan", "relaxed_order", True))
        await s.execute(select(*settings))
