"""Giving freed heap memory back to the system (media_engine.memory)."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import os
import time
import weakref
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


@pytest.mark.skipif(memory.heap() is None, reason="mallinfo2 needs glibc 2.33")
def test_heap_counts_what_is_held_apart_from_what_is_free() -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    before = memory.heap()
    blocks = [libc.malloc(BLOCK) for _ in range(BLOCKS)]
    held = memory.heap()
    # The last block stays, so the ones freed below it stay in the heap as free memory.
    for block in blocks[:-1]:
        libc.free(block)
    freed = memory.heap()
    libc.free(blocks[-1])
    assert before is not None and held is not None and freed is not None
    mib = BLOCK * BLOCKS / 2**20
    assert held["in_use_mb"] - before["in_use_mb"] > mib * 0.9
    assert held["in_use_mb"] - freed["in_use_mb"] > mib * 0.9
    assert freed["free_mb"] - held["free_mb"] > mib * 0.9


def test_sqlite_memory_follows_a_connections_page_cache(tmp_path: Any) -> None:
    import sqlite3

    before = memory.sqlite_bytes()
    db = sqlite3.connect(tmp_path / "pages.db")
    try:
        db.execute("CREATE TABLE t (x TEXT)")
        db.executemany("INSERT INTO t VALUES (?)", [("a" * 200,)] * 20_000)
        db.commit()
        # Some 4 MB of rows: the connection's cache fills to its 2 MB.
        assert memory.sqlite_bytes() - before > 1_000_000
    finally:
        db.close()
    assert memory.sqlite_bytes() - before < 100_000  # closed, its cache went with it


async def test_health_reports_the_heap(client: TestClient[Any, Any]) -> None:
    health = await (await client.get("/health")).json()
    heap = health["engine"]["heap"]
    assert heap is None or heap["in_use_mb"] > 0 <= heap["free_mb"]
    # Python's own allocator: this process holds many thousands of objects.
    assert health["engine"]["python_blocks"] > 10_000
    caches = health["engine"]["caches_mb"]
    assert set(caches) == {"prompt_reads", "phrases", "database"} and min(caches.values()) >= 0


async def test_the_bounded_caches_tell_their_size(tmp_path: Any) -> None:
    from media_engine.llm.llama_backend import LlamaCppLLM
    from tests.voice_helpers import FakeTTS

    tts = FakeTTS(seconds_per_char=0.01)
    assert tts.kept_bytes() == 0
    speech = await tts.synthesize("Good question!", voice="af_heart", language="en")
    kept = tts.kept_bytes()
    assert 0 < kept < speech.pcm.nbytes  # a short phrase is kept (without the pause after)
    await tts.synthesize("x" * 200, voice="af_heart", language="en")
    assert tts.kept_bytes() == kept  # a long one is not
    tts.forget_kept()  # no call is open
    assert tts.kept_bytes() == 0
    await tts.aclose()

    weights = tmp_path / "model.gguf"
    weights.write_bytes(b"")  # never loaded: only the saved reads are counted
    llm = LlamaCppLLM(model_path=weights)
    llm.states.keep((1, 2, 3), b"\0" * 1000)
    assert llm.cached_bytes() == 1000


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


async def test_what_calls_left_in_the_models_cache_goes_when_the_last_one_ends(
    client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from media_engine import manager
    from media_engine.api import RUNTIME

    runtime = client.app[RUNTIME]
    forgot = asyncio.Event()

    async def forget_conversations() -> None:
        forgot.set()

    monkeypatch.setattr(runtime.llm, "forget_conversations", forget_conversations)
    monkeypatch.setattr(manager, "LATE_TRIM_S", 0.2)
    student = await login(client)
    session = await open_session(client, student)
    await asyncio.sleep(0.5)
    assert not forgot.is_set()  # a call is open
    await client.post(f"/api/student/sessions/{session['session_id']}/end", headers=student)
    await asyncio.wait_for(forgot.wait(), 30)


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_a_full_collection_frees_cycles_and_frozen_objects_are_skipped() -> None:
    first, second = _Node(), _Node()
    first.other, second.other = second, first  # a cycle: reference counts never reach zero
    gone = weakref.ref(first)
    del first, second
    memory.collect()
    assert gone() is None
    kept = _Node()
    kept.other = kept
    try:
        memory.freeze_startup()
        assert memory.frozen()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    assert not memory.frozen()


async def test_each_ended_call_is_collected_once_start_up_is_frozen(
    client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    collections: list[int] = []

    def collect() -> int:
        collections.append(1)
        return 0

    monkeypatch.setattr(memory, "collect", collect)
    monkeypatch.setattr(memory, "trim", lambda: True)
    student = await login(client)
    first, second = await open_session(client, student), await open_session(client, student)
    monkeypatch.setattr(memory, "frozen", lambda: False)
    await client.post(f"/api/student/sessions/{first['session_id']}/end", headers=student)
    assert collections == []  # costly without the freeze: only when the engine falls idle
    monkeypatch.setattr(memory, "frozen", lambda: True)
    third = await open_session(client, student)
    await client.post(f"/api/student/sessions/{third['session_id']}/end", headers=student)
    assert collections == [1]  # another call still open, and collected all the same
    await client.post(f"/api/student/sessions/{second['session_id']}/end", headers=student)
    assert len(collections) == 2
