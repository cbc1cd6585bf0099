"""The backend used when ENABLE_LLM=false: every request is a clear, permanent error."""

from __future__ import annotations

from collections.abc import AsyncIterator

from media_engine.llm.base import LLM, ChatMessage, GenerationOptions, LLMError


class DisabledLLM(LLM):
    name = "disabled"

    async def stream(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[str]:
        raise LLMError(
            "replies are turned off on this server (ENABLE_LLM=false)", code="llm_disabled"
        )
        yield ""  # pragma: no cover - makes this an async generator
