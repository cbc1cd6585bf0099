"""The headless client: logs in, opens a real WebRTC call with aiortc, talks, prints replies.

`virtual-tutor call --server URL --email E --password P --tutor ID --text "..." [--json]`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import aiohttp
from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription


class ClientError(Exception):
    """Something the user must hear about; the CLI exits non-zero with this message."""


def add_call_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", default="http://127.0.0.1:8000", help="server URL")
    parser.add_argument("--email", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--tutor", type=int, required=True, help="tutor id (see /api/tutors)")
    parser.add_argument("--text", action="append", default=[], help="a message to type; repeat")
    parser.add_argument("--json", action="store_true", help="one JSON event per line")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait per reply")


@dataclass
class Output:
    """Prints events as they come: plain text for people, or JSON lines with timestamps."""

    as_json: bool
    started: float = field(default_factory=time.monotonic)

    def event(self, kind: str, **fields: Any) -> None:
        if self.as_json:
            record = {
                "t": round(time.monotonic() - self.started, 4),
                "ts": time.time(),
                "event": kind,
                **fields,
            }
            print(json.dumps(record, ensure_ascii=False), flush=True)

    def say(self, text: str, *, end: str = "\n") -> None:
        if not self.as_json:
            print(text, end=end, flush=True)


class Api:
    """The REST calls the client needs."""

    def __init__(self, http: aiohttp.ClientSession, server: str) -> None:
        self._http = http
        self._server = server.rstrip("/")
        self._token: str | None = None

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        try:
            async with self._http.request(
                method, f"{self._server}{path}", headers=headers, **kwargs
            ) as resp:
                body = await resp.json(content_type=None) if resp.content_length != 0 else None
                if resp.status >= 400:
                    raise ClientError(f"{method} {path}: {resp.status} {_message(body)}")
                return body
        except aiohttp.ClientError as exc:
            raise ClientError(f"cannot reach {self._server}: {exc}") from exc

    async def login(self, email: str, password: str) -> None:
        body = await self._request(
            "POST", "/api/auth/login", json={"email": email, "password": password}
        )
        self._token = body["access_token"]

    async def open_session(self, tutor_id: int) -> dict[str, Any]:
        body: dict[str, Any] = await self._request(
            "POST", "/api/student/sessions", json={"tutor_id": tutor_id}
        )
        return body

    async def end_session(self, session_id: str) -> None:
        await self._request("POST", f"/api/student/sessions/{session_id}/end")


def _message(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message", ""))
    return ""


class CallConnection:
    """One WebRTC call: the peer connection, the `chat` channel and the WHIP resource."""

    def __init__(self, http: aiohttp.ClientSession, engine_url: str, engine_token: str) -> None:
        self._http = http
        self._engine_url = engine_url
        self._auth = {"Authorization": f"Bearer {engine_token}"}
        self.pc = RTCPeerConnection()
        self.channel: RTCDataChannel = self.pc.createDataChannel("chat")
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._resource: str | None = None
        self._opened = asyncio.Event()
        self.channel.on("open", self._opened.set)
        self.channel.on("message", self._on_message)

    def _on_message(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            return
        if isinstance(message, dict):
            message["_at"] = time.monotonic()
            self.events.put_nowait(message)

    async def connect(self, *, timeout: float = 20.0) -> float:
        """Negotiate (non-trickle) and wait for the channel; return the offer→answer time."""
        offer = await self.pc.createOffer()
        await self.pc.setLocalDescription(offer)
        sent = time.monotonic()
        async with self._http.post(
            self._engine_url,
            data=self.pc.localDescription.sdp,
            headers={**self._auth, "Content-Type": "application/sdp"},
        ) as resp:
            text = await resp.text()
            if resp.status != 201:
                raise ClientError(f"call refused: {resp.status} {_message(_loads(text))}")
            self._resource = urljoin(self._engine_url, resp.headers.get("Location", ""))
        answered = time.monotonic() - sent
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=text, type="answer"))
        try:
            await asyncio.wait_for(self._opened.wait(), timeout)
        except TimeoutError:
            raise ClientError(f"the call did not connect within {timeout:.0f} s") from None
        return answered

    def send_text(self, content: str) -> None:
        self.channel.send(json.dumps({"type": "text", "content": content}))

    async def hang_up(self) -> None:
        if self._resource:
            try:
                async with self._http.delete(self._resource, headers=self._auth):
                    pass
            except aiohttp.ClientError:
                pass  # the call may already be gone; closing our side below still frees it
        await self.pc.close()


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


async def wait_reply(
    call: CallConnection, *, timeout: float, on_event: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    """Events until the final reply text (returned) or an error (raised)."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ClientError(f"no reply within {timeout:.0f} s")
        try:
            message = await asyncio.wait_for(call.events.get(), remaining)
        except TimeoutError:
            raise ClientError(f"no reply within {timeout:.0f} s") from None
        on_event(message)
        if message.get("type") == "error":
            raise ClientError(f"{message.get('code')}: {message.get('content')}")
        if message.get("type") == "text" and message.get("role") == "assistant":
            return message


async def run_call(args: argparse.Namespace) -> int:
    out = Output(as_json=args.json)
    try:
        await _run(args, out)
    except ClientError as exc:
        out.event("error", message=str(exc))
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


async def _run(args: argparse.Namespace, out: Output) -> None:
    if not args.text:
        raise ClientError("nothing to say: give --text")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        api = Api(http, args.server)
        await api.login(args.email, args.password)
        out.event("logged_in", email=args.email)
        session = await api.open_session(args.tutor)
        out.event("session", session_id=session["session_id"])
        call = CallConnection(http, session["engine_url"], session["engine_token"])
        try:
            answer_s = await call.connect()
            out.event("connected", offer_answer_ms=round(answer_s * 1000, 1))
            out.say(f"connected to session {session['session_id']}")
            for text in args.text:
                await _exchange(call, text, args.timeout, out)
        finally:
            await call.hang_up()
            await api.end_session(session["session_id"])
            out.event("ended", session_id=session["session_id"])


async def _exchange(call: CallConnection, text: str, timeout: float, out: Output) -> None:
    out.say(f"you: {text}")
    out.event("sent", content=text)
    sent = time.monotonic()
    first: list[float] = []

    def on_event(message: dict[str, Any]) -> None:
        at = message.pop("_at")
        kind = message.get("type", "")
        if kind == "text_delta":
            if not first:
                first.append(at)
                out.say("tutor: ", end="")
            out.say(str(message.get("content", "")), end="")
        out.event(kind, **{k: v for k, v in message.items() if k != "type"})

    call.send_text(text)
    reply = await wait_reply(call, timeout=timeout, on_event=on_event)
    out.say("")
    out.event(
        "reply",
        turn_id=reply.get("turn_id"),
        content=reply.get("content"),
        first_delta_ms=round((first[0] - sent) * 1000, 1) if first else None,
        total_ms=round((time.monotonic() - sent) * 1000, 1),
    )
