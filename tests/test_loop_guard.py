"""The loop guard every server test uses: it fails a test whose own code blocks the event loop,
and not one whose whole process stalled (a loaded machine, a collection, the GIL held)."""

from __future__ import annotations

import asyncio
import threading
import time

from tests.conftest import MAX_LOOP_STALL_S, LoopGuard


def hold_the_gil(seconds: float) -> None:
    """One C call that keeps the GIL for at least `seconds` (the interpreter hands the GIL over
    only between bytecodes, and `sum` over a range is one)."""
    n = 1_000_000
    while True:
        started = time.perf_counter()
        sum(range(n))
        took = time.perf_counter() - started
        if took >= seconds:
            return
        n = int(n * max(2.0, 1.2 * seconds / max(took, 1e-6)))


async def test_blocking_the_loop_is_a_stall() -> None:
    guard = LoopGuard()
    guard.start()
    await asyncio.sleep(0.1)
    # A blocking call on the loop, as a sync query would be: what the guard is for.
    time.sleep(MAX_LOOP_STALL_S + 0.3)  # noqa: ASYNC251
    await asyncio.sleep(0.2)
    assert await guard.stop() > MAX_LOOP_STALL_S


async def test_the_whole_process_held_up_is_not() -> None:
    guard = LoopGuard()
    guard.start()
    await asyncio.sleep(0.1)
    holder = threading.Thread(target=hold_the_gil, args=(MAX_LOOP_STALL_S + 0.3,))
    started = time.perf_counter()
    holder.start()
    await asyncio.to_thread(holder.join)
    await asyncio.sleep(0.2)
    worst = await guard.stop()
    assert time.perf_counter() - started > MAX_LOOP_STALL_S
    assert guard.process_stall() > MAX_LOOP_STALL_S  # the loop was held up as long
    assert worst < MAX_LOOP_STALL_S, worst
