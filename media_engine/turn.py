"""A turn, owned from the student's words to the tutor's last frame.

A `Turn` starts speculative (at a pause, before anyone knows the student is done) or committed
(a typed message, a spoken turn judged over). Speculative, it plans, generates and synthesizes
its reply but sends and stores nothing: `commit` stores the student's message and lets the
reply out; `drop` throws the work away. Committed, `interrupt` stops the reply and stores what
the student heard (or was shown). `Turns` holds a call's turns and is the only thing that
starts, commits, drops or interrupts one.

Stores happen in the order of these calls, never cancelled (media_engine.conversation): a new
message interrupts the reply to the last one, never the storing of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
import uuid
from collections.abc import Callable

from core import logs, metrics
from knowledge.index import Passage
from media_engine.conversation import Conversation
from media_engine.errors import StageError
from media_engine.events import (
    Error,
    Metrics,
    OutEvent,
    ReplyChunk,
    ReplyText,
    Sources,
    TextDelta,
    TtsState,
)
from media_engine.reply import ModelAsked, Planned, Reply, SentenceSaid, Words
from media_engine.speaking import Speaker, TurnClock
from media_engine.tasks import OnFailure, TaskSet

log = logging.getLogger(__name__)

Send = Callable[[str], None]
MakeSpeaker = Callable[[TurnClock, asyncio.Event, Callable[[str, float], None]], Speaker]
"""A spoken reply's speaker: (its clock, the gate its audio waits on, called as each chunk
starts to sound with its text and start in ms after the first)."""


class TurnState(enum.Enum):
    SPECULATIVE = "speculative"
    """Answered ahead: nothing sent or stored yet."""
    COMMITTED = "committed"
    """The student's message is stored; the reply goes out."""
    DONE = "done"
    DROPPED = "dropped"
    """The student went on: the speculative work is thrown away."""
    INTERRUPTED = "interrupted"


class Turn:
    """One student message and the tutor's reply to it."""

    def __init__(
        self,
        *,
        text: str,
        source: str,
        clock: TurnClock,
        conversation: Conversation,
        send: Send,
        make_speaker: MakeSpeaker | None,
        tasks: TaskSet,
    ) -> None:
        self.turn_id = clock.turn_id
        self.text = text
        self.source = source
        self.clock = clock
        self.state = TurnState.SPECULATIVE
        self._conversation = conversation
        self._send = send
        self._held: list[OutEvent] = []
        self._gate = asyncio.Event()
        self.reply = Reply(turn_id=self.turn_id)
        self._passages: list[Passage] | None = None
        self._stored = False
        # What was said before this turn, as it was when the turn began: the answer is to
        # `text` after it, even if `text` joins the history before the answer is planned.
        self._history = conversation.history()
        self.speaker = make_speaker(clock, self._gate, self._sounding) if make_speaker else None
        self.task = tasks.spawn(self._run(), name="turn")

    # --- what the owner does -------------------------------------------------------------------

    def commit(self) -> asyncio.Task[None]:
        """The student is done and said `text`: store it, then let the reply out. Returns the
        store's task (the reply's own store waits for it)."""
        assert self.state is TurnState.SPECULATIVE, self.state
        self.state = TurnState.COMMITTED
        stored = self._conversation.commit_user(
            turn_id=self.turn_id,
            text=self.text,
            source=self.source,
            timings=self.clock.user_timings() if self.clock.spoken_turn else None,
        )
        if self._passages:
            self._conversation.record_sources(self.turn_id, self._passages)
        held, self._held = self._held, []
        self._send_all(held)
        self._gate.set()
        return stored

    def drop(self) -> None:
        """The student went on: forget this answer; nothing of it was sent or stored."""
        if self.state is TurnState.SPECULATIVE:
            self.state = TurnState.DROPPED
            self.task.cancel()

    def interrupt(self) -> bool:
        """Stop the reply now (barge-in, a new message, the stop button, hang-up) and store
        what was delivered, marked interrupted. False if there was nothing to stop."""
        if self.state is TurnState.SPECULATIVE:
            self.drop()
            return False
        if self.state is not TurnState.COMMITTED:
            return False
        self.state = TurnState.INTERRUPTED
        if self.speaker is not None:
            self.speaker.clear()
        stored = self._store(interrupted=True)
        self.task.cancel()
        if self.speaker is not None:
            # The client replaces the reply it shows with what was heard: the stored text.
            heard = self.speaker.played_text().strip()
            ended = [
                TtsState(turn_id=self.turn_id, state="interrupted", heard=heard),
                self._metrics(),
            ]
            # Told once what was heard is kept, like the end of a reply.
            stored.add_done_callback(lambda _: self._send_all(ended))
        return True

    def _metrics(self) -> Metrics:
        """The reply's metrics event, also counted for the operator (`/metrics`)."""
        values = self.clock.metrics()
        metrics.observe_turn(values)
        return Metrics(turn_id=self.turn_id, values=values)

    def _send_all(self, events: list[OutEvent]) -> None:
        for item in events:
            self._send(item.json())

    # --- the reply -----------------------------------------------------------------------------

    async def _run(self) -> None:
        logs.TURN_ID.set(self.turn_id)  # this task's own context: its log lines name the turn
        failure: StageError | None = None
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._generate())
                if self.speaker is not None:
                    group.create_task(self.speaker.run())
        except* StageError as errors:
            failure = _first(errors.exceptions)
        await self._gate.wait()  # a speculative turn ends only once committed
        if self.speaker is not None:
            await self.speaker.played()  # what was queued before a failure is still heard
        if failure is not None:
            self._stage_failed(failure)
        if self.state is TurnState.COMMITTED:
            self.state = TurnState.DONE
            # Stored before the last event: a client that has the whole reply finds it kept.
            await asyncio.shield(self._store(interrupted=failure is not None))
        if self.speaker is None:
            self._send(self._text_event().json())
        elif self.clock.first_sent_at is not None:
            self._send(TtsState(turn_id=self.turn_id, state="end").json())
            self._send(self._metrics().json())

    async def _generate(self) -> None:
        reply, speaker = self.reply, self.speaker
        self.clock.llm_started_at = reply.started_at = time.monotonic()
        # Closed on the way out, however it ends: the model stops generating at once.
        async with contextlib.aclosing(
            self._conversation.answer(self.text, self._history, spoken=speaker is not None)
        ) as answer:
            async for piece in answer:
                if isinstance(piece, Words):
                    await self._words(piece.text, opening=piece.opening)
                elif isinstance(piece, Planned):
                    reply.route = piece.route
                    self._planned(piece)
                elif isinstance(piece, ModelAsked):
                    self.clock.model_asked_at = time.monotonic()
                    if speaker is not None:
                        speaker.opening_said()
                elif isinstance(piece, SentenceSaid):
                    if speaker is not None:
                        speaker.sentence_said()
                else:
                    self._stage_failed(piece.error)
        reply.finished_at = time.monotonic()
        if speaker is not None:
            speaker.end()
            self._emit(self._text_event())

    async def _words(self, text: str, *, opening: bool = False) -> None:
        reply = self.reply
        clock = self.clock
        if reply.first_token_at is None:
            reply.first_token_at = clock.first_token_at = time.monotonic()
        if clock.model_asked_at is not None and clock.model_first_token_at is None:
            clock.model_first_token_at = time.monotonic()
        reply.text += text
        self._emit(TextDelta(turn_id=self.turn_id, content=text))
        if self.speaker is not None:
            self.speaker.feed(text)
            # The opening's words never wait for its synthesis to get ahead: the sooner the
            # model is asked, the sooner it has read its prompt.
            await self.speaker.ready(hold=not opening)

    def _text_event(self) -> ReplyText:
        return ReplyText(
            turn_id=self.turn_id, content=self.reply.text.strip(), route=self.reply.route
        )

    def _planned(self, piece: Planned) -> None:
        if piece.retrieval_ms is None:
            return
        items = [p.item() for p in piece.passages]
        self._emit(Sources(turn_id=self.turn_id, items=items, retrieval_ms=piece.retrieval_ms))
        if self.state is TurnState.SPECULATIVE:
            self._passages = piece.passages  # recorded at the commit
        else:
            self._conversation.record_sources(self.turn_id, piece.passages)

    def _stage_failed(self, exc: StageError) -> None:
        """The one way a failed stage is told: a log line and an `error` event; the call goes
        on, and what was delivered is kept."""
        log.warning("session %s turn %s: %s", self._conversation.session_id, self.turn_id, exc.code)
        metrics.ERRORS.labels(exc.code).inc()
        self._emit(Error.of(exc, self.turn_id))

    def _sounding(self, text: str, starts_at_ms: float) -> None:
        if self.state is not TurnState.COMMITTED:
            return  # interrupted between the frame and this call: nothing more is heard
        if starts_at_ms == 0:
            self._send(TtsState(turn_id=self.turn_id, state="start").json())
        self._send(ReplyChunk(turn_id=self.turn_id, text=text, starts_at_ms=starts_at_ms).json())

    def _emit(self, item: OutEvent) -> None:
        if self.state is TurnState.SPECULATIVE:
            self._held.append(item)
        elif self.state is not TurnState.DROPPED:
            self._send(item.json())

    def _store(self, *, interrupted: bool) -> asyncio.Future[None]:
        """Keep the reply as delivered (once); the future is its write."""
        if self._stored:
            return _done()
        self._stored = True
        delivered = self.reply
        if self.speaker is not None:
            delivered = Reply(
                turn_id=self.turn_id,
                text=self.speaker.played_text(),
                started_at=self.reply.started_at,
                first_token_at=self.reply.first_token_at,
                finished_at=self.reply.finished_at,
                route=self.reply.route,
                total_ms=self.clock.metrics().get("total_ms"),
            )
        return self._conversation.commit_reply(delivered, interrupted=interrupted)


def _done() -> asyncio.Future[None]:
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


def _first(errors: tuple[BaseException, ...]) -> StageError:
    first = errors[0]
    return first if isinstance(first, StageError) else StageError(str(first))


class Turns:
    """A call's turns: the one in progress, and a spoken one being answered ahead."""

    def __init__(
        self,
        *,
        session_id: str,
        conversation: Conversation,
        send: Send,
        make_speaker: MakeSpeaker | None = None,
        on_failure: OnFailure | None = None,
    ) -> None:
        self._session_id = session_id
        self._conversation = conversation
        self._send = send
        # A turn that raises something other than a stage's error is a bug: the call ends.
        self._tasks = TaskSet(session_id, "turns", on_failure=on_failure)
        self.make_speaker = make_speaker
        """Set when the call has audio: every reply is then spoken."""
        self.current: Turn | None = None
        self.ahead: Turn | None = None
        """The speculative turn of the utterance being heard."""
        self.commits = 0
        self.drops = 0
        self._dropped = 0
        """Drops since the last spoken turn was committed (its metrics tell them)."""

    @property
    def replying(self) -> bool:
        return self.current is not None and self.current.state is TurnState.COMMITTED

    def typed(self, text: str, turn_id: str | None = None) -> str:
        """A typed message: a committed turn at once."""
        self.drop_ahead()
        self.interrupt()  # first, so the new turn's history holds what was delivered of it
        turn = self._start(text, "typed", TurnClock.typed(turn_id or uuid.uuid4().hex[:12]))
        self._commit(turn)
        return turn.turn_id

    def speculate(self, text: str, clock: TurnClock) -> None:
        """The student paused after saying `text`: answer it ahead, in case they are done."""
        if self.ahead is not None and self.ahead.text == text:
            return
        self.drop_ahead()
        self.ahead = self._start(text, "spoken", clock)

    def drop_ahead(self) -> None:
        """The student went on (or typed): the answer prepared ahead is thrown away."""
        if self.ahead is not None:
            self.ahead.drop()
            self.ahead = None
            self.drops += 1
            self._dropped += 1

    def spoken(self, text: str, clock: TurnClock) -> str:
        """The student's spoken turn is over (`clock` says how it ended): commit the answer
        prepared for exactly these words, or start one."""
        ahead, self.ahead = self.ahead, None
        if ahead is not None and ahead.text == text and ahead.state is TurnState.SPECULATIVE:
            self.commits += 1
            ahead.clock.settle(clock)
            ahead.clock.drops = self._dropped
            turn = ahead
        else:
            if ahead is not None:
                ahead.drop()
                self.drops += 1
                self._dropped += 1
            clock.drops = self._dropped
            self.interrupt()
            turn = self._start(text, "spoken", clock)
        self._dropped = 0
        self._commit(turn)
        return turn.turn_id

    def interrupt(self) -> bool:
        """Stop the reply in progress, if any."""
        current = self.current
        return current is not None and current.interrupt()

    def _start(self, text: str, source: str, clock: TurnClock) -> Turn:
        return Turn(
            text=text,
            source=source,
            clock=clock,
            conversation=self._conversation,
            send=self._send,
            make_speaker=self.make_speaker,
            tasks=self._tasks,
        )

    def _commit(self, turn: Turn) -> None:
        self.interrupt()
        self.current = turn
        turn.commit()
        turn.task.add_done_callback(lambda _: self._after(turn))

    def _after(self, turn: Turn) -> None:
        if self.current is turn and turn.state is TurnState.DONE:
            # While the student reads or listens, the model reads the history the next turn
            # will start with (the last turn's course material has left it).
            self._tasks.spawn(self._conversation.prefill(), name="prefill")

    async def aclose(self) -> None:
        """Stop everything; what was delivered is stored before this returns."""
        self.drop_ahead()
        self.interrupt()
        await self._tasks.cancel_all()
        await self._conversation.drain()
