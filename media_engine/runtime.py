"""What every call of an engine shares: settings, the LLM, the voice models and the store.

Built once at start (models loaded and warmed there, not on the first turn) and closed at
shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from auth.tokens import TokenIssuer
from core.paths import ModelPaths
from core.settings import Settings
from knowledge.retriever import Retriever
from media_engine import lexicon
from media_engine.answering import UnknownWords
from media_engine.audio import PacingStats
from media_engine.llm.base import LLM
from media_engine.store import TurnStore
from storage import Database

if TYPE_CHECKING:
    from media_engine.voice_models import VoiceModels

log = logging.getLogger(__name__)


class VoiceFactory(Protocol):
    """Makes the voice pipeline of one call (see media_engine.voice)."""

    pacing: PacingStats
    """Outbound audio timing over every call."""
    models: VoiceModels
    """The shared models (voice samples for teachers use its TTS)."""

    def create(self, call: Any) -> Any: ...

    async def aclose(self) -> None: ...


@dataclass
class EngineRuntime:
    settings: Settings
    db: Database
    store: TurnStore
    issuer: TokenIssuer
    llm: LLM
    voice: VoiceFactory | None = None
    retriever: Retriever | None = None
    """Course material for tutors with a knowledge base; None serves ungrounded replies."""
    owns_llm: bool = True
    """False when the LLM was handed in (shared by tests and benchmarks) and outlives us."""
    unknown_words: UnknownWords | None = None
    """The dictionary the engine checks a question's words against (media_engine.lexicon)."""

    async def aclose(self) -> None:
        if self.voice is not None:
            await self.voice.aclose()
        if self.owns_llm:
            await self.llm.aclose()


def create_llm(settings: Settings) -> LLM:
    """The configured LLM backend: disabled, an OpenAI-compatible server, Ollama, or the
    embedded llama.cpp model."""
    if not settings.enable_llm:
        from media_engine.llm.disabled import DisabledLLM

        return DisabledLLM()
    if settings.llm_base_url:
        from media_engine.llm.openai_backend import OpenAICompatibleLLM

        return OpenAICompatibleLLM(
            base_url=settings.llm_base_url,
            model=settings.llm_model,
            api_key=settings.llm_api_key,
            timeout_s=settings.llm_timeout_seconds,
        )
    if settings.ollama_base_url:
        from media_engine.llm.ollama_backend import OllamaLLM

        return OllamaLLM(
            base_url=settings.ollama_base_url,
            model=settings.default_llm_model,
            timeout_s=settings.ollama_timeout_seconds,
        )
    from media_engine.llm.llama_backend import LlamaCppLLM

    return LlamaCppLLM(
        model_path=ModelPaths.for_settings(settings).llm,
        n_ctx=settings.llm_context,
        n_threads=settings.llm_threads,
    )


async def create_runtime(
    settings: Settings,
    db: Database,
    *,
    llm: LLM | None = None,
    retriever: Retriever | None = None,
) -> EngineRuntime:
    """Load and warm every model the engine needs; an `llm` handed in is used, not owned."""
    owns_llm = llm is None
    llm = llm or create_llm(settings)
    await llm.warm_up()
    await asyncio.to_thread(lexicon.warm)
    voice: VoiceFactory | None = None
    if settings.load_voice_models:
        from media_engine.voice import create_voice_factory

        voice = await create_voice_factory(settings)
    return EngineRuntime(
        settings=settings,
        db=db,
        store=TurnStore(db),
        issuer=TokenIssuer(secret_key=settings.secret_key, algorithm=settings.algorithm),
        llm=llm,
        voice=voice,
        retriever=retriever,
        owns_llm=owns_llm,
        unknown_words=lexicon.unknown_words,
    )
