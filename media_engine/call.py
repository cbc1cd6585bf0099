"""One call: its peer connection and its data channel, the transport of its turns.

aiortc reports what happens through callbacks; they are turned, once and here, into events on a
queue that a single task works through. What the student says or types goes to the call's
`Turns` (media_engine.turn), which owns every turn; the call only carries events both ways.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack
from aiortc.sdp import SessionDescription

from core import logs, metrics
from core.ice import ice_servers
from media_engine.conversation import Conversation
from media_engine.dtx import ask_for_dtx
from media_engine.errors import BadOffer, StageError, UnsupportedOffer
from media_engine.jitter import set_jitter_packets
from media_engine.listening import tap_receiver
from media_engine.llm.base import GenerationOptions
from media_engine.protocol import Channel, ProtocolError, Stop, TextIn, event, parse
from media_engine.tasks import TaskSet
from media_engine.turn import Turns
from media_engine.tutor import TutorProfile

if TYPE_CHECKING:
    from media_engine.runtime import EngineRuntime
    from media_engine.voice import VoicePipeline

log = logging.getLogger(__name__)

CHAT_LABEL = "chat"
BYE_FLUSH_STEPS = 25  # at most half a second for the `bye` event to leave


@dataclass(frozen=True)
class _Message:
    raw: str | bytes


@dataclass(frozen=True)
class _State:
    state: str


@dataclass(frozen=True)
class _Track:
    track: MediaStreamTrack


@dataclass(frozen=True)
class _Channel:
    channel: RTCDataChannel


_Event = _Message | _State | _Track | _Channel


class Call:
    """A student's call to a tutor. `close()` releases everything; it is safe to call twice."""

    def __init__(
        self,
        *,
        session_id: str,
        tutor: TutorProfile,
        runtime: EngineRuntime,
        on_closed: Callable[[Call, str], Awaitable[None]],
    ) -> None:
        self.session_id = session_id
        self.tutor = tutor
        self.connected = asyncio.Event()
        self.closed = asyncio.Event()
        self.close_reason: str | None = None
        self._runtime = runtime
        self._settings = runtime.settings
        self._on_closed = on_closed
        self._pc = RTCPeerConnection(RTCConfiguration(iceServers=self._ice_servers()))
        self._channel: Channel | None = None
        self._events: asyncio.Queue[_Event] = asyncio.Queue()
        self._runner: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None
        self._tasks = TaskSet(session_id, "call", on_failure=self.task_failed)
        self._failed = False
        self._heard_at = time.monotonic()
        self.conversation = Conversation(
            session_id=session_id,
            tutor=tutor,
            llm=runtime.llm,
            store=runtime.store,
            options=GenerationOptions(
                max_tokens=self._settings.llm_max_tokens,
                temperature=self._settings.llm_temperature,
            ),
            retriever=runtime.retriever,
            unknown=runtime.unknown_words,
        )
        self.turns = Turns(
            session_id=session_id,
            conversation=self.conversation,
            send=self.send,
            on_failure=self.task_failed,
        )
        self.voice: VoicePipeline | None = None
        self._wire()

    # --- the edge: aiortc callbacks become events --------------------------------------------

    def _wire(self) -> None:
        pc = self._pc
        pc.on("datachannel", lambda channel: self._events.put_nowait(_Channel(channel)))
        pc.on("track", lambda track: self._events.put_nowait(_Track(track)))
        pc.on(
            "connectionstatechange",
            lambda: self._events.put_nowait(_State(pc.connectionState)),
        )

    def _wire_channel(self, channel: RTCDataChannel) -> None:
        channel.on("message", self._on_channel_message)

    def _on_channel_message(self, raw: str | bytes) -> None:
        self._heard_at = time.monotonic()  # here, at the edge: however busy the loop is
        self._events.put_nowait(_Message(raw))

    # --- negotiation ---------------------------------------------------------------------------

    async def accept(self, offer_sdp: str) -> str:
        """Apply the client's offer and return the answer SDP (ICE candidates included)."""
        # aiortc reports a malformed offer in many ways (assertions, AttributeError on a
        # missing line, ...); whatever it raises while reading or answering one is the offer's.
        try:
            parsed = SessionDescription.parse(offer_sdp)
            await self._pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except Exception as exc:
            raise _bad_offer("read", exc) from exc
        for media in parsed.media:
            # Without these, aiortc accepts the offer and then fails to connect, in a task of
            # its own, by assertion: the client would wait for a call that cannot happen.
            ice, dtls = media.ice, media.dtls
            if not (ice and ice.usernameFragment and ice.password and dtls and dtls.fingerprints):
                raise BadOffer("each media section needs ICE credentials and a DTLS fingerprint")
            # The tutor's voice goes out as Opus the engine encodes itself (media_engine.
            # opus_out); every browser offers it.
            if media.kind == "audio" and not any(
                c.mimeType.lower() == "audio/opus" for c in media.rtp.codecs
            ):
                raise UnsupportedOffer(
                    "the offer's audio has no Opus codec, which the tutor speaks"
                )
        # getTransceivers() lists media only; a data channel shows as the SCTP transport.
        kinds = {t.kind for t in self._pc.getTransceivers()}
        if not kinds and self._pc.sctp is None:
            raise BadOffer("the offer has neither audio nor a data channel")
        if kinds and "audio" not in kinds:
            raise UnsupportedOffer("the offer's media has no audio: a tutor call is audio")
        if self._runtime.voice is not None:
            for transceiver in self._pc.getTransceivers():
                if transceiver.kind == "audio":
                    set_jitter_packets(transceiver.receiver, self._settings.voice.jitter_packets)
                    self.voice = self._runtime.voice.create(self)
                    tap_receiver(transceiver.receiver, self.voice.hear)
                    self._pc.addTrack(self.voice.outbound)
                    break
        try:
            await self._pc.setLocalDescription(await self._pc.createAnswer())
        except Exception as exc:
            raise _bad_offer("answered", exc) from exc
        context = contextvars.copy_context()
        context.run(logs.SESSION_ID.set, self.session_id)  # its log lines name the session
        self._runner = asyncio.create_task(
            self._run(), name=f"call-{self.session_id}", context=context
        )
        self._tasks.spawn(self.conversation.prefill(), name="prefill")
        answer: str = self._pc.localDescription.sdp
        return ask_for_dtx(answer) if self._settings.voice.inbound_dtx else answer

    def _ice_servers(self) -> list[RTCIceServer]:
        """The engine's own way through NATs: the same STUN and TURN servers as its clients,
        with TURN credentials of its own."""
        settings = self._settings
        servers = ice_servers(
            settings.ice_servers,
            secret=settings.turn_secret,
            user=f"engine-{self.session_id[:12]}",
            ttl_s=settings.turn_ttl_seconds,
        )
        return [
            RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential)
            for s in servers
        ]

    def attach(self, channel: Channel) -> None:
        """Open the call on another transport (media_engine.socket_call): events go out on
        `channel`, and the transport feeds and plays the voice pipeline (`self.voice`) itself."""
        self._channel = channel
        if self._runtime.voice is not None:
            self.voice = self._runtime.voice.create(self)
        self.connected.set()
        metrics.CALLS.labels("websocket").inc()
        self._tasks.spawn(self.conversation.prefill(), name="prefill")

    # --- the call's one loop -------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._work()
        except Exception as exc:  # a bug: the call ends, said and logged, rather than hangs
            self.task_failed(asyncio.current_task(), exc)

    async def _work(self) -> None:
        while True:
            item = await self._events.get()
            if isinstance(item, _Channel):
                if item.channel.label == CHAT_LABEL:
                    self._channel = item.channel
                    self._wire_channel(item.channel)
            elif isinstance(item, _Message):
                self._on_message(item.raw)
            elif isinstance(item, _Track):
                if item.track.kind == "audio" and self.voice is not None:
                    self.voice.start(item.track, dtx=self._settings.voice.inbound_dtx)
            elif isinstance(item, _State):
                if item.state == "connected" and not self.connected.is_set():
                    self.connected.set()
                    metrics.CALLS.labels("webrtc").inc()
                    self._heard_at = time.monotonic()
                    self._tasks.spawn(self._watch_client(), name="liveness")
                elif item.state in {"failed", "closed"}:
                    self._tasks.spawn(
                        self.close("failed" if item.state == "failed" else "hangup"), name="close"
                    )
                    return

    async def _watch_client(self) -> None:
        """End the call when the client has gone silent: no audio packet and no data-channel
        message (clients send a `ping` every 1.5 s) for CALL_IDLE_TIMEOUT_SECONDS. ICE's own
        consent checks take half a minute to notice a client that vanished."""
        timeout = self._settings.call_idle_timeout_seconds
        packets = 0
        step = min(1.0, timeout / 4)
        while True:
            before = time.monotonic()
            await asyncio.sleep(step)
            now = time.monotonic()
            if now - before > step + 0.5:
                continue  # the loop was held up: what the client sent meanwhile is unread yet
            received = await self._rtp_packets_received()
            if received > packets:
                packets, self._heard_at = received, now
            if now - self._heard_at > timeout:
                log.info("session %s: nothing from the client for %.0f s", self.session_id, timeout)
                self._tasks.spawn(self.close("vanished"), name="close")
                return

    async def _rtp_packets_received(self) -> int:
        total = 0
        for receiver in self._pc.getReceivers():
            for stats in (await receiver.getStats()).values():
                if stats.type == "inbound-rtp":
                    total += stats.packetsReceived
        return total

    def task_failed(self, task: asyncio.Task[Any] | None, exc: BaseException) -> None:
        """A task of this call raised: a stage's failure costs its turn (it was logged and
        reported), anything else ends the call with `internal_error`."""
        if isinstance(exc, StageError) or self.closed.is_set() or self._failed:
            return
        self._failed = True
        metrics.ERRORS.labels("internal_error").inc()
        name = task.get_name() if task is not None else "?"
        log.error(
            "session %s: ending the call after an unexpected error in %s",
            self.session_id,
            name,
            exc_info=exc,
        )
        self.send(
            event(
                "error",
                code="internal_error",
                retryable=False,
                content="the call hit an internal error and has ended",
            )
        )
        self._tasks.spawn(self.close("internal_error"), name="close")

    def _on_message(self, raw: str | bytes) -> None:
        try:
            message = parse(raw, max_bytes=self._settings.max_message_bytes)
        except ProtocolError as exc:
            metrics.ERRORS.labels(exc.code).inc()
            self.send(event("error", code=exc.code, content=str(exc), retryable=False))
            return
        if isinstance(message, TextIn):
            self.turns.typed(message.content)
        elif isinstance(message, Stop):
            self.stop_reply()

    def stop_reply(self) -> None:
        """Stop the tutor as a barge-in does: silence from the next frame, then the reply is
        cancelled and stored as far as it was heard."""
        if self.voice is not None:
            self.voice.outbound.clear()
        self.turns.interrupt()

    # --- output --------------------------------------------------------------------------------

    def send(self, message: str) -> None:
        """Send one event on the data channel; before it opens or after it closes, drop it."""
        channel = self._channel
        if channel is not None and channel.readyState == "open":
            channel.send(message)

    # --- teardown ------------------------------------------------------------------------------

    async def _say_bye(self, reason: str) -> None:
        """Tell the client why the call ends (shutdown, timeout, ...), and give the message a
        moment to leave before the connection closes under it."""
        channel = self._channel
        if channel is None or channel.readyState != "open":
            return
        channel.send(event("bye", reason=reason))
        for _ in range(BYE_FLUSH_STEPS):
            await asyncio.sleep(0.02)
            if channel.bufferedAmount == 0:
                break
        await asyncio.sleep(0.05)  # from SCTP's queue onto the wire

    async def close(self, reason: str) -> None:
        """Stop every task, close the peer connection and release the slot (the first reason
        given is kept). Every caller, from any task, returns once the call is closed."""
        if self._closing is None:
            self.close_reason = reason
            self.closed.set()
            self._closing = asyncio.create_task(
                self._close(reason), name=f"call-close-{self.session_id}"
            )
        # One close, in a task of its own, that every caller waits for: a second caller (a
        # socket's handler, woken by `closed`) must not tear its transport down under the
        # first one's `bye`. Shielded, so that a caller cancelled meanwhile (a task the close
        # itself cancels, a handler the server cancels) stops waiting and the close goes on.
        await asyncio.shield(self._closing)

    async def _close(self, reason: str) -> None:
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
        await self._tasks.cancel_all()
        if self.voice is not None:
            await self.voice.aclose()  # no more turns start
        await self.turns.aclose()  # what was said is stored before the slot goes
        await self._say_bye(reason)
        await self._pc.close()
        log.info("session %s: call closed (%s)", self.session_id, reason)
        await self._on_closed(self, reason)


def _bad_offer(step: str, exc: Exception) -> BadOffer:
    log.info("refused an SDP offer that cannot be %s: %s", step, type(exc).__name__)
    detail = str(exc)[:200] if isinstance(exc, ValueError) else type(exc).__name__
    return BadOffer(f"the SDP offer cannot be {step}: {detail}")
