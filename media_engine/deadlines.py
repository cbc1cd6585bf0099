"""A worker thread that runs the most urgent job first: earliest deadline first.

Every call's read-ahead synthesis shares one TTS thread. Taken in arrival order, a call with
seconds of audio still to play could hold the thread while another call's playback runs dry;
taken by deadline (when each call's queued audio runs out), the thread serves the call about to
fall silent first.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class DeadlineWorker:
    """One daemon thread; `submit` returns a future, cancelled jobs are skipped."""

    def __init__(self, name: str) -> None:
        self._jobs: list[tuple[float, int, Future[Any], Callable[[], Any]]] = []
        self._order = itertools.count()  # equal deadlines keep arrival order
        self._wake = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, deadline: float, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run `fn(*args)` on the thread; among waiting jobs, the smallest `deadline` (any
        clock, as long as every caller uses the same) goes first."""
        future: Future[T] = Future()
        with self._wake:
            if self._closed:
                raise RuntimeError("the worker is shut down")
            heapq.heappush(self._jobs, (deadline, next(self._order), future, lambda: fn(*args)))
            self._wake.notify()
        return future

    def shutdown(self) -> None:
        """Stop taking jobs; those waiting are cancelled, the running one finishes."""
        with self._wake:
            self._closed = True
            for _, _, future, _ in self._jobs:
                future.cancel()
            self._jobs.clear()
            self._wake.notify()

    def _work(self) -> None:
        while True:
            with self._wake:
                while not self._jobs and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                _, _, future, job = heapq.heappop(self._jobs)
            if not future.set_running_or_notify_cancel():
                continue  # its caller stopped waiting (barge-in): skip it
            try:
                future.set_result(job())
            except BaseException as exc:  # handed to the awaiting caller, as an executor does
                future.set_exception(exc)
