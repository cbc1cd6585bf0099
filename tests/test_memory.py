"""Giving freed heap memory back to the system (media_engine.memory)."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from media_engine import memory
from tests.calls import open_session
from tests.conftest import login

BLOCK = 64 * 1024  # under glibc's mmap threshold: these come from the heap, not mmap
BLOCKS = 1600  # 100 MiB


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not memory.trim(), reason="malloc_trim needs glibc")
def test_trim_returns_the_heap_that_was_freed() -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    blocks = [libc.malloc(BLOCK) for _ in range(BLOCKS)]
    for block in blocks:
        ctypes.memset(block, 1, BLOCK)
    # The last block stays, so free() cannot shrink the heap from its top by itself: what
    # was freed below it is what malloc keeps, and what trim() must give back.
    for block in blocks[:-1]:
        libc.free(block)
    before = rss_bytes()
    assert memory.trim()
    after = rss_bytes()
    libc.free(blocks[-1])
    assert before - after > BLOCK * BLOCKS // 2


async def test_the_heap_is_trimmed_when_the_last_session_ends_and_again_later(
    client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from media_engine import manager

    trims: list[float] = []
    loop, both = asyncio.get_running_loop(), asyncio.Event()

    def trim() -> bool:  # on a worker thread
        trims.append(time.monotonic())
        if len(trims) == 2:
            loop.call_soon_threadsafe(both.set)
        return True

    monkeypatch.setattr(memory, "trim", trim)
    monkeypatch.setattr(manager, "LATE_TRIM_S", 0.2)
    student = await login(client)
    first, second = await open_session(client, student), await open_session(client, student)
    await client.post(f"/api/student/sessions/{first['session_id']}/end", headers=student)
    await asyncio.sleep(0.5)
    assert trims == []  # a call is still open: nothing is trimmed under it
    await client.post(f"/api/student/sessions/{second['session_id']}/end", headers=student)
    # At once, and once more after work the calls left running has had time to end.
    await asyncio.wait_for(both.wait(), 30)
    assert len(trims) == 2 and trims[1] - trims[0] >= 0.2
