"""The engine's call slots: reserving one per session, answering offers, releasing on every end.

A slot is taken when the signaling tier creates a session and given back when its call closes
for any reason: hang-up, `failed`, session end, shutdown, the session timeout, or a call that
never connects within the connect deadline.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field

from yarl import URL

from auth.tokens import CallGrant
from core.http import LOOPBACK_HOSTS
from media_engine import memory
from media_engine.call import Call
from media_engine.errors import CallExists, CallNotFound, CapacityError, TooManySessions
from media_engine.runtime import EngineRuntime

log = logging.getLogger(__name__)

LATE_TRIM_S = 5.0
"""After the last call ends, the heap is trimmed at once and again this much later."""


@dataclass(frozen=True)
class SessionGrant:
    """What a client needs to open its call."""

    session_id: str
    engine_url: str
    engine_token: str
    websocket_url: str
    """The same call over a WebSocket (media_engine.socket_call); add `?token=<engine_token>`."""

    def as_json(self) -> dict[str, str]:
        return {
            "session_id": self.session_id,
            "engine_url": self.engine_url,
            "engine_token": self.engine_token,
            "websocket_url": self.websocket_url,
        }


def websocket_url(base_url: str, session_id: str) -> str:
    """The ws:// (or, behind https, wss://) address of a session's WebSocket."""
    scheme, sep, rest = base_url.partition("://")
    ws_scheme = {"http": "ws", "https": "wss"}.get(scheme, scheme)
    return f"{ws_scheme}{sep}{rest}/ws/ws/{session_id}"


@dataclass
class _Slot:
    session_id: str
    student_id: int
    call: Call | None = None
    watchdog: asyncio.Task[None] | None = None
    created_at: float = field(default_factory=time.monotonic)
    releasing: bool = False


class CallManager:
    """Owns every call slot of one engine."""

    def __init__(self, runtime: EngineRuntime) -> None:
        self._rt = runtime
        self._settings = runtime.settings
        self._slots: dict[str, _Slot] = {}
        self._closing = False
        self._late_trim: asyncio.Task[None] | None = None
        self.idle = asyncio.Event()
        """Set while no call slot is taken (background work waits for it)."""
        self.idle.set()

    @property
    def in_use(self) -> int:
        return len(self._slots)

    @property
    def capacity(self) -> int:
        return self._settings.max_sessions

    async def create_session(
        self, *, tutor_id: int, student_id: int, base_url: str
    ) -> SessionGrant:
        """Reserve a slot and record the session; CapacityError when every slot is taken.

        `base_url` is where clients reach this engine: PUBLIC_URL, or the URL the request came to.
        """
        base_url = base_url.rstrip("/")
        if self._closing:
            raise CapacityError("the engine is shutting down")
        if len(self._slots) >= self._settings.max_sessions:
            raise CapacityError(f"all {self._settings.max_sessions} call slots are in use")
        per_user = self._settings.max_sessions_per_user
        if sum(slot.student_id == student_id for slot in self._slots.values()) >= per_user:
            raise TooManySessions(
                f"you already have {per_user} open sessions; end one to open another"
            )
        tutor = await self._rt.store.tutor(tutor_id)
        if tutor is None:
            raise CallNotFound(f"no tutor with id {tutor_id}")
        session_id = uuid.uuid4().hex
        await self._rt.store.create_session(
            session_id=session_id,
            student_id=student_id,
            tutor_id=tutor_id,
            engine=base_url,
        )
        slot = _Slot(session_id=session_id, student_id=student_id)
        self._slots[session_id] = slot
        self.idle.clear()
        slot.watchdog = asyncio.create_task(self._watch(slot), name=f"watch-{session_id}")
        token = self._rt.issuer.engine_token(
            CallGrant(session_id=session_id, user_id=student_id),
            ttl_s=self._settings.engine_token_expire_seconds,
        )
        return SessionGrant(
            session_id=session_id,
            engine_url=f"{base_url}/v1/calls/{session_id}",
            engine_token=token,
            websocket_url=websocket_url(base_url, session_id),
        )

    async def open_call(self, session_id: str, *, replace_unconnected: bool = False) -> Call:
        """The session's call, not yet connected: CallNotFound, or CallExists if it has one.

        `replace_unconnected`: a call that never connected (WebRTC that a firewall blocked) gives
        way to this one, keeping the session; the WebSocket transport is that fallback.
        """
        slot = self._slots.get(session_id)
        if slot is None:
            raise CallNotFound("no such session on this engine, or it has ended")
        old = slot.call
        if old is not None and replace_unconnected and not old.connected.is_set():
            slot.call = None  # closed without releasing the slot: see _closed
            await old.close("replaced")
        if slot.call is not None:
            raise CallExists("this session already has a call")
        tutor = await self._rt.store.tutor_for_session(session_id)
        if tutor is None:
            raise CallNotFound("the session's tutor no longer exists")
        if slot.call is not None:  # another connection won the race while the tutor was read
            raise CallExists("this session already has a call")
        call = Call(session_id=session_id, tutor=tutor, runtime=self._rt, on_closed=self._closed)
        slot.call = call
        return call

    async def answer(self, session_id: str, offer_sdp: str) -> str:
        """Open the session's call with the client's offer; return the answer SDP."""
        call = await self.open_call(session_id)
        try:
            return await call.accept(offer_sdp)
        except BaseException:
            # A bad offer costs the call, not the session: the client may try a good one.
            slot = self._slots.get(session_id)
            if slot is not None and slot.call is call:
                slot.call = None
            await call.close("bad_offer")
            raise

    async def end(self, session_id: str, reason: str) -> bool:
        """End a session: close its call (if any) and release its slot."""
        slot = self._slots.get(session_id)
        if slot is None:
            return False
        if slot.call is not None and not slot.call.closed.is_set():
            await slot.call.close(reason)
        else:
            await self._release(slot, reason)
        return True

    async def _closed(self, call: Call, reason: str) -> None:
        slot = self._slots.get(call.session_id)
        if slot is not None and slot.call is call and reason != "bad_offer":
            await self._release(slot, reason)

    async def _release(self, slot: _Slot, reason: str) -> None:
        if slot.releasing or self._slots.get(slot.session_id) is not slot:
            return
        slot.releasing = True
        if slot.watchdog is not None and slot.watchdog is not asyncio.current_task():
            slot.watchdog.cancel()
        try:
            # The end is stored before the slot frees, so whoever sees the capacity back
            # also finds the session ended, with its reason.
            await self._rt.store.end_session(slot.session_id, reason)
        finally:
            self._slots.pop(slot.session_id, None)
            if not self._slots:
                self.idle.set()
        log.info(
            "session %s released (%s); %d/%d in use",
            slot.session_id,
            reason,
            len(self._slots),
            self._settings.max_sessions,
        )
        # The ended call's reference cycles (media_engine.memory), on the loop: a collection
        # on another thread would close their coroutines there. With start-up frozen it takes
        # a few milliseconds, so after every call; otherwise once the last call has ended.
        if memory.frozen() or not self._slots:
            memory.collect()
        if not self._slots:
            await asyncio.to_thread(memory.trim)
            # Work a call started can end after it (a synthesis or a prompt read on a model's
            # thread, which nothing interrupts): what it freed is given back once it is done.
            if self._late_trim is not None:
                self._late_trim.cancel()
            self._late_trim = asyncio.create_task(self._trim_when_quiet(), name="late-trim")

    async def _trim_when_quiet(self) -> None:
        await asyncio.sleep(LATE_TRIM_S)
        if not self._slots:
            await self._forget_calls()
        if not self._slots:
            memory.collect()
            await asyncio.to_thread(memory.trim)

    async def _forget_calls(self) -> None:
        """What the models kept for the calls that ended (their conversations' prompt reads,
        their replies' phrases) is dropped: an idle engine holds what it held at start."""
        await self._rt.llm.forget_conversations()
        if self._rt.voice is not None and not self._slots:
            models = self._rt.voice.models
            for tts in (models.tts, models.piper):
                if tts is not None:
                    tts.forget_kept()

    async def _watch(self, slot: _Slot) -> None:
        """Close a call that never connects, and any call that outlives the session timeout."""
        deadline = self._settings.connect_timeout_seconds
        await asyncio.sleep(deadline)
        call = slot.call
        if call is None or not call.connected.is_set():
            log.info("session %s: no connection within %.0f s", slot.session_id, deadline)
            await self._end_from_watchdog(slot, "connect_timeout")
            return
        remaining = self._settings.session_timeout_seconds - (time.monotonic() - slot.created_at)
        await asyncio.sleep(max(0.0, remaining))
        await self._end_from_watchdog(slot, "session_timeout")

    async def _end_from_watchdog(self, slot: _Slot, reason: str) -> None:
        slot.watchdog = None  # the watchdog is ending itself; nobody must cancel it now
        await self.end(slot.session_id, reason)

    async def end_orphans(self) -> int:
        """At start: end the sessions this engine owned that are still active (it stopped
        without closing them) with `engine_restart`; return how many."""
        ended = 0
        for session_id, url in await self._rt.store.active_sessions():
            if session_id not in self._slots and self._owns(url):
                await self._rt.store.end_session(session_id, "engine_restart")
                ended += 1
        if ended:
            log.info("ended %d sessions left active by the engine's last run", ended)
        return ended

    def _owns(self, url: str) -> bool:
        """Whether a session's engine URL is one this engine hands out: PUBLIC_URL when set,
        else a URL on an allowed (or loopback) host and this port."""
        s = self._settings
        if s.public_url:
            return url.rstrip("/") == s.public_url.rstrip("/")
        parsed = URL(url)
        host = (parsed.host or "").lower()
        hosts = {h.lower() for h in s.allowed_hosts} | set(LOOPBACK_HOSTS)
        return ("*" in hosts or host in hosts) and (s.port == 0 or parsed.port == s.port)

    async def close_all(self, reason: str = "shutdown") -> None:
        """Close every call (server shutdown)."""
        self._closing = True
        await asyncio.gather(
            *(self.end(sid, reason) for sid in list(self._slots)), return_exceptions=True
        )
        if self._late_trim is not None:
            self._late_trim.cancel()
            await asyncio.gather(self._late_trim, return_exceptions=True)
