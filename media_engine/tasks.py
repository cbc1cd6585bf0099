"""Owned background tasks: each one is referenced until it ends, a failure is logged with its
session, and the owner cancels and awaits them all when it closes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class TaskSet:
    """The tasks started by one owner (a call, its voice pipeline)."""

    def __init__(self, session_id: str, owner: str) -> None:
        self._session_id = session_id
        self._owner = owner
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str) -> asyncio.Task[T]:
        task = asyncio.create_task(coro, name=f"{self._owner}-{name}-{self._session_id}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "session %s: %s task %s failed",
                self._session_id,
                self._owner,
                task.get_name(),
                exc_info=task.exception(),
            )

    def __iter__(self) -> Any:
        return iter(list(self._tasks))

    async def cancel_all(self) -> None:
        """Cancel every task but the caller's own, and wait for them to end."""
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
