"""Replies from an OpenAI-compatible chat server: vLLM, SGLang, llama.cpp's server, or a hosted
service (`LLM_BASE_URL`, `LLM_API_KEY`, `LLM_MODEL`), streamed over server-sent events.

A GPU model server answers many engines at once; the engine keeps what is its own: the
cancellation (closing the stream closes the connection, and the server stops generating) and
the same retryable `llm_error` as the other backends.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from media_engine.llm.base import LLM, ChatMessage, GenerationOptions, LLMError

log = logging.getLogger(__name__)


def _prefix_as_instruction(messages: list[ChatMessage]) -> list[ChatMessage]:
    """For a server that cannot go on from a started reply: the start becomes an instruction
    on the student's message, and the model writes what follows it."""
    *head, last = messages
    if not head or head[-1]["role"] != "user":
        return head
    note = (
        f'\n\n(Your reply has already begun with: "{last["content"]}" - continue right after '
        "it, without repeating it.)"
    )
    return [*head[:-1], {"role": "user", "content": head[-1]["content"] + note}]


class OpenAICompatibleLLM(LLM):
    name = "openai-compatible"

    def __init__(
        self, *, base_url: str, model: str, api_key: str | None = None, timeout_s: float = 30.0
    ) -> None:
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._model = model
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout_s = timeout_s
        self._http: aiohttp.ClientSession | None = None
        # vLLM and SGLang go on from a started reply when asked; a server that refuses the
        # request fields is asked the other way from then on.
        self._continues = True

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            timeout = aiohttp.ClientTimeout(connect=self._timeout_s, sock_read=self._timeout_s)
            self._http = aiohttp.ClientSession(timeout=timeout, headers=self._headers)
        return self._http

    def _body(self, messages: list[ChatMessage], options: GenerationOptions) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self._model,
            "stream": True,
            "max_tokens": options.max_tokens,
            "temperature": options.temperature,
        }
        started = bool(messages) and messages[-1]["role"] == "assistant"
        if started and self._continues:
            body |= {"continue_final_message": True, "add_generation_prompt": False}
        elif started:
            messages = _prefix_as_instruction(messages)
        body["messages"] = [dict(m) for m in messages]
        return body

    async def stream(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[str]:
        started = bool(messages) and messages[-1]["role"] == "assistant"
        try:
            async with self._session().post(self._url, json=self._body(messages, options)) as resp:
                if resp.status in (400, 422) and started and self._continues:
                    log.info("%s cannot go on from a started reply; asking otherwise", self._url)
                    self._continues = False
                    retry = self._body(messages, options)
                    async with self._session().post(self._url, json=retry) as again:
                        async for piece in self._pieces(again):
                            yield piece
                    return
                async for piece in self._pieces(resp):
                    yield piece
        except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
            raise LLMError(
                f"cannot reach the model server: {type(exc).__name__}", retryable=True
            ) from exc

    async def _pieces(self, resp: aiohttp.ClientResponse) -> AsyncIterator[str]:
        if resp.status >= 400:
            detail = (await resp.text())[:200]
            raise LLMError(
                f"the model server refused the request ({resp.status}): {detail}",
                retryable=resp.status >= 500 or resp.status == 429,
            )
        async for raw in resp.content:
            line = raw.decode("utf-8", "replace").strip()
            if not line.startswith("data:"):
                continue  # comments, keep-alives, event names
            data = line[5:].strip()
            if data == "[DONE]":
                return
            try:
                chunk = json.loads(data)
            except ValueError as exc:
                raise LLMError("the model server sent a malformed event", retryable=True) from exc
            if "error" in chunk:
                raise LLMError(f"the model server failed: {chunk['error']}", retryable=True)
            for choice in chunk.get("choices") or ():
                text = (choice.get("delta") or {}).get("content")
                if text:
                    yield str(text)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            await asyncio.sleep(0)  # let the connector's transports close
