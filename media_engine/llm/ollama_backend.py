"""Replies from an Ollama server, through the official `ollama` client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import ollama

from media_engine.llm.base import LLM, ChatMessage, GenerationOptions, LLMError


class OllamaLLM(LLM):
    name = "ollama"

    def __init__(self, *, base_url: str, model: str, timeout_s: float = 60.0) -> None:
        self._model = model
        self._client = ollama.AsyncClient(host=base_url, timeout=timeout_s)

    async def stream(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[str]:
        try:
            parts = await self._client.chat(
                model=self._model,
                messages=[dict(m) for m in messages],
                stream=True,
                options={"num_predict": options.max_tokens, "temperature": options.temperature},
            )
            async for part in parts:
                text = part.message.content or ""
                if text:
                    yield text
        except ollama.ResponseError as exc:
            # 404 means the model is not pulled: asking again will not help.
            raise LLMError(
                f"Ollama refused the request: {exc.error}", retryable=exc.status_code >= 500
            ) from exc
        except (httpx.HTTPError, ConnectionError) as exc:
            raise LLMError(f"cannot reach Ollama: {exc}", retryable=True) from exc

    async def aclose(self) -> None:
        await self._client._client.aclose()
