"""The TTS read-ahead thread serves the most urgent chunk first."""

from __future__ import annotations

import asyncio
import threading

import pytest

from media_engine.deadlines import DeadlineWorker


def test_waiting_jobs_run_earliest_deadline_first() -> None:
    worker = DeadlineWorker("test")
    gate = threading.Event()
    ran: list[str] = []
    try:
        blocker = worker.submit(0.0, gate.wait, 10)  # holds the thread while the rest queue
        jobs = [
            worker.submit(d, ran.append, name)
            for d, name in ((3.0, "c"), (1.0, "a"), (2.0, "b"), (1.0, "a2"))
        ]
        gate.set()
        assert blocker.result(10) is True
        for job in jobs:
            job.result(10)
        assert ran == ["a", "a2", "b", "c"]
    finally:
        worker.shutdown()


def test_a_cancelled_job_is_skipped_and_errors_reach_the_caller() -> None:
    worker = DeadlineWorker("test")
    gate = threading.Event()
    ran: list[str] = []
    try:
        worker.submit(0.0, gate.wait, 10)
        dropped = worker.submit(1.0, ran.append, "dropped")
        failing = worker.submit(2.0, int, "not a number")
        kept = worker.submit(3.0, ran.append, "kept")
        assert dropped.cancel()
        gate.set()
        kept.result(10)
        with pytest.raises(ValueError):
            failing.result(10)
        assert ran == ["kept"]
    finally:
        worker.shutdown()


async def test_an_awaiting_task_cancelled_cancels_its_job() -> None:
    worker = DeadlineWorker("test")
    gate = threading.Event()
    ran: list[str] = []
    try:
        worker.submit(0.0, gate.wait, 10)
        job = worker.submit(1.0, ran.append, "barged in")
        waiter = asyncio.ensure_future(asyncio.wrap_future(job))
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        gate.set()
        last = worker.submit(2.0, ran.append, "next")
        await asyncio.wrap_future(last)
        assert job.cancelled()
        assert ran == ["next"]
    finally:
        worker.shutdown()


def test_shutdown_cancels_what_waits() -> None:
    worker = DeadlineWorker("test")
    gate, started = threading.Event(), threading.Event()

    def hold() -> bool:
        started.set()
        return gate.wait(10)

    running = worker.submit(0.0, hold)
    assert started.wait(10)
    waiting = worker.submit(1.0, int, "1")
    worker.shutdown()
    gate.set()
    assert running.result(10) is True
    assert waiting.cancelled()
    with pytest.raises(RuntimeError):
        worker.submit(0.0, int, "1")
