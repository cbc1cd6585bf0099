"""Log lines as text for people, or one JSON object a line for a log pipeline (`LOG_FORMAT=json`),
each carrying the session and turn it belongs to.

The ids travel in context variables: every task a call starts (media_engine.tasks) runs with the
call's session id, and a turn's task adds its turn id, so a library's log line written inside a
call is tagged too.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime

SESSION_ID: ContextVar[str | None] = ContextVar("session_id", default=None)
TURN_ID: ContextVar[str | None] = ContextVar("turn_id", default=None)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that say too much at INFO.
NOISY = ("aioice", "aiortc", "aiohttp.access", "alembic")


class ContextFilter(logging.Filter):
    """Puts the session and turn ids of the running task on each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.session_id = SESSION_ID.get()
        record.turn_id = TURN_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, session_id,
    turn_id, and the exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("session_id", "turn_id"):
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure(*, verbose: bool = False, as_json: bool = False) -> None:
    """Set up the root logger for a program (replacing what was set up before)."""
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if as_json else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
