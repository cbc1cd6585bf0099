"""The one JSON reader for what clients send: a nesting limit before the parser sees the text.

Python's `json` recurses once per `[` or `{`, so `"[" * 5000` raises RecursionError (which is
not a ValueError) instead of a parse error. The depth is measured first, without recursion.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32
"""Deeper than any message or request body this project reads."""


class JsonTooDeep(ValueError):
    """The text nests arrays or objects deeper than allowed."""


def depth(text: str) -> int:
    """The deepest nesting of arrays and objects in `text`, outside its strings."""
    deepest = level = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            level += 1
            deepest = max(deepest, level)
        elif ch in "]}":
            level -= 1
    return deepest


def loads(raw: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON text; ValueError (JsonTooDeep when too deep) for anything that is not usable.

    Bytes must be UTF-8 (UnicodeDecodeError is a ValueError too).
    """
    text = raw.decode() if isinstance(raw, bytes) else raw
    # Most texts cannot be too deep at all; only those with enough brackets are scanned.
    if text.count("[") + text.count("{") > max_depth and depth(text) > max_depth:
        raise JsonTooDeep(f"JSON nests deeper than {max_depth} levels")
    return json.loads(text)
