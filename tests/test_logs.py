"""Log lines carry their session and turn; LOG_FORMAT=json writes one JSON object a line."""

from __future__ import annotations

import asyncio
import io
import json
import logging

from core import logs
from media_engine.tasks import TaskSet


def _capture() -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(logs.ContextFilter())
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("test.logs")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, out


async def test_a_calls_tasks_log_with_its_session_and_their_turn() -> None:
    logger, out = _capture()
    tasks = TaskSet("s-123", "call")

    async def turn() -> None:
        logs.TURN_ID.set("t-9")
        logger.info("answering %s", "now")

    async def other() -> None:
        await asyncio.sleep(0.01)  # runs after the turn set its id: not in its context
        logger.warning("other work")

    await asyncio.gather(tasks.spawn(turn(), name="turn"), tasks.spawn(other(), name="other"))
    logger.info("outside any call")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0]["message"] == "answering now"
    assert (lines[0]["session_id"], lines[0]["turn_id"]) == ("s-123", "t-9")
    assert lines[1]["session_id"] == "s-123" and "turn_id" not in lines[1]
    assert "session_id" not in lines[2] and lines[2]["level"] == "INFO"
    assert logs.SESSION_ID.get() is None  # the caller's own context is untouched


def test_an_exception_goes_into_its_line() -> None:
    logger, out = _capture()
    try:
        raise ValueError("broken")
    except ValueError:
        logger.exception("it failed")
    line = json.loads(out.getvalue())
    assert line["message"] == "it failed" and "ValueError: broken" in line["exception"]
    assert line["time"].endswith("+00:00")
