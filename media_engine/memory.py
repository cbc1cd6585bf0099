"""Giving freed memory back to the operating system when the engine falls idle.

glibc's malloc keeps what a call freed in its arenas (one per thread that allocated: the
Opus decoder's, Kokoro's, Whisper's) and reuses it, but does not return it, so the process's
resident size stays at its busiest and only ever grows with fragmentation. `malloc_trim(0)`
releases the free pages of every arena. It walks them all (not timed here on a large heap), so
it runs on a thread, and only when the last call has ended, so no call pays for it.

Large blocks are a second cause. glibc serves blocks over its mmap threshold with their own
mapping, unmapped when freed, but it raises that threshold to the size of each such block
freed (up to 32 MiB). After the first saved prompt read of a few megabytes is dropped, every
later one comes from the heap, where it fragments it. `keep_large_blocks_apart()` fixes the
threshold, which also turns that raising off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
        return trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None


_TRIM = _malloc_trim()

# mallopt's parameter number for the mmap threshold (malloc.h).
M_MMAP_THRESHOLD = -3
LARGE_BLOCK = 1024 * 1024
"""Blocks from this size up get their own mapping: audio frames and tensors of a turn stay
below it; the model's saved prompt reads (megabytes) are above it."""


def keep_large_blocks_apart(threshold: int = LARGE_BLOCK) -> bool:
    """Serve blocks of `threshold` bytes and more by mmap, so freeing one returns it at once;
    False where the C library cannot be told."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))


def trim() -> bool:
    """Return free heap pages to the system; False where the C library cannot."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True
