"""One call: its peer connection, its data channel and its conversation.

aiortc reports what happens through callbacks; they are turned, once and here, into events on a
queue that a single task works through, so the call's logic reads top to bottom.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from media_engine.conversation import Conversation
from media_engine.errors import BadOffer
from media_engine.llm.base import GenerationOptions
from media_engine.protocol import Channel, ProtocolError, TextIn, event, parse
from media_engine.tasks import TaskSet
from media_engine.tutor import TutorProfile

if TYPE_CHECKING:
    from media_engine.runtime import EngineRuntime

log = logging.getLogger(__name__)

CHAT_LABEL = "chat"


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
        self._pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._channel: Channel | None = None
        self._events: asyncio.Queue[_Event] = asyncio.Queue()
        self._runner: asyncio.Task[None] | None = None
        self._reply: asyncio.Task[None] | None = None
        self._tasks = TaskSet(session_id, "call")
        self.conversation = Conversation(
            session_id=session_id,
            tutor=tutor,
            llm=runtime.llm,
            store=runtime.store,
            send=self.send,
            options=GenerationOptions(
                max_tokens=self._settings.llm_max_tokens,
                temperature=self._settings.llm_temperature,
            ),
            retriever=runtime.retriever,
            known=runtime.known_word,
        )
        self.voice: Any = None
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
        channel.on("message", lambda raw: self._events.put_nowait(_Message(raw)))

    # --- negotiation ---------------------------------------------------------------------------

    async def accept(self, offer_sdp: str) -> str:
        """Apply the client's offer and return the answer SDP (ICE candidates included)."""
        try:
            await self._pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise BadOffer(f"the SDP offer is malformed: {exc}") from exc
        # getTransceivers() lists media only; a data channel shows as the SCTP transport.
        if not self._pc.getTransceivers() and self._pc.sctp is None:
            raise BadOffer("the offer has neither audio nor a data channel")
        if self._runtime.voice is not None:
            for transceiver in self._pc.getTransceivers():
                if transceiver.kind == "audio":
                    self.voice = self._runtime.voice.create(self)
                    self._pc.addTrack(self.voice.outbound)
                    break
        answer = await self._pc.createAnswer()
        await self._pc.setLocalDescription(answer)
        self._runner = asyncio.create_task(self._run(), name=f"call-{self.session_id}")
        self._tasks.spawn(self.conversation.prefill(), name="prefill")
        return self._pc.localDescription.sdp

    def attach(self, channel: Channel) -> None:
        """Open the call on another transport (media_engine.socket_call): events go out on
        `channel`, and the transport feeds and plays the voice pipeline (`self.voice`) itself."""
        self._channel = channel
        if self._runtime.voice is not None:
            self.voice = self._runtime.voice.create(self)
        self.connected.set()
        self._tasks.spawn(self.conversation.prefill(), name="prefill")

    # --- the call's one loop -------------------------------------------------------------------

    async def _run(self) -> None:
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
                    self.voice.start(item.track)
            elif isinstance(item, _State):
                if item.state == "connected":
                    self.connected.set()
                elif item.state in {"failed", "closed"}:
                    self._tasks.spawn(
                        self.close("failed" if item.state == "failed" else "hangup"), name="close"
                    )
                    return

    def _on_message(self, raw: str | bytes) -> None:
        try:
            message = parse(raw, max_bytes=self._settings.max_message_bytes)
        except ProtocolError as exc:
            self.send(event("error", code=exc.code, content=str(exc)))
            return
        if isinstance(message, TextIn):
            self.start_turn(message.content, source="typed")

    # --- turns ---------------------------------------------------------------------------------

    def start_turn(
        self,
        text: str,
        *,
        source: str,
        turn_id: str | None = None,
        timings: dict[str, float] | None = None,
    ) -> str:
        """A user turn: interrupt any reply in progress, store the turn, reply to it."""
        turn_id = turn_id or uuid.uuid4().hex[:12]
        self.interrupt()
        self._reply = self._tasks.spawn(self._respond(turn_id, text, source, timings), name="reply")
        return turn_id

    def interrupt(self) -> bool:
        """Cancel the reply in progress, if any (barge-in, a new message, hang-up)."""
        if self._reply is not None and not self._reply.done():
            self._reply.cancel()
            return True
        return False

    @property
    def replying(self) -> bool:
        return self._reply is not None and not self._reply.done()

    async def _respond(
        self, turn_id: str, text: str, source: str, timings: dict[str, float] | None
    ) -> None:
        await self.conversation.add_user_turn(
            turn_id=turn_id, text=text, source=source, timings=timings
        )
        if self.voice is not None:
            await self.voice.speak_reply(turn_id)
        else:
            await self.conversation.reply(turn_id)
        # While the student reads or listens, the model reads the history the next turn will
        # start with (the last turn's course material has left it).
        self._tasks.spawn(self.conversation.prefill(), name="prefill")

    # --- output --------------------------------------------------------------------------------

    def send(self, message: str) -> None:
        """Send one event on the data channel; before it opens or after it closes, drop it."""
        channel = self._channel
        if channel is not None and channel.readyState == "open":
            channel.send(message)

    # --- teardown ------------------------------------------------------------------------------

    async def close(self, reason: str) -> None:
        """Stop every task, close the peer connection and release the slot."""
        if self.closed.is_set():
            return
        self.closed.set()
        self.close_reason = reason
        current = asyncio.current_task()
        if self._runner is not None and self._runner is not current:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
        await self._tasks.cancel_all()
        if self.voice is not None:
            await self.voice.aclose()
        await self._pc.close()
        log.info("session %s: call closed (%s)", self.session_id, reason)
        await self._on_closed(self, reason)
