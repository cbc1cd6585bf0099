"""Giving freed memory back to the operating system when the engine falls idle.

glibc's malloc keeps what a call freed in its arenas (one per thread that allocated: the
Opus decoder's, Kokoro's, Whisper's) and reuses it, but does not return it, so the process's
resident size stays at its busiest and only ever grows with fragmentation. `malloc_trim(0)`
releases the free pages of every arena. It walks them all (not timed here on a large heap), so
it runs on a thread, and only when the last call has ended, so no call pays for it.

Python's own collector matters as much. An ended call leaves reference cycles behind (aiortc's
transports and the RTP packets they hold, tasks and the tracebacks of their cancellation: about
500 objects and 0.1 MB a call), which only a full collection frees. Python runs one when its
oldest generation has grown by a quarter, so a busy engine's heap rose by some 85 MB between
two and fell back: a sawtooth, not a leak, but one that a full collection paid for with the
event loop held for 170 ms, in the middle of calls, scanning every object the models had made at
start. So the objects that live as long as the process are frozen once it serves (`gc.freeze`:
later collections skip them; a full one then takes 2-3 ms, 170 ms before), and the cycles of
each call are collected when it ends (media_engine.manager), before the heap is trimmed.

Fixing glibc's mmap threshold low (1 MiB), so that large blocks go back to the system the
moment they are freed, was tried: every large tensor of a synthesis then cost a fresh mapping
and its page faults, and a Chinese reply's first chunk took twice as long in the engine.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import time
from collections.abc import Callable
from typing import Any


def _libc_function(name: str) -> Any:
    """`name` from the C library, or None where it has none (not glibc: musl, macOS; or a
    glibc too old for it)."""
    path = ctypes.util.find_library("c")
    if path is None:
        return None
    try:
        return getattr(ctypes.CDLL(path), name)
    except (OSError, AttributeError):
        return None


_TRIM: Callable[[int], int] | None = _libc_function("malloc_trim")
log = logging.getLogger(__name__)


class _MallInfo2(ctypes.Structure):
    # glibc >= 2.33's struct mallinfo2: every field a size_t.
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",  # bytes the heap arenas took from the system (brk and arena mappings)
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",  # bytes in blocks mapped on their own (large allocations)
            "usmblks",
            "fsmblks",
            "uordblks",  # bytes in use in the arenas
            "fordblks",  # bytes free in the arenas, kept for reuse
            "keepcost",
        )
    ]


_INFO: Callable[[], _MallInfo2] | None = _libc_function("mallinfo2")  # glibc >= 2.33
if _INFO is not None:
    _INFO.restype = _MallInfo2  # type: ignore[attr-defined]


def trim() -> bool:
    """Return free heap pages to the system; False where the C library cannot."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


def heap() -> dict[str, float] | None:
    """The C heap in MB: in use (live allocations, the arenas' and large mapped blocks') and
    free but kept by the arenas. Growth in `in_use_mb` is memory still held (a leak, or a
    cache at a new size); growth in `free_mb` alone is fragmentation. None without glibc."""
    if _INFO is None:
        return None
    info = _INFO()
    mb = 1024 * 1024
    return {
        "in_use_mb": round((info.uordblks + info.hblkhd) / mb, 1),
        "free_mb": round(info.fordblks / mb, 1),
        "mapped_blocks_mb": round(info.hblkhd / mb, 1),
    }


def _sqlite_status() -> Any:
    """sqlite3_status64 of the SQLite library Python's sqlite3 module is linked to (the same
    library, so the same counters), or None where it cannot be found."""
    import sqlite3  # noqa: F401  (loads the library, so the name below finds the same one)

    for name in ("libsqlite3.so.0", ctypes.util.find_library("sqlite3")):
        if name is None:
            continue
        try:
            return ctypes.CDLL(name).sqlite3_status64
        except (OSError, AttributeError):
            continue
    return None


_SQLITE_STATUS = _sqlite_status()
_SQLITE_MEMORY_USED = 0  # SQLITE_STATUS_MEMORY_USED


def sqlite_bytes() -> int:
    """What SQLite holds in the C heap: mostly each connection's page cache (up to 2 MB by
    default), which fills as the database grows; 0 where SQLite is not in use or cannot say."""
    if _SQLITE_STATUS is None:
        return 0
    current, highest = ctypes.c_int64(), ctypes.c_int64()
    if _SQLITE_STATUS(_SQLITE_MEMORY_USED, ctypes.byref(current), ctypes.byref(highest), 0):
        return 0
    return int(current.value)


def freeze_startup() -> None:
    """Move every object alive now (the models, the libraries, the app) out of the collector's
    sight: for a process that has finished starting and will live long. Not for a test process
    that builds and drops many apps, whose frozen objects would never be freed."""
    gc.collect()
    gc.freeze()
    log.debug("%d objects of start-up frozen out of garbage collection", gc.get_freeze_count())


def frozen() -> bool:
    """Whether start-up's objects are frozen, which makes a full collection cheap."""
    return gc.get_freeze_count() > 0


def collect() -> int:
    """A full garbage collection (on the event loop, which it holds meanwhile: call it when no
    call is open); returns the objects freed."""
    started = time.monotonic()
    freed = gc.collect()
    log.debug("collected %d objects in %.0f ms", freed, (time.monotonic() - started) * 1000)
    return freed
