"""Documents in, passages out: store an upload, then parse, chunk, embed and index it.

`Ingestor.add` validates and stores a file and queues it; one owned worker task takes documents
off the queue, reporting status (pending → processing → ready | failed) and progress on the
document's row. Chunks are written in the same transaction that marks the document ready, so a
half-ingested document is never searchable. Documents left pending by a restart are queued
again at start.

Every embedding is stored with the name of the model that made it. At start the worker also
queues, behind any upload, the documents whose passages another model embedded (KB_EMBEDDER
changed) or none did (KB_EMBEDDINGS was off): their passages are embedded again in place, one
document per transaction. Until a knowledge base's passages all carry the current model's
vectors, the retriever searches it by BM25 alone, so two vector spaces are never mixed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor

import numpy as np
from sqlalchemy import delete, select, update

from core.settings import KnowledgeSettings
from knowledge.chunking import Chunk, chunk_sections
from knowledge.embeddings import Embedder
from knowledge.errors import DocumentUnreadable, KnowledgeError, UploadRejected
from knowledge.parsing import check_upload, markdown_title, media_type_for, parse
from knowledge.text import safe_title
from storage import Database, KnowledgeBase
from storage.knowledge_tables import KBChunk, KBDocument, Vectors

log = logging.getLogger(__name__)

EMBED_BATCH = 8
"""Small batches: a query embedding waits at most one batch behind an ingestion."""
PROGRESS_EVERY_S = 0.5
INGEST, EMBED_AGAIN = 0, 1
"""Jobs of the worker, in the order it takes them: uploads before passages to embed again."""
JOBS = ("ingestion", "embedding again")

Progress = Callable[[int, int], None]
Report = Callable[[int], Awaitable[None]]


def make_document(kb_id: int, filename: str, content: bytes, *, max_bytes: int) -> KBDocument:
    """A validated, pending document row (not yet added to a session)."""
    media_type = media_type_for(filename)
    check_upload(content, media_type, max_bytes=max_bytes)
    return KBDocument(
        kb_id=kb_id,
        # What a student reads among a reply's sources: the notes' own title, else the file's.
        title=(media_type == "text/markdown" and markdown_title(content)) or safe_title(filename),
        media_type=media_type,
        size_bytes=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        content=content,
        status="pending",
        progress=0.0,
        chunk_count=0,
    )


class Ingestor:
    """Stores uploads and ingests them in the background, one at a time."""

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
        self._settings = settings
        self._executor = executor
        self._queue: asyncio.PriorityQueue[tuple[int, int]] = asyncio.PriorityQueue()
        self._worker: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        """Documents queued and not yet taken by the worker."""
        return self._queue.qsize()

    # --- uploads -------------------------------------------------------------------------------

    async def add(
        self, kb_id: int, filename: str, content: bytes, *, enqueue: bool = True
    ) -> KBDocument:
        """Validate and store one file for knowledge base `kb_id`; UploadRejected says why not."""
        document = make_document(
            kb_id, filename, content, max_bytes=self._settings.max_upload_bytes
        )
        async with self._db.session() as s, s.begin():
            if await s.get(KnowledgeBase, kb_id) is None:
                raise UploadRejected(
                    f"no knowledge base with id {kb_id}", status=404, code="not_found"
                )
            s.add(document)
        if enqueue:
            self._queue.put_nowait((INGEST, document.id))
        return document

    # --- the worker ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Queue what a previous run left unfinished, and the documents whose passages another
        model embedded, and start the worker."""
        async with self._db.session() as s:
            ids = await s.scalars(
                select(KBDocument.id)
                .where(KBDocument.status.in_(("pending", "processing")))
                .order_by(KBDocument.id)
            )
            for doc_id in ids:
                self._queue.put_nowait((INGEST, doc_id))
            if self._embedder is not None:
                stale = list(
                    await s.scalars(
                        select(KBChunk.document_id)
                        .where(KBChunk.embedder.is_distinct_from(self._embedder.name))
                        .distinct()
                    )
                )
                if stale:
                    log.info(
                        "%d documents have passages not embedded by %s: embedding them again",
                        len(stale),
                        self._embedder.name,
                    )
                for doc_id in stale:
                    self._queue.put_nowait((EMBED_AGAIN, doc_id))
        self._worker = asyncio.create_task(self._run(), name="knowledge-ingest")

    async def aclose(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None

    async def idle(self) -> None:
        """Wait until every queued document is processed (tests, the CLI)."""
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            job, doc_id = await self._queue.get()
            try:
                if job == INGEST:
                    await self.ingest(doc_id)
                else:
                    await self.embed_again(doc_id)
            except Exception:  # one document's failure must not stop the worker
                log.exception("document %s: %s failed", doc_id, JOBS[job])
            finally:
                self._queue.task_done()

    async def embed_again(self, doc_id: int) -> int:
        """Embed with this model, in place, the passages of one document that another model
        embedded or none did; returns how many. The document's passages change together."""
        if self._embedder is None:
            return 0
        name = self._embedder.name
        async with self._db.session() as s:
            rows = (
                await s.execute(
                    select(KBChunk.id, KBChunk.location, KBChunk.text)
                    .where(KBChunk.document_id == doc_id, KBChunk.embedder.is_distinct_from(name))
                    .order_by(KBChunk.id)
                )
            ).all()
        if not rows:
            return 0
        vectors = await self._embed([(location, text) for _, location, text in rows])
        async with self._db.session() as s, s.begin():
            await s.execute(
                update(KBChunk),
                [
                    {"id": chunk_id, "embedding": vector, "embedder": name}
                    for (chunk_id, _, _), vector in zip(rows, vectors, strict=True)
                ],
            )
        log.info("document %s: %d passages embedded again by %s", doc_id, len(rows), name)
        return len(rows)

    async def _embed(
        self, passages: list[tuple[str, str]], report: Report | None = None
    ) -> list[Vectors]:
        """The embeddings of (location, text) passages, a small batch at a time."""
        assert self._embedder is not None
        embedder = self._embedder
        loop = asyncio.get_running_loop()
        vectors: list[Vectors] = []
        for start in range(0, len(passages), EMBED_BATCH):
            batch = [f"{where}\n{text}".strip() for where, text in passages[start:][:EMBED_BATCH]]
            matrix = await loop.run_in_executor(self._executor, embedder.encode, batch)
            vectors.extend(np.array(row, dtype=np.float32) for row in matrix)
            if report is not None:
                await report(len(vectors))
        return vectors

    async def ingest(self, doc_id: int, *, progress: Progress | None = None) -> str:
        """Ingest one stored document now; returns its final status."""
        started = time.perf_counter()
        async with self._db.session() as s, s.begin():
            found = (
                await s.execute(
                    select(KBDocument.content, KBDocument.media_type, KBDocument.kb_id).where(
                        KBDocument.id == doc_id
                    )
                )
            ).one_or_none()
            if found is None:
                return "gone"
            content, media_type, kb_id = found
            await s.execute(
                update(KBDocument)
                .where(KBDocument.id == doc_id)
                .values(status="processing", progress=0.05, error=None)
            )
        try:
            chunks, vectors = await self._process(doc_id, content, media_type, progress)
        except DocumentUnreadable as exc:
            await self._set(doc_id, status="failed", error=str(exc), progress=1.0)
            log.info("document %s: unreadable (%s)", doc_id, exc)
            return "failed"
        except KnowledgeError as exc:
            await self._set(doc_id, status="failed", error=str(exc), progress=1.0)
            log.warning("document %s: ingestion failed: %s", doc_id, exc)
            return "failed"
        except Exception:
            log.exception("document %s: ingestion failed", doc_id)
            await self._set(
                doc_id, status="failed", error="internal error while ingesting", progress=1.0
            )
            return "failed"
        status = await self._store(doc_id, kb_id, chunks, vectors)
        log.info(
            "document %s: %s, %d passages in %.1f s",
            doc_id,
            status,
            len(chunks),
            time.perf_counter() - started,
        )
        return status

    async def _process(
        self, doc_id: int, content: bytes, media_type: str, progress: Progress | None
    ) -> tuple[list[Chunk], list[Vectors | None]]:
        loop = asyncio.get_running_loop()
        chunks = await loop.run_in_executor(
            self._executor, lambda: chunk_sections(parse(content, media_type))
        )
        if not chunks:
            raise DocumentUnreadable("the document has no text")
        await self._set(doc_id, progress=0.1)
        if self._embedder is None:
            return chunks, [None] * len(chunks)
        last = time.monotonic()

        async def report(done: int) -> None:
            nonlocal last
            if progress is not None:
                progress(done, len(chunks))
            if time.monotonic() - last > PROGRESS_EVERY_S:
                last = time.monotonic()
                await self._set(doc_id, progress=round(0.1 + 0.85 * done / len(chunks), 3))

        vectors = await self._embed([(c.location, c.text) for c in chunks], report)
        return chunks, list(vectors)

    async def _store(
        self, doc_id: int, kb_id: int, chunks: list[Chunk], vectors: list[Vectors | None]
    ) -> str:
        name = self._embedder.name if self._embedder is not None else None
        async with self._db.session() as s, s.begin():
            doc = await s.get(KBDocument, doc_id)
            if doc is None:  # deleted while it was being processed
                return "gone"
            await s.execute(delete(KBChunk).where(KBChunk.document_id == doc_id))
            s.add_all(
                KBChunk(
                    kb_id=kb_id,
                    document_id=doc_id,
                    ordinal=i,
                    location=c.location[:200],
                    text=c.text,
                    embedding=v,
                    embedder=name if v is not None else None,
                )
                for i, (c, v) in enumerate(zip(chunks, vectors, strict=True))
            )
            doc.status, doc.progress, doc.chunk_count, doc.error = "ready", 1.0, len(chunks), None
        return "ready"

    async def _set(self, doc_id: int, **values: object) -> None:
        async with self._db.session() as s, s.begin():
            await s.execute(update(KBDocument).where(KBDocument.id == doc_id).values(**values))
