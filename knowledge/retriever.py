"""Retrieval for a tutor: the best passages of its own knowledge base for a question.

Every query filters on `kb_id`; a knowledge base's index is rebuilt when its chunks change
(checked with one cheap aggregate per search, so a separate engine process sees new documents).
Embedding and index building run in the retriever's executor, never on the event loop.

BM25 runs in memory on every database. The dense half runs in memory on SQLite; on PostgreSQL
the embeddings stay in the database and pgvector finds the nearest passages (vector_search).
Only embeddings made by this retriever's model count: a knowledge base with passages another
model embedded (until the ingestion worker has embedded them again) is searched by BM25 alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, and_, case, func, null, select

from core.settings import KnowledgeSettings, Weights
from knowledge.embeddings import Embedder
from knowledge.homophones import Homophones
from knowledge.index import ChunkRow, KBIndex, Passage, dense_share
from knowledge.text import tokens
from knowledge.vector_search import PgVectorSearch
from knowledge.vocabulary import hotwords
from storage import Database
from storage.knowledge_tables import KBChunk, KBDocument, KBTurnSource, Vectors

log = logging.getLogger(__name__)

QUERY_CACHE = 256


@dataclass(frozen=True)
class Retrieval:
    """What a search found: the ranked candidates and those relevant enough to use."""

    query: str
    candidates: list[Passage]
    relevant: list[Passage]
    elapsed_ms: float


def same_question(a: str, b: str, *, overlap: float = 0.8) -> bool:
    """Whether two transcripts ask the same thing (a stable partial and the final one)."""
    ta, tb = set(tokens(a)), set(tokens(b))
    if not ta or not tb:
        return a.strip() == b.strip()
    return len(ta & tb) / len(ta | tb) >= overlap


class Retriever:
    """Searches knowledge bases; shared by every call of an engine."""

    def __init__(
        self,
        db: Database,
        embedder: Embedder | None,
        *,
        settings: KnowledgeSettings,
        executor: Executor | None = None,
    ) -> None:
        self._db = db
        self._embedder = embedder
        self.settings = settings
        self._executor = executor
        self._indexes: dict[int, tuple[tuple[int, int, int], KBIndex]] = {}
        self._vocabularies: dict[tuple[int, str], tuple[KBIndex, str]] = {}
        self._sounds: dict[int, tuple[KBIndex, Homophones]] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._vectors: OrderedDict[str, Vectors] = OrderedDict()
        self._model = embedder.name if embedder is not None else None
        self._in_database: PgVectorSearch | None = None
        if db.engine.dialect.name == "postgresql":
            self._in_database = PgVectorSearch(
                db, candidates=settings.candidates, embedder=self._model
            )

    async def search(self, kb_id: int, query: str, *, k: int | None = None) -> Retrieval:
        """The top passages of knowledge base `kb_id` for `query`."""
        started = time.perf_counter()
        k = k or self.settings.top_k
        weights = self.settings.fusion
        index = await self._index(kb_id)
        vector = await self._embed(query) if index.has_vectors else None
        loop = asyncio.get_running_loop()
        if vector is not None and self._in_database is not None and dense_share(weights, query):
            candidates = await self._search_in_database(index, query, vector, k=k, weights=weights)
        else:
            candidates = await loop.run_in_executor(
                self._executor, lambda: index.search(query, vector, k=k, weights=weights)
            )
        relevant = [p for p in candidates if p.relevance >= self.settings.min_relevance]
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        return Retrieval(query=query, candidates=candidates, relevant=relevant, elapsed_ms=elapsed)

    async def _search_in_database(
        self, index: KBIndex, query: str, vector: Vectors, *, k: int, weights: Weights
    ) -> list[Passage]:
        """BM25 here, cosine similarity from pgvector: the nearest passages and BM25's best
        (so every passage that can rank high has its exact similarity), fused as in memory."""
        assert self._in_database is not None
        loop = asyncio.get_running_loop()
        lexical = await loop.run_in_executor(self._executor, index.lexical, query)
        best = index.best_lexical(lexical, self._in_database.candidates)
        found = await self._in_database.similarities(index.kb_id, vector, also=best)
        return await loop.run_in_executor(
            self._executor,
            lambda: index.fuse(query, lexical, index.cosines_of(found), k=k, weights=weights),
        )

    async def record(self, session_id: str, turn_id: str, passages: list[Passage]) -> None:
        """Remember which passages one turn was given."""
        if not passages:
            return
        async with self._db.session() as s, s.begin():
            s.add_all(
                KBTurnSource(
                    session_id=session_id,
                    turn_id=turn_id,
                    chunk_id=p.chunk_id,
                    document_id=p.document_id,
                    title=p.title,
                    rank=rank,
                    score=p.relevance,
                )
                for rank, p in enumerate(passages, start=1)
            )

    async def vocabulary(self, kb_id: int, language: str) -> str:
        """The subject terms of knowledge base `kb_id` (knowledge.vocabulary.hotwords), worked
        out again only when its passages change."""
        index = await self._index(kb_id)
        cached = self._vocabularies.get((kb_id, language))
        if cached is not None and cached[0] is index:
            return cached[1]
        texts = [row.text for row in index.rows]
        loop = asyncio.get_running_loop()
        words = await loop.run_in_executor(self._executor, hotwords, texts, language)
        self._vocabularies[(kb_id, language)] = (index, words)
        return words

    async def homophones(self, kb_id: int) -> Homophones:
        """Knowledge base `kb_id`'s Chinese words by their sound (knowledge.homophones), worked
        out again only when its passages change."""
        index = await self._index(kb_id)
        cached = self._sounds.get(kb_id)
        if cached is not None and cached[0] is index:
            return cached[1]
        texts = [row.text for row in index.rows]
        loop = asyncio.get_running_loop()
        sounds = await loop.run_in_executor(self._executor, Homophones.of_texts, texts)
        self._sounds[kb_id] = (index, sounds)
        return sounds

    async def texts(self, kb_id: int) -> list[str]:
        """The text of every passage of knowledge base `kb_id`, in the order they were added."""
        index = await self._index(kb_id)
        return [row.text for row in index.rows]

    def forget(self, kb_id: int) -> None:
        """Drop a cached index (its documents changed in this process)."""
        self._indexes.pop(kb_id, None)

    async def _embed(self, query: str) -> Vectors | None:
        if self._embedder is None:
            return None
        cached = self._vectors.get(query)
        if cached is not None:
            self._vectors.move_to_end(query)
            return cached
        embedder = self._embedder
        loop = asyncio.get_running_loop()
        matrix = await loop.run_in_executor(self._executor, embedder.encode_query, [query])
        vector: Vectors = np.asarray(matrix[0], dtype=np.float32)
        self._vectors[query] = vector
        if len(self._vectors) > QUERY_CACHE:
            self._vectors.popitem(last=False)
        return vector

    async def _signature(self, kb_id: int) -> tuple[int, int, int]:
        """Changes when passages are added or removed, or embedded again by this model."""
        ours = func.count(case((KBChunk.embedder == self._model, 1)))
        async with self._db.session() as s:
            row = (
                await s.execute(
                    select(
                        func.count(KBChunk.id), func.coalesce(func.max(KBChunk.id), 0), ours
                    ).where(KBChunk.kb_id == kb_id)
                )
            ).one()
        return int(row[0]), int(row[1]), int(row[2])

    async def _index(self, kb_id: int) -> KBIndex:
        lock = self._locks.setdefault(kb_id, asyncio.Lock())
        async with lock:
            signature = await self._signature(kb_id)
            cached = self._indexes.get(kb_id)
            if cached is not None and cached[0] == signature:
                return cached[1]
            rows, embedded = await self._load(kb_id)
            dims = self._embedder.dimensions if self._embedder is not None else 0
            loop = asyncio.get_running_loop()
            index = await loop.run_in_executor(
                self._executor, lambda: KBIndex(kb_id, rows, dimensions=dims, embedded=embedded)
            )
            self._indexes[kb_id] = (signature, index)
            log.info("knowledge base %s: index of %d passages built", kb_id, len(rows))
            count, _, ours = signature
            if self._model is not None and ours < count:
                log.warning(
                    "knowledge base %s: %d of %d passages are not embedded by %s (yet): "
                    "searched by BM25 alone until the ingestion worker has embedded them",
                    kb_id,
                    count - ours,
                    count,
                    self._model,
                )
            return index

    async def _load(self, kb_id: int) -> tuple[list[ChunkRow], bool]:
        """The passages of `kb_id`, and whether every one has an embedding by this retriever's
        model. The embeddings themselves are loaded only where dense search runs in memory."""
        in_memory = self._in_database is None
        ours = and_(KBChunk.embedding.is_not(None), KBChunk.embedder == self._model)
        stored: ColumnElement[Any] = (
            case((ours, KBChunk.embedding), else_=null()) if in_memory else ours
        )
        query = (
            select(
                KBChunk.id,
                KBChunk.document_id,
                KBDocument.title,
                KBChunk.location,
                KBChunk.text,
                stored,
            )
            .join(KBDocument, KBDocument.id == KBChunk.document_id)
            .where(KBChunk.kb_id == kb_id, KBDocument.kb_id == kb_id)
            .order_by(KBChunk.id)
        )
        async with self._db.session() as s:
            result = (await s.execute(query)).all()
        rows = [
            ChunkRow(chunk_id, doc_id, title, location, text, embedding=v if in_memory else None)
            for chunk_id, doc_id, title, location, text, v in result
        ]
        if in_memory:
            return rows, all(v is not None for *_, v in result)
        return rows, all(v for *_, v in result)
