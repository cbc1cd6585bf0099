"""The embedded default: a GGUF model run by llama.cpp in a worker thread.

One model serves every call. llama.cpp is not re-entrant, so generations take turns on a single
thread; each token crosses to the event loop through `call_soon_threadsafe`, and a cancelled
stream sets a flag the thread checks between tokens, so the model is free again at once.

Most of the time to a reply's first token on a CPU is reading its prompt, so prompts are read
ahead (`prefill`) while the model is idle: a call's system prompt when it connects, the turn
as it will most likely be while the student is still speaking. llama.cpp keeps the tokens it
read last, and a prompt that starts the same way only reads what differs. A prefill reads a
few tokens at a time and gives way at once to a generation that is waiting.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from core import metrics
from core.mapped_files import page_in
from media_engine import cores
from media_engine.llm.base import LLM, ChatMessage, GenerationOptions, LLMError
from media_engine.llm.llama_states import PromptStates, common_prefix

log = logging.getLogger(__name__)

_DONE = object()
# Pieces the model may run ahead of its reader. A reader that pauses (the first words of a
# spoken reply being synthesized) pauses the model too, and the synthesis gets the cores.
MAX_AHEAD = 4
# Tokens a prefill reads between looks at whether it should stop: ~0.3 s of the 1.5B model on 2
# idle cores, seconds while speech is synthesized beside it, which the student waits through (32
# read 5% faster; 8, a third slower).
PREFILL_STEP = 16
# How often a read ahead looks again whether the end of a student's turn is still being worked
# out (media_engine.cores), while it waits.
HEARING_WAIT_S = 0.01
# Tokens of a reply's own prompt read between looks at whether speech is being synthesized
# (then the model takes one thread, media_engine.cores) or the reply was stopped.
READ_STEP = 32


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
        self._formatter: Any = None
        self._active = 0  # generations asked for and not finished (read on both threads)
        self._prefills = 0  # the newest prefill asked for; an older one stops reading
        self._threads_now = n_threads  # set on the model's context (model thread only)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama")
        # Reads of the last few prompts, so a call to another tutor does not read its system
        # prompt again (used on the model's thread only).
        self.states = PromptStates()

    def cached_bytes(self) -> int:
        return self.states.bytes  # an int read on the loop, written on the model's thread

    async def forget_conversations(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self.states.forget_conversations)

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
            # Every row of the embedding table now, not as each word first comes up.
            page_in(self._path)
            self._formatter = _formatter(self._model)
        return self._model

    def _tokens(self, messages: list[ChatMessage]) -> list[int]:
        """The prompt for `messages` in the model's own chat template, as tokens.

        Prefill and generation both use this, so a prefilled prompt matches token for token.
        """
        model = self._load()
        start = ""
        if messages and messages[-1]["role"] == "assistant":
            # The reply's start: the model goes on from its words (see `LLM.stream`).
            start, messages = messages[-1]["content"], messages[:-1]
        result = self._formatter(messages=[dict(m) for m in messages])
        tokens: list[int] = model.tokenize(
            (result.prompt + start).encode("utf-8"), add_bos=not result.added_special, special=True
        )
        if len(tokens) >= self._n_ctx:
            raise LLMError("the conversation is too long for the model", code="llm_context")
        return tokens

    async def warm_up(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._warm)

    def _warm(self) -> None:
        stop = threading.Event()
        for _ in self._generate([{"role": "user", "content": "Hi"}], _WARM, stop):
            pass

    async def prefill(self, messages: list[ChatMessage]) -> None:
        # Only when idle: reading one call's prompt must never delay another call's reply.
        if self._active:
            return
        self._prefills += 1
        ticket = self._prefills
        loop = asyncio.get_running_loop()
        try:
            await asyncio.shield(
                loop.run_in_executor(self._executor, self._prefill, messages, ticket)
            )
        except asyncio.CancelledError:
            if self._prefills == ticket:
                self._prefills += 1  # the caller gave up: stop reading at the next step
            raise
        except (LLMError, RuntimeError, ValueError) as exc:
            # Best effort: the reply itself reads what is missing and reports what is wrong.
            log.warning("prefill skipped: %s", exc)

    def stop_reading_ahead(self) -> None:
        self._prefills += 1  # the running prefill is no longer the newest: it stops

    def _prefill(self, messages: list[ChatMessage], ticket: int) -> None:
        def wanted() -> bool:
            return not self._active and self._prefills == ticket

        if not wanted():
            return
        model = self._load()
        tokens = self._tokens(messages)
        self.states.load_best(model, tokens)
        done = self._keep_common_prefix(model, tokens)
        for start in range(done, len(tokens), PREFILL_STEP):
            while cores.hearing_running() and wanted():
                time.sleep(HEARING_WAIT_S)  # a student's turn is ending: it has the cores
            if not wanted():
                break  # what was read is kept all the same: the next prompt may start with it
            self._fit_threads(model)
            model.eval(tokens[start : start + PREFILL_STEP])
        # Only a whole system prompt's read outlasts its call: one cut short by a reply is a
        # start another read will go on from, and kept as lasting it would stay for good.
        whole = int(model.n_tokens) == len(tokens)
        system = all(m["role"] == "system" for m in messages)
        log.debug("read ahead: %d of %d prompt tokens held", int(model.n_tokens), len(tokens))
        self.states.save(model, lasting=whole and system)

    def _fit_threads(self, model: Any) -> None:
        """One thread while speech is synthesized beside the model, all of them otherwise."""
        want = 1 if cores.synthesis_running() else self._n_threads
        if want != self._threads_now:
            import llama_cpp

            llama_cpp.llama_set_n_threads(model._ctx.ctx, want, want)
            self._threads_now = want

    @staticmethod
    def _keep_common_prefix(model: Any, tokens: list[int]) -> int:
        """Drop what the cache holds beyond its common start with `tokens`; return its length.

        The same bookkeeping as llama-cpp-python's own prefix reuse in `generate`.
        """
        held = model._input_ids
        n = min(len(held), len(tokens))
        differ = np.flatnonzero(held[:n] != np.asarray(tokens[:n], dtype=held.dtype))
        common = int(differ[0]) if differ.size else n
        if common == len(tokens) and common == len(held):
            return common  # all of it is read already
        closed = _close_gap(model, tokens, common)
        if closed > common:
            return closed
        common = min(common, len(tokens) - 1)  # the last token is read again for its logits
        if common <= 0 or not model._ctx.kv_cache_seq_rm(-1, common, -1):
            model.reset()
            return 0
        model.n_tokens = common
        return common

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
            generating, pieces = 0.0, 0
            try:
                started = time.monotonic()
                for piece in self._generate(messages, options, stop):
                    generating += time.monotonic() - started
                    pieces += 1
                    while not ahead.acquire(timeout=0.05):
                        if stop.is_set():
                            return
                    put(piece)
                    started = time.monotonic()
            except Exception as exc:  # crosses the thread boundary as a value
                put(exc)
            finally:
                # Time spent generating, not waiting for the reader: tokens/s for /metrics.
                metrics.LLM_TOKENS.inc(pieces)
                metrics.LLM_SECONDS.inc(generating)
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
        prompt = self._tokens(messages)
        self.states.load_best(model, prompt)
        # The prompt read a step at a time (all but its last token, which the completion reads
        # for its logits): a stopped reply stops reading, and the threads follow synthesis.
        done = self._keep_common_prefix(model, prompt)
        reading = time.monotonic()
        for start in range(done, len(prompt) - 1, READ_STEP):
            if stop.is_set():
                return
            self._fit_threads(model)
            model.eval(prompt[start : min(start + READ_STEP, len(prompt) - 1)])
        # What a slow first token is made of: tokens the model held already (read ahead, or a
        # saved read loaded) against those it read now.
        log.debug(
            "reply prompt %d tokens, %d held, %d read in %.0f ms",
            len(prompt),
            done,
            len(prompt) - done,
            (time.monotonic() - reading) * 1000,
        )
        self._fit_threads(model)
        chunks = model.create_completion(
            prompt=prompt,
            max_tokens=options.max_tokens,
            temperature=options.temperature,
            stream=True,
        )
        for chunk in chunks:
            if stop.is_set():
                chunks.close()
                return
            self._fit_threads(model)
            text = chunk["choices"][0]["text"]
            if text:
                yield text

    async def aclose(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._model is not None:
            self._model.close()
            self._model = None


_WARM = GenerationOptions(max_tokens=1, temperature=0.0)
# A block the prompt dropped is found by the PROBE tokens that follow it, and closed up only
# when that spares reading at least MIN_KEPT tokens.
PROBE = 8
MIN_KEPT = 32


def _close_gap(model: Any, tokens: list[int], common: int) -> int:
    """When `tokens` is what the model holds with a block left out after their first `common`
    tokens (a long call's history, whose oldest messages the prompt drops), take the block out
    of the cache and move what followed it back, instead of reading all that again: the
    context shift llama.cpp's own server does. What was moved was read with the block before
    it, so it is not exactly what a fresh read gives; the model answers as well (tested), and
    a prompt read again whole costs seconds on 2 cores. Returns the tokens the cache now
    holds of `tokens`: `common` where there is no such block."""
    held = np.asarray(model._input_ids)
    want = np.asarray(tokens, dtype=held.dtype)
    if common == 0 or common + PROBE > min(len(held), len(want)):
        return common
    windows = np.lib.stride_tricks.sliding_window_view(held[common:], PROBE)
    for hit in np.flatnonzero((windows == want[common : common + PROBE]).all(axis=1)):
        start = common + int(hit)
        rest = held[start:]
        size = min(len(rest), len(want) - 1 - common)  # the last token is read for its logits
        kept = common_prefix(rest[:size], want[common : common + size])
        if kept < MIN_KEPT:
            continue
        ctx = model._ctx
        if not (ctx.kv_cache_seq_rm(0, start + kept, -1) and ctx.kv_cache_seq_rm(0, common, start)):
            return common  # the caller drops the rest and reads it
        ctx.kv_cache_seq_shift(0, start, start + kept, common - start)
        model.input_ids[common : common + kept] = want[common : common + kept]
        model.n_tokens = common + kept
        return common + kept
    return common


def _formatter(model: Any) -> Any:
    """The model's chat template (from its GGUF metadata), as llama-cpp-python would use it."""
    from llama_cpp.llama_chat_format import CHATML_CHAT_TEMPLATE, Jinja2ChatFormatter

    def token_text(token_id: int) -> str:
        return str(model._model.token_get_text(token_id)) if token_id != -1 else ""

    eos_id = model.token_eos()
    return Jinja2ChatFormatter(
        template=model.metadata.get("tokenizer.chat_template", CHATML_CHAT_TEMPLATE),
        eos_token=token_text(eos_id),
        bos_token=token_text(model.token_bos()),
        stop_token_ids=[eos_id],
    )
