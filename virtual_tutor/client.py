"""The headless client's library: the REST calls, one WebRTC call, and its turns as events.

It prints nothing itself, so tests and benchmarks can drive calls quietly: what a call does goes
to a `Reporter`, which the `call` command (`virtual_tutor.call_cli`) prints.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urljoin

import aiohttp
from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack

from media_engine.dtx import asks_for_dtx
from media_engine.jitter import set_jitter_packets
from media_engine.opus_out import OpusOutbound
from virtual_tutor.voice_client import Listener, Microphone


class ClientError(Exception):
    """Something the user must hear about; the CLI exits non-zero with this message."""


class Reporter(Protocol):
    """Where a call's events go: `event` for machines, `say` for people."""

    def event(self, kind: str, **fields: Any) -> None: ...

    def say(self, text: str, *, end: str = "\n") -> None: ...


class Connection(Protocol):
    """A call as its turns see it, over WebRTC or the WebSocket: its events, and typing."""

    events: asyncio.Queue[dict[str, Any]]

    def send_text(self, content: str) -> None: ...


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


HEARTBEAT_S = 1.5


class CallConnection:
    """One WebRTC call: the peer connection, the `chat` channel and the WHIP resource."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        engine_url: str,
        engine_token: str,
        *,
        microphone: MediaStreamTrack | None = None,
        on_track: Callable[[MediaStreamTrack], None] | None = None,
        ice_servers: list[dict[str, Any]] | None = None,
        ice_transport_policy: str = "all",
    ) -> None:
        self._http = http
        self._engine_url = engine_url
        self._auth = {"Authorization": f"Bearer {engine_token}"}
        # The session's STUN/TURN servers, in the W3C shape the API hands out.
        servers = [
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in ice_servers or []
        ]
        policy = RTCIceTransportPolicy(ice_transport_policy)
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=servers, iceTransportPolicy=policy))
        self._microphone = microphone
        if microphone is not None:
            self.pc.addTrack(microphone)
            for transceiver in self.pc.getTransceivers():
                # Like a browser's adaptive jitter buffer on a clean network (20-40 ms), not
                # aiortc's fixed 80 ms: the latency we report is the tutor's, not this client's.
                set_jitter_packets(transceiver.receiver, 1)
        if on_track is not None:
            self.pc.on("track", on_track)
        self.channel: RTCDataChannel = self.pc.createDataChannel("chat")
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._resource: str | None = None
        self._opened = asyncio.Event()
        self._heartbeat: asyncio.Task[None] | None = None
        self.channel.on("open", self._on_open)
        self.channel.on("message", self._on_message)
        self.pc.on("connectionstatechange", self._on_state)

    def _on_open(self) -> None:
        self._opened.set()
        self._heartbeat = asyncio.create_task(self._beat(), name="call-heartbeat")

    def _on_state(self) -> None:
        if self.pc.connectionState in {"closed", "failed"}:
            self.stop_heartbeat()

    async def _beat(self) -> None:
        """A `ping` every HEARTBEAT_S: without audio, it tells the engine the client is there."""
        while self.channel.readyState == "open":
            self.channel.send('{"type": "ping"}')
            await asyncio.sleep(HEARTBEAT_S)

    def stop_heartbeat(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None

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
        if isinstance(self._microphone, OpusOutbound):
            # As a browser does: the engine asks for DTX, so silence goes every 0.4 s only.
            self._microphone.dtx = asks_for_dtx(text)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=text, type="answer"))
        try:
            await asyncio.wait_for(self._opened.wait(), timeout)
        except TimeoutError:
            raise ClientError(f"the call did not connect within {timeout:.0f} s") from None
        return answered

    def send_text(self, content: str) -> None:
        self.channel.send(json.dumps({"type": "text", "content": content}))

    async def hang_up(self) -> None:
        self.stop_heartbeat()
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


@dataclass
class TurnResult:
    """What the client saw of one turn, gathered from the events that carry its id."""

    turn_id: str
    transcript: str = ""
    reply: str = ""
    replied: bool = False
    first_delta_at: float | None = None
    tts: str | None = None
    error: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    def complete(self, *, voice: bool) -> bool:
        if self.error is not None or self.tts == "interrupted":
            return True
        # The metrics event follows the end of the audio at once: wait for it too.
        return self.replied and (not voice or (self.tts == "end" and bool(self.metrics)))


class TurnLog:
    """Reads every event of the call, reports it, and files it under its turn."""

    def __init__(self, call: Connection, out: Reporter) -> None:
        self._call = call
        self._out = out
        self.turns: dict[str, TurnResult] = {}
        self.order: list[str] = []
        self.failure: str | None = None
        self.changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            message = await self._call.events.get()
            at = message.pop("_at")
            kind = str(message.get("type", ""))
            self._out.event(kind, **{k: v for k, v in message.items() if k != "type"})
            self._file(kind, message, at)
            self.changed.set()

    def _file(self, kind: str, message: dict[str, Any], at: float) -> None:
        turn_id = message.get("turn_id")
        if not isinstance(turn_id, str):
            if kind == "error":
                self.failure = f"{message.get('code')}: {message.get('content')}"
            return
        if turn_id not in self.turns:
            self.turns[turn_id] = TurnResult(turn_id)
        # A turn counts once it is one: a final transcript, or the reply's first sign. Speech
        # that came to nothing (no words, or words carried into the next turn) does not.
        is_turn = kind != "vad" and not (kind == "transcription" and message.get("partial"))
        if is_turn and turn_id not in self.order:
            self.order.append(turn_id)
        turn = self.turns[turn_id]
        if kind == "transcription" and not message.get("partial"):
            turn.transcript = str(message.get("content", ""))
        elif kind == "text_delta" and turn.first_delta_at is None:
            turn.first_delta_at = at
        elif kind == "text" and message.get("role") == "assistant":
            turn.reply, turn.replied = str(message.get("content", "")), True
        elif kind == "tts":
            turn.tts = str(message.get("state"))
        elif kind == "metrics":
            turn.metrics = {k: v for k, v in message.items() if k not in {"type", "turn_id"}}
        elif kind == "error":
            turn.error = f"{message.get('code')}: {message.get('content')}"

    async def wait_turn(self, index: int, *, voice: bool, timeout: float) -> TurnResult:
        """The `index`-th turn of the call, once complete (or raise on an error or timeout)."""

        async def done() -> TurnResult:
            while True:
                if self.failure is not None:
                    raise ClientError(self.failure)
                if len(self.order) > index:
                    turn = self.turns[self.order[index]]
                    if turn.complete(voice=voice):
                        if turn.error is not None:
                            raise ClientError(turn.error)
                        return turn
                self.changed.clear()
                await self.changed.wait()

        try:
            return await asyncio.wait_for(done(), timeout)
        except TimeoutError:
            raise ClientError(f"no complete reply within {timeout:.0f} s") from None

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


class Turns:
    """Runs typed and spoken turns and reports what happened in each."""

    def __init__(
        self,
        call: Connection,
        out: Reporter,
        listener: Listener,
        log: TurnLog,
        *,
        timeout: float,
        voice: bool,
    ) -> None:
        self._call = call
        self._out = out
        self._listener = listener
        self._log = log
        self._timeout = timeout
        self._voice = voice

    async def typed(self, text: str) -> None:
        self._out.say(f"you: {text}")
        self._out.event("sent", content=text)
        index = len(self._log.order)
        sent = time.monotonic()
        self._call.send_text(text)
        turn = await self._log.wait_turn(index, voice=self._voice, timeout=self._timeout)
        self._out.say(f"tutor: {turn.reply}")
        first_audio = self._listener.first_sound_after(sent) if self._voice else None
        self._out.event(
            "reply",
            turn_id=turn.turn_id,
            content=turn.reply,
            first_delta_ms=_ms(turn.first_delta_at, sent),
            first_audio_ms=_ms(first_audio, sent),
            total_ms=round((time.monotonic() - sent) * 1000, 1),
        )

    async def spoken(self, mic: Microphone, pcm: Any, *, barge_in: bool) -> None:
        index = len(self._log.order)
        _, speech_end = await mic.speak(pcm)
        if not barge_in:
            turn = await self._log.wait_turn(index, voice=True, timeout=self._timeout)
            self._report(turn, speech_end)
            return
        # Let the tutor start answering, then talk over it.
        await self._listener.wait_sound(after=speech_end, timeout=self._timeout)
        await asyncio.sleep(0.5)
        began, again_end = await mic.speak(pcm)
        first = await self._log.wait_turn(index, voice=True, timeout=self._timeout)
        self._report(first, speech_end)
        stopped = self._listener.stopped_after(began)
        stop_ms = _ms(stopped, began)
        self._out.say(f"  barge-in: the tutor's audio stopped {stop_ms} ms after you spoke")
        self._out.event(
            "barge_in",
            turn_id=first.turn_id,
            stop_ms=stop_ms,
            interrupted=first.tts == "interrupted",
        )
        second = await self._log.wait_turn(index + 1, voice=True, timeout=self._timeout)
        self._report(second, again_end)

    def _report(self, turn: TurnResult, speech_end: float) -> None:
        latency = _ms(self._listener.first_sound_after(speech_end), speech_end)
        self._out.say(f"you (heard): {turn.transcript}")
        self._out.say(f"tutor: {turn.reply}{' [interrupted]' if turn.tts == 'interrupted' else ''}")
        self._out.say(f"  end of speech -> first reply audio: {latency} ms")
        self._out.event(
            "turn",
            turn_id=turn.turn_id,
            transcript=turn.transcript,
            content=turn.reply,
            latency_ms=latency,
            longest_silence_ms=round(self._listener.longest_silence(speech_end) * 1000),
            first_delta_ms=_ms(turn.first_delta_at, speech_end),
            interrupted=turn.tts == "interrupted",
            metrics=turn.metrics,
        )


def _ms(t: float | None, since: float) -> float | None:
    return None if t is None else round((t - since) * 1000, 1)
