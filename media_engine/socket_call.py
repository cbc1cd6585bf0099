"""A call over a WebSocket: the second transport of the same engine, turns and stored conversation.

The socket stands in for WebRTC at the three places the voice pipeline meets its transport:
events go out through `send` (the data channel's job), the student's audio comes in as a track
(`SocketMicrophone`), and the tutor's speech leaves through the pipeline's one outbound track,
here a `SocketSpeaker` that hands each queued chunk to the socket as a WAV at once (the client
buffers and plays them in order) while the track, paced as WebRTC's sender would pace it, keeps
the account of what was heard, so a barge-in stores only that.

Everything outbound goes through one bounded queue: a client that stops reading is closed, not
buffered without limit.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import time
import wave
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import soxr
from aiohttp import WSMsgType, web
from aiortc.mediastreams import MediaStreamError

from auth import AuthError
from auth.tokens import bearer
from core.http import http_error
from media_engine.audio import OUT_RATE as TRACK_RATE
from media_engine.audio import OutboundAudio, PacingStats, SpeechChunk
from media_engine.call import Call
from media_engine.errors import CallExists, EngineError
from media_engine.protocol import ProtocolError, TextIn, event
from media_engine.socket_audio import AudioDecoder, AudioError, SocketMicrophone
from media_engine.socket_protocol import (
    CLOSE_CONFLICT,
    CLOSE_INTERNAL,
    CLOSE_NOT_FOUND,
    CLOSE_POLICY,
    CLOSE_UNAUTHORIZED,
    MAX_AUDIO_MESSAGE_BYTES,
    MAX_MESSAGES_PER_S,
    MAX_PENDING_SEND_BYTES,
    OUT_RATE,
    SEND_TIMEOUT_S,
    AudioIn,
    InterruptIn,
    close_code,
    hello,
    parse_socket,
)
from media_engine.tasks import TaskSet

if TYPE_CHECKING:
    from media_engine.manager import CallManager
    from media_engine.runtime import EngineRuntime

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 5.0
"""How long the close frame may take to leave before the connection is cut."""


def wav_bytes(pcm: np.ndarray) -> bytes:
    """The outbound track's 48 kHz s16 samples as a 24 kHz mono 16-bit WAV file."""
    audio = soxr.resample(pcm.astype(np.float32) / 32768.0, TRACK_RATE, OUT_RATE)
    samples = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(OUT_RATE)
        wav.writeframes(samples.tobytes())
    return out.getvalue()


class SocketSpeaker(OutboundAudio):
    """The pipeline's outbound track on a socket call: each chunk queued to play is also handed
    to `on_chunk`, to be sent whole."""

    def __init__(self, stats: PacingStats, on_chunk: Callable[[SpeechChunk], None]) -> None:
        super().__init__(stats)
        self._on_chunk = on_chunk

    def play(self, chunk: SpeechChunk) -> None:
        super().play(chunk)
        if len(chunk.pcm):
            self._on_chunk(chunk)


class Outbox:
    """The socket's one outbound queue, in order, bounded by the bytes it holds."""

    def __init__(self, ws: web.WebSocketResponse, *, max_bytes: int = MAX_PENDING_SEND_BYTES):
        self._ws = ws
        self._max_bytes = max_bytes
        self._items: deque[tuple[str | SpeechChunk, int]] = deque()
        self._pending = 0
        self._ready = asyncio.Event()
        self.overflowed = False

    @property
    def pending(self) -> int:
        """Bytes queued or being sent."""
        return self._pending

    def put(self, item: str | SpeechChunk) -> None:
        size = len(item) if isinstance(item, str) else len(item.pcm) * 4 // 3  # as base64 WAV
        if self._pending + size > self._max_bytes:
            self.overflowed = True
        else:
            self._items.append((item, size))
            self._pending += size
        self._ready.set()

    async def run(self) -> str:
        """Send until the client stops reading; return why it is deemed not to read (or "",
        when the connection is gone)."""
        while True:
            if self.overflowed:
                return f"more than {self._max_bytes} bytes were waiting to be read"
            if not self._items:
                self._ready.clear()
                await self._ready.wait()
                continue
            item, size = self._items.popleft()
            if not isinstance(item, str):
                data = await asyncio.to_thread(wav_bytes, item.pcm)
                item = event("audio", data=base64.b64encode(data).decode())
            try:
                # Not `wait_for`: on Python 3.11 it returns the send's result when a cancel
                # arrives just as the send completes, and this loop would then wait for the
                # next item for ever, holding up the socket's teardown (which cancels it).
                async with asyncio.timeout(SEND_TIMEOUT_S):
                    await self._ws.send_str(item)
            except TimeoutError:
                return f"a message waited {SEND_TIMEOUT_S:.0f} s to be read"
            except ConnectionError:
                return ""  # the client went away: the reader sees the same
            self._pending -= size


class RateLimit:
    """A token bucket: `rate` messages a second, bursts of twice that."""

    def __init__(self, rate: float = MAX_MESSAGES_PER_S) -> None:
        self._rate = rate
        self._tokens = 2 * rate
        self._at = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self._tokens = min(2 * self._rate, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class SocketCall:
    """One call's WebSocket, from the `hello` to the close. `run` returns when either ends."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        call: Call,
        runtime: EngineRuntime,
        transport: asyncio.Transport | None = None,
    ) -> None:
        self._ws = ws
        self._transport = transport
        self._call = call
        self._runtime = runtime
        self._max_text_bytes = runtime.settings.max_message_bytes
        self._outbox = Outbox(ws)
        self._limit = RateLimit()
        self._last_error_at = 0.0
        self._tasks = TaskSet(call.session_id, "socket")
        self._mic: SocketMicrophone | None = None
        self._decoder: AudioDecoder | None = None

    @property
    def readyState(self) -> str:  # noqa: N802 - the data channel's name, which Call reads
        return "closed" if self._ws.closed else "open"

    @property
    def bufferedAmount(self) -> int:  # noqa: N802 - the data channel's name, which Call reads
        # What the outbox still holds: the call waits (bounded) for its `bye` to leave before
        # the socket's teardown cancels the outbox.
        return self._outbox.pending

    def send(self, data: str) -> None:
        """Queue one event for the client (the data channel's `send`)."""
        if not self._ws.closed:
            self._outbox.put(data)

    async def run(self) -> None:
        call = self._call
        call.attach(self)
        voice = call.voice is not None
        self.send(hello(call.session_id, voice=voice, max_text_bytes=self._max_text_bytes))
        if voice:
            self._start_voice()
        sender = self._tasks.spawn(self._outbox.run(), name="send")
        reader = self._tasks.spawn(self._read(), name="read")
        ended = self._tasks.spawn(call.closed.wait(), name="ended")
        try:
            await asyncio.wait({sender, reader, ended}, return_when=asyncio.FIRST_COMPLETED)
            code, reason = self._outcome(sender, reader)
        except asyncio.CancelledError:
            # The connection was lost (the server cancels the handlers of lost connections);
            # a shutdown has ended the call before cancelling.
            reason = self._call.close_reason or "hangup"
            await self._finish(close_code(reason), reason)
            raise
        await self._finish(code, reason)

    def _outcome(self, sender: asyncio.Task[str], reader: asyncio.Task[None]) -> tuple[int, str]:
        if self._call.closed.is_set():
            reason = self._call.close_reason or "ended"
            return close_code(reason), reason
        if sender.done() and not sender.cancelled():
            if sender.exception() is not None:
                return CLOSE_INTERNAL, "send_failed"
            if not sender.result():
                return close_code("hangup"), "hangup"
            log.info("session %s: %s; closing", self._call.session_id, sender.result())
            return CLOSE_POLICY, "slow_reader"
        if reader.done() and not reader.cancelled() and reader.exception() is not None:
            return CLOSE_INTERNAL, "internal_error"
        return close_code("hangup"), "hangup"

    async def _finish(self, code: int, reason: str) -> None:
        """Close the call (releasing its slot), the socket and every task of ours."""
        try:
            # Returns once the call is closed, whoever began closing it (a shutdown, the session
            # timeout, the API): its `bye` has gone out through the outbox, still running here.
            await self._call.close(reason)
        finally:
            # Even if this handler is cancelled while it waits: nothing of the socket outlives it.
            await self._tasks.cancel_all()
            if self._decoder is not None:
                await self._decoder.aclose()
            if self._mic is not None:
                self._mic.stop()
            try:
                # A client that does not read cannot take the close frame either.
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await self._ws.close(code=code, message=reason.encode()[:120])
            except TimeoutError:
                if self._transport is not None:
                    self._transport.abort()

    def _start_voice(self) -> None:
        """Swap the pipeline's outbound track for the socket's, listen to the socket's audio."""
        pipeline = self._call.voice
        factory = self._runtime.voice
        assert factory is not None and pipeline is not None
        speaker = SocketSpeaker(factory.pacing, self._outbox.put)
        pipeline.outbound.stop()
        pipeline.outbound = speaker
        pauses = self._runtime.settings.voice
        fill_s = (pauses.max_pause_ms + pauses.end_silence_ms) / 1000 + 0.5
        self._mic = SocketMicrophone(fill_s=fill_s)
        self._decoder = AudioDecoder(self._mic.push, self._audio_failed)
        self._tasks.spawn(_pace(speaker), name="speaker")
        pipeline.start(self._mic)

    # --- inbound -------------------------------------------------------------------------------

    async def _read(self) -> None:
        async for message in self._ws:
            if message.type == WSMsgType.TEXT:
                if not self._limit.allow():
                    self._error(
                        "rate_limited", f"at most {MAX_MESSAGES_PER_S:.0f} messages a second"
                    )
                    continue
                await self._on_text(message.data)
            elif message.type == WSMsgType.BINARY:
                self._error("bad_message", "messages must be JSON text frames")
            elif message.type == WSMsgType.ERROR:
                log.info("session %s: socket error", self._call.session_id)
                return

    async def _on_text(self, raw: str) -> None:
        try:
            message = parse_socket(raw, max_text_bytes=self._max_text_bytes)
        except ProtocolError as exc:
            self._error(exc.code, str(exc))
            return
        if isinstance(message, TextIn):
            self._call.turns.typed(message.content)
        elif isinstance(message, InterruptIn):
            self._interrupt()
        elif isinstance(message, AudioIn):
            await self._on_audio(message.data)

    async def _on_audio(self, data: bytes) -> None:
        if self._decoder is None:
            self._error("no_voice", "this engine has no voice models; send text")
            return
        try:
            await self._decoder.feed(data)
        except AudioError as exc:
            self._audio_failed(exc)

    def _interrupt(self) -> None:
        self._call.stop_reply()

    def _audio_failed(self, exc: AudioError) -> None:
        self._error(exc.code, str(exc))

    def _error(self, code: str, content: str) -> None:
        # One error a second at most: a client that floods must not get a flood back.
        now = time.monotonic()
        if code == "rate_limited" and now - self._last_error_at < 1.0:
            return
        self._last_error_at = now
        self.send(event("error", code=code, content=content))


async def _pace(speaker: SocketSpeaker) -> None:
    """Play the speaker track to nobody, in real time: what it has played is what the client
    has heard (WebRTC's sender does the same, and encodes each frame)."""
    try:
        while True:
            await speaker.recv()
    except MediaStreamError:
        return


async def serve_socket(
    request: web.Request, manager: CallManager, runtime: EngineRuntime
) -> web.StreamResponse:
    """Upgrade, check the engine token (`?token=` or a Bearer header), and run the call.

    Refusals come after the upgrade, as an `error` event and a close code a browser can read:
    4401 for a bad or expired token, 4404 for an unknown or ended session, 4409 when the
    session already has a call (over either transport).
    """
    ws = web.WebSocketResponse(max_msg_size=2 * MAX_AUDIO_MESSAGE_BYTES, heartbeat=20.0)
    if not ws.can_prepare(request).ok:
        raise http_error(
            426,
            "this address takes a WebRTC offer (POST) or a WebSocket upgrade (GET)",
            headers={"Upgrade": "websocket"},
        )
    await ws.prepare(request)
    session_id = request.match_info["session_id"]
    try:
        token = request.query.get("token") or bearer(request.headers.get("Authorization"))
        runtime.issuer.verify_engine(token, session_id=session_id)
        call = await manager.open_call(session_id, replace_unconnected=True)
    except AuthError as exc:
        return await _refuse(ws, CLOSE_UNAUTHORIZED, "unauthorized", str(exc))
    except CallExists as exc:
        return await _refuse(ws, CLOSE_CONFLICT, exc.code, str(exc))
    except EngineError as exc:
        return await _refuse(ws, CLOSE_NOT_FOUND, exc.code, str(exc))
    await SocketCall(ws, call, runtime, request.transport).run()
    return ws


async def _refuse(
    ws: web.WebSocketResponse, code: int, kind: str, message: str
) -> web.WebSocketResponse:
    await ws.send_str(event("error", code=kind, content=message))
    await ws.close(code=code, message=message.encode()[:120])
    return ws
