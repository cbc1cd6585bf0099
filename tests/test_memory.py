"""Giving freed heap memory back to the system (media_engine.memory)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os

import pytest

from media_engine import memory

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
