"""A minimal client of the WebSocket transport, written from the front-end guide alone: plain
aiohttp, the guide's message types, nothing of the project's own client code."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient


class GuideClient:
    """One socket: messages in, JSON events out, in the order they came."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.received: list[dict[str, Any]] = []

    @classmethod
    async def connect(
        cls,
        client: TestClient[Any, Any],
        url: str,
        token: str,
        *,
        http: aiohttp.ClientSession | None = None,
    ) -> tuple[GuideClient, dict[str, Any]]:
        """Connect to `url?token=...`; return the client and the engine's first message."""
        ws = await (http or client.session).ws_connect(f"{url}?token={token}")
        guide = cls(ws)
        return guide, await guide.next()

    async def send_text(self, content: str) -> None:
        await self.ws.send_str(json.dumps({"type": "text", "content": content}))

    async def send_audio(self, data: bytes) -> None:
        payload = {"type": "audio", "data": base64.b64encode(data).decode()}
        await self.ws.send_str(json.dumps(payload))

    async def interrupt(self) -> None:
        await self.ws.send_str(json.dumps({"type": "interrupt"}))

    async def next(self, timeout: float = 60.0) -> dict[str, Any]:
        """The next message; a close raises, with the code and reason."""
        message = await self.ws.receive(timeout=timeout)
        if message.type == aiohttp.WSMsgType.CLOSE:
            raise ConnectionClosed(message.data, message.extra)
        if message.type != aiohttp.WSMsgType.TEXT:
            raise ConnectionClosed(self.ws.close_code, message.extra)
        event: dict[str, Any] = json.loads(message.data)
        event["_at"] = time.monotonic()
        self.received.append(event)
        return event

    async def until(self, kind: str, timeout: float = 120.0, **fields: Any) -> dict[str, Any]:
        """The next message of `kind` (with `fields`), skipping others."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {kind} within {timeout:.0f} s")
            event = await self.next(timeout=remaining)
            if event["type"] == kind and all(event.get(k) == v for k, v in fields.items()):
                return event

    async def closed(self, timeout: float = 30.0) -> tuple[int | None, str]:
        """Read until the engine closes the socket: its close code and reason."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                await self.next(timeout=max(0.1, deadline - time.monotonic()))
            except ConnectionClosed as closed:
                return closed.code, closed.reason

    async def close(self) -> None:
        await self.ws.close()


class ConnectionClosed(Exception):
    def __init__(self, code: int | None, reason: Any) -> None:
        super().__init__(f"closed ({code}): {reason}")
        self.code = code
        self.reason = str(reason or "")


async def drain(guide: GuideClient, seconds: float) -> list[dict[str, Any]]:
    """Whatever arrives within `seconds`."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            got.append(await guide.next(timeout=remaining))
        except TimeoutError:
            break
    return got
