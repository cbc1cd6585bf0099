"""The knowledge runtime: the embedding model, its executor, the retriever and the ingestor,
built once per process and closed on shutdown."""

from __future__ import annotations

import asyncio
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from core.settings import KnowledgeSettings
from knowledge.embeddings import Embedder, MiniLMEmbedder
from knowledge.ingest import Ingestor
from knowledge.retriever import Retriever
from storage import Database

log = logging.getLogger(__name__)


@dataclass
class KnowledgeRuntime:
    """Everything knowledge bases need at run time; `retriever` is what calls use."""

    settings: KnowledgeSettings
    retriever: Retriever
    ingestor: Ingestor
    executor: ThreadPoolExecutor

    @classmethod
    async def start(
        cls,
        db: Database,
        settings: KnowledgeSettings | None = None,
        *,
        embedder: Embedder | None = None,
        ingest: bool = True,
    ) -> KnowledgeRuntime:
        """Load the embedding model (off the loop) and start the ingestion worker."""
        settings = settings or KnowledgeSettings()
        # One worker: embedding is CPU-bound and the lock inside the model serialises it anyway.
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="knowledge")
        try:
            if embedder is None and settings.embeddings:
                embedder = await _load_embedder(settings, executor)
        except BaseException:
            executor.shutdown(wait=False, cancel_futures=True)
            raise
        if embedder is None:
            log.warning("knowledge bases: dense embeddings are off, retrieval is lexical only")
        retriever = Retriever(db, embedder, settings=settings, executor=executor)
        ingestor = Ingestor(db, embedder, settings=settings, executor=executor)
        if ingest:
            await ingestor.start()
        return cls(settings=settings, retriever=retriever, ingestor=ingestor, executor=executor)

    async def aclose(self) -> None:
        await self.ingestor.aclose()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.executor.shutdown)


async def _load_embedder(settings: KnowledgeSettings, executor: ThreadPoolExecutor) -> Embedder:
    # The model is read from local files only; this keeps any library from reaching a hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    loop = asyncio.get_running_loop()
    embedder: Embedder = await loop.run_in_executor(
        executor,
        lambda: MiniLMEmbedder(settings.model_dir, threads=settings.embed_threads),
    )
    await loop.run_in_executor(executor, embedder.encode, ["warm up"])
    return embedder
