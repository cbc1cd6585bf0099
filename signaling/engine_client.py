"""How the signaling tier asks an engine for a call slot: in-process, or over HTTP.

The API does not know which it holds. A school puts engines on GPU machines and points
ENGINE_URL at one; unset, the engine runs inside the server process.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

import aiohttp

from auth import TokenIssuer
from media_engine.errors import CallNotFound, CapacityError, EngineError, TooManySessions
from media_engine.manager import CallManager, SessionGrant


class EngineUnavailable(EngineError):
    """The engine cannot be reached or answered with an error."""

    code = "engine_unavailable"
    retryable = True
    http_status = 502


class EngineClient(abc.ABC):
    @abc.abstractmethod
    async def create_session(
        self, *, tutor_id: int, student_id: int, base_url: str
    ) -> SessionGrant:
        """Reserve a call slot. `base_url` is where clients reached this server; an in-process
        engine is reached there too, a remote one knows its own address."""

    @abc.abstractmethod
    async def end_session(self, session_id: str, *, reason: str) -> bool:
        """End the session's call; False when the engine no longer has it."""

    @abc.abstractmethod
    async def health(self) -> dict[str, Any]: ...


class LocalEngineClient(EngineClient):
    def __init__(self, manager: CallManager, info: Callable[[], dict[str, Any]]) -> None:
        self._manager = manager
        self._info = info  # read at each health check: the figures change as calls run

    async def create_session(
        self, *, tutor_id: int, student_id: int, base_url: str
    ) -> SessionGrant:
        return await self._manager.create_session(
            tutor_id=tutor_id, student_id=student_id, base_url=base_url
        )

    async def end_session(self, session_id: str, *, reason: str) -> bool:
        return await self._manager.end(session_id, reason)

    async def health(self) -> dict[str, Any]:
        return {**self._info(), "mode": "in-process"}


class HttpEngineClient(EngineClient):
    """Talks to `virtual-tutor engine` at ENGINE_URL with a short-lived service token."""

    def __init__(self, base_url: str, issuer: TokenIssuer, *, timeout_s: float = 10.0) -> None:
        self._base = base_url.rstrip("/")
        self._issuer = issuer
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s))

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._issuer.service_token(ttl_s=60)}"}

    async def create_session(
        self, *, tutor_id: int, student_id: int, base_url: str
    ) -> SessionGrant:
        payload = {"tutor_id": tutor_id, "student_id": student_id}
        try:
            async with self._http.post(
                f"{self._base}/v1/sessions", json=payload, headers=self._headers()
            ) as resp:
                body = await resp.json(content_type=None)
                if resp.status == 503:
                    raise CapacityError(_message(body, "the engine is full"))
                if resp.status == 404:
                    raise CallNotFound(_message(body, "unknown tutor"))
                if resp.status == 429:
                    raise TooManySessions(_message(body, "too many open sessions"))
                if resp.status != 201:
                    raise EngineUnavailable(f"engine answered {resp.status}: {_message(body, '')}")
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise EngineUnavailable(f"cannot reach the engine at {self._base}: {exc}") from exc
        return SessionGrant(
            session_id=body["session_id"],
            engine_url=body["engine_url"],
            engine_token=body["engine_token"],
            websocket_url=body.get("websocket_url", ""),
        )

    async def end_session(self, session_id: str, *, reason: str) -> bool:
        try:
            async with self._http.delete(
                f"{self._base}/v1/sessions/{session_id}",
                params={"reason": reason},
                headers=self._headers(),
            ) as resp:
                return resp.status == 204
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise EngineUnavailable(f"cannot reach the engine at {self._base}: {exc}") from exc

    async def health(self) -> dict[str, Any]:
        try:
            async with self._http.get(f"{self._base}/health") as resp:
                body = await resp.json(content_type=None)
                engine: dict[str, Any] = body.get("engine", {})
                return {**engine, "mode": "remote", "url": self._base}
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            return {"mode": "remote", "url": self._base, "error": str(exc)}

    async def aclose(self) -> None:
        await self._http.close()


def _message(body: Any, default: str) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message", default))
    return default
