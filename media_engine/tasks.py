"""Owned background tasks: each one is referenced until it ends, a failure is logged with its
session, and the owner cancels and awaits them all when it closes."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from core import logs

log = logging.getLogger(__name__)

T = TypeVar("T")

OnFailure = Callable[[asyncio.Task[Any], BaseException], None]


class TaskSet:
    """The tasks started by one owner (a call, its voice pipeline)."""

    def __init__(self, session_id: str, owner: str, *, on_failure: OnFailure | None = None) -> None:
        self._session_id = session_id
        self._owner = owner
        self._tasks: set[asyncio.Task[Any]] = set()
        # Told of every task that fails, after the failure is logged (a call ends itself).
        self._on_failure = on_failure

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str) -> asyncio.Task[T]:
        # Its own copy of the context, tagged with the session: log lines name it.
        context = contextvars.copy_context()
        context.run(logs.SESSION_ID.set, self._session_id)
        task = asyncio.create_task(
            coro, name=f"{self._owner}-{name}-{self._session_id}", context=context
        )
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        log.error(
            "session %s: %s task %s failed",
            self._session_id,
            self._owner,
            task.get_name(),
            exc_info=exc,
        )
        if self._on_failure is not None:
            self._on_failure(task, exc)

    def __iter__(self) -> Any:
        return iter(list(self._tasks))

    async def cancel_all(self) -> None:
        """Cancel every task but the caller's own, and wait for them to end."""
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
