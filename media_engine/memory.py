"""Giving freed memory back to the operating system when the engine falls idle.

glibc's malloc keeps what a call freed in its arenas (one per thread that allocated: the
Opus decoder's, Kokoro's, Whisper's) and reuses it, but does not return it, so the process's
resident size stays at its busiest and only ever grows with fragmentation. `malloc_trim(0)`
releases the free pages of every arena. It walks them all (not timed here on a large heap), so
it runs on a thread, and only when the last call has ended, so no call pays for it.

Fixing glibc's mmap threshold low (1 MiB), so that large blocks go back to the system the
moment they are freed, was tried: every large tensor of a synthesis then cost a fresh mapping
and its page faults, and a Chinese reply's first chunk took twice as long in the engine.
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


def trim() -> bool:
    """Return free heap pages to the system; False where the C library cannot."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True
