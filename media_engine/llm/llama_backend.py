"""The embedded default: a GGUF model run by llama.cpp in a worker thread.

One model serves every call. llama.cpp is not re-entrant, so generations take turns on a single
thread; each token crosses to the event loop through `call_soon_threadsafe`, and a cancelled
stream sets a flag the thread checks between tokens, so the model is free again at once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from media_engine.llm.base import LLM, ChatMessage, GenerationOptions, LLMError

_DONE = object()
# Pieces the model may run ahead of its reader. A reader that pauses (the first words of a
# spoken reply being synthesized) pauses the model too, and the synthesis gets the cores.
MAX_AHEAD = 4


class LlamaCppLLM(LLM):
    name = "llama.cpp"

    def __init__(self, *, model_path: Path, n_ctx: int = 4096, n_threads: int = 2) -> None:
        if not model_path.is_file():
            raise LLMError(
                f"LLM model file {model_path} is missing: run `virtual-tutor models`",
                code="model_missing",
            )
        self._path = model_path
        self._n_ctx = n_ctx
        self._n_threads = n_threads
        self._model: Any = None
        self._active = 0  # generations asked for and not finished (read on both threads)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama")

    def _load(self) -> Any:
        if self._model is None:
            from llama_cpp import Llama

            self._model = Llama(
                model_path=str(self._path),
                n_ctx=self._n_ctx,
                n_threads=self._n_threads,
                n_batch=256,
                verbose=False,
            )
        return self._model

    async def warm_up(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._warm)

    def _warm(self) -> None:
        model = self._load()
        model.create_chat_completion(
            messages=[{"role": "user", "content": "Hi"}], max_tokens=1, temperature=0.0
        )

    async def prefill(self, messages: list[ChatMessage]) -> None:
        # Only when idle: reading one call's prompt must never delay another call's reply.
        if self._active:
            return
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._prefill, messages)

    def _prefill(self, messages: list[ChatMessage]) -> None:
        if self._active:
            return
        # llama.cpp keeps the tokens it last read; a later prompt that starts the same way
        # (this system prompt) only reads what comes after them.
        self._load().create_chat_completion(
            messages=[dict(m) for m in messages], max_tokens=1, temperature=0.0
        )

    async def stream(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        stop = threading.Event()
        ahead = threading.Semaphore(MAX_AHEAD)

        def put(item: object) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def run() -> None:
            try:
                for piece in self._generate(messages, options, stop):
                    while not ahead.acquire(timeout=0.05):
                        if stop.is_set():
                            return
                    put(piece)
            except Exception as exc:  # crosses the thread boundary as a value
                put(exc)
            finally:
                put(_DONE)

        self._active += 1
        future = loop.run_in_executor(self._executor, run)
        try:
            while True:
                item = await queue.get()
                ahead.release()
                if item is _DONE:
                    break
                if isinstance(item, Exception):
                    raise LLMError(f"the model failed: {item}", retryable=True) from item
                yield str(item)
        finally:
            stop.set()
            # Wait for the thread so the next generation starts on a free model.
            try:
                await asyncio.shield(future)
            finally:
                self._active -= 1

    def _generate(
        self, messages: list[ChatMessage], options: GenerationOptions, stop: threading.Event
    ) -> Iterator[str]:
        if stop.is_set():
            return
        model = self._load()
        chunks = model.create_chat_completion(
            messages=[dict(m) for m in messages],
            max_tokens=options.max_tokens,
            temperature=options.temperature,
            stream=True,
        )
        for chunk in chunks:
            if stop.is_set():
                chunks.close()
                return
            text = chunk["choices"][0]["delta"].get("content")
            if text:
                yield text

    async def aclose(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._model is not None:
            self._model.close()
            self._model = None
