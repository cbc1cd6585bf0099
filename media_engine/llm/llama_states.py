"""Saved reads of prompts: the model's KV cache after it read a prompt, to load again later.

llama.cpp holds one prompt at a time. A call to another tutor (or another student's history)
makes it read that prompt from its start: the system prompt alone is ~320 tokens, seconds on 2
cores for the 1.5B model. `PromptStates` keeps the caches of the last few prompts read (as far
as the read got); before a read or a generation, the one sharing the longest start with the new
prompt is loaded (a copy of a few megabytes), if it saves more than the model holds already.
Only the KV cache of sequence 0 and its tokens are kept: the last prompt token is always read
again for its logits.

Everything here runs on the model's own thread.
"""

from __future__ import annotations

import ctypes
from collections import OrderedDict
from typing import Any

import numpy as np

# Enough for the system prompts of a school's tutors in use at once. A read's size grows with
# its prompt (~5 MB for a tutor's opening with the 1.5B model), so the bytes are bounded too:
# counted alone, the saved reads drifted upward with the prompts they held.
CAPACITY = 8
BUDGET_BYTES = 48 * 1024 * 1024
# A load is worth it when it spares reading at least this many tokens.
MIN_GAIN = 16


def common_prefix(held: Any, tokens: Any) -> int:
    """How many tokens `held` and `tokens` share from their start."""
    n = min(len(held), len(tokens))
    if n == 0:
        return 0
    differ = np.flatnonzero(np.asarray(held[:n]) != np.asarray(tokens[:n]))
    return int(differ[0]) if differ.size else n


class PromptStates:
    def __init__(self, capacity: int = CAPACITY, budget: int = BUDGET_BYTES) -> None:
        self._capacity = capacity
        self._budget = budget
        self._saved: OrderedDict[tuple[int, ...], bytes] = OrderedDict()
        # Reads of a system prompt alone: the next call to the tutor starts with them. The
        # rest hold a conversation, of no use once its call has ended.
        self._lasting: set[tuple[int, ...]] = set()
        self.bytes = 0
        """The size of all saved reads together."""
        self.loads = 0
        """How many times a saved read was loaded (for tests and benchmarks)."""

    def save(self, model: Any, *, lasting: bool = False) -> None:
        """Keep what `model` has read (all of its current tokens); `lasting`: a read that is
        no conversation's (see `forget_conversations`)."""
        import llama_cpp

        n = int(model.n_tokens)
        if n == 0:
            return
        key = tuple(int(t) for t in model.input_ids[:n])
        if key in self._saved:
            self._saved.move_to_end(key)
            if lasting:
                self._lasting.add(key)
            return
        ctx = model._ctx.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(ctx, buffer, size, 0)
        if written <= 0:
            return
        # string_at copies the bytes once; slicing the ctypes array would build a list of
        # millions of ints first.
        self.keep(key, ctypes.string_at(buffer, written), lasting=lasting)

    def keep(self, key: tuple[int, ...], data: bytes, *, lasting: bool = False) -> None:
        """Keep `data` as the read of `key`, dropping the least recently used reads beyond the
        count or the byte budget. A read larger than the whole budget is not kept."""
        if len(data) > self._budget:
            return
        old = self._saved.pop(key, None)
        if old is not None:
            self.bytes -= len(old)
        self._saved[key] = data
        self.bytes += len(data)
        if lasting:
            self._lasting.add(key)
        self._drop_extended(key)
        while len(self._saved) > self._capacity or self.bytes > self._budget:
            dropped_key, dropped = self._saved.popitem(last=False)
            self._lasting.discard(dropped_key)
            self.bytes -= len(dropped)

    def _drop_extended(self, key: tuple[int, ...]) -> None:
        """Drop the reads `key` goes on from: whatever prompt one of them starts, `key` starts
        it as far or further, so they would never be loaded again. A system prompt's read
        stays beside a conversation's, which goes when the call ends."""
        lasting = key in self._lasting
        for other in list(self._saved):
            if (
                len(other) < len(key)
                and key[: len(other)] == other
                and (lasting or other not in self._lasting)
            ):
                self.bytes -= len(self._saved.pop(other))
                self._lasting.discard(other)

    def forget_conversations(self) -> None:
        """Drop the reads that hold a conversation, keeping the system prompts': done when no
        call is open, so an idle engine holds the same memory after a day of calls as before."""
        for key in [k for k in self._saved if k not in self._lasting]:
            self.bytes -= len(self._saved.pop(key))

    def load_best(self, model: Any, tokens: list[int]) -> None:
        """Load the saved read that shares the longest start with `tokens`, if it beats what
        `model` holds by MIN_GAIN tokens; otherwise leave the model as it is."""
        import llama_cpp

        held = common_prefix(model.input_ids[: model.n_tokens], tokens)
        best, gain = None, held + MIN_GAIN
        for key in self._saved:
            shared = common_prefix(key, tokens)
            if shared >= gain:
                best, gain = key, shared
        if best is None:
            return
        data = self._saved[best]
        model._ctx.kv_cache_clear()
        buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        if llama_cpp.llama_state_seq_set_data(model._ctx.ctx, buffer, len(data), 0) == 0:
            model._ctx.kv_cache_clear()  # could not load: the model reads from the start
            model.n_tokens = 0
            return
        model.input_ids[: len(best)] = best
        model.n_tokens = len(best)
        self._saved.move_to_end(best)
        self.loads += 1
