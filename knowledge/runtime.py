"""The knowledge runtime: the embedding model, its executor, the retriever and the ingestor,
built once per process and closed on shutdown."""

from __future__ import annotations

import asyncio
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from core.settings import KnowledgeSettings
from knowledge.embeddings import Embedder, make_embedder, setting_of
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
    embedder: Embedder | None = None
    """The dense model, for other work on the same executor (grouping questions); None when
    embeddings are off."""

    @classmethod
    async def start(
        cls,
        db: Database,
        settings: KnowledgeSettings | None = None,
        *,
        embedder: Embedder | None = None,
        ingest: bool = True,
    ) -> KnowledgeRuntime:
        """Load the embedding model (off the loop) and start the ingestion worker. A model
        given here overrides KB_EMBEDDER, and its tuned threshold and weights apply."""
        settings = settings or KnowledgeSettings()
        given = setting_of(embedder) if embedder is not None else None
        if given is not None and given != settings.embedder:
            settings = replace(settings, embedder=given)
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
        return cls(
            settings=settings,
            retriever=retriever,
            ingestor=ingestor,
            executor=executor,
            embedder=embedder,
        )

    async def aclose(self) -> None:
        await self.ingestor.aclose()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.executor.shutdown)


async def _load_embedder(settings: KnowledgeSettings, executor: ThreadPoolExecutor) -> Embedder:
    """The model KB_EMBEDDER names, loaded and warmed up off the loop."""
    # The model is read from local files only; this keeps any library from reaching a hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    loop = asyncio.get_running_loop()
    embedder = await loop.run_in_executor(executor, make_embedder, settings)
    await loop.run_in_executor(executor, embedder.encode_query, ["warm up"])
    log.info("knowledge bases: dense embeddings by %s", embedder.name)
    return embedder
