"""One call's conversation: the history sent to the LLM and the streaming of each reply."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from knowledge.errors import KnowledgeError
from knowledge.index import Passage
from knowledge.prompt import RULES, UNAVAILABLE
from knowledge.retriever import Retrieval, Retriever, same_question
from media_engine.answering import KnownWord, Plan, follows_up, not_covered_rules, plan
from media_engine.errors import StageError
from media_engine.fact_guard import FactGuard, at_most_sentences, guarded
from media_engine.llm.base import LLM, ChatMessage, GenerationOptions
from media_engine.protocol import event
from media_engine.store import TurnStore
from media_engine.tutor import TutorProfile

log = logging.getLogger(__name__)

Send = Callable[[str], None]
PieceSink = Callable[[str], Awaitable[None]]

# Turns kept in the prompt: enough for follow-up questions, small enough for a 0.5B model's
# context and for a fast first token.
HISTORY_MESSAGES = 12
# The oldest messages leave the prompt this many at a time. Dropping one turn per turn would
# change the prompt's start every turn, and the model would read all of it again each time;
# this way it is read again once every few turns.
HISTORY_DROP = 6
# A spoken answer is short: two or three sentences, then the student's turn again.
MAX_SENTENCES = 3


@dataclass
class Reply:
    """The tutor's reply as it was produced; `text` is what was generated so far."""

    turn_id: str
    text: str = ""
    started_at: float = field(default_factory=time.monotonic)
    first_token_at: float | None = None
    finished_at: float | None = None
    route: str = ""
    """How the question was answered (media_engine.answering.Plan.route)."""

    def timings(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.first_token_at is not None:
            out["llm_first_token_ms"] = round((self.first_token_at - self.started_at) * 1000, 1)
        if self.finished_at is not None:
            out["llm_total_ms"] = round((self.finished_at - self.started_at) * 1000, 1)
        return out


class Conversation:
    """Keeps the history and turns one user message into one streamed reply."""

    def __init__(
        self,
        *,
        session_id: str,
        tutor: TutorProfile,
        llm: LLM,
        store: TurnStore,
        send: Send,
        options: GenerationOptions,
        retriever: Retriever | None = None,
        known: KnownWord | None = None,
    ) -> None:
        self.session_id = session_id
        self.tutor = tutor
        self._llm = llm
        self._store = store
        self._send = send
        self._options = options
        self._history: list[ChatMessage] = []
        # Course material: `retriever` searches the tutor's knowledge base (none: no grounding).
        self._retriever = retriever
        self._prefetched: Retrieval | None = None
        self._context: str | None = None
        # A dictionary look-up: a word none knows is asked about, not explained.
        self._known = known

    def messages(self) -> list[ChatMessage]:
        """The prompt: a system message that stays the same all call long, the history, and
        this turn's course material just before the student's last message.

        Keeping what changes at the end lets the model reuse its cache of everything before it,
        which is most of the time to the first token on a CPU.
        """
        return self._prompt(self._history, self._context)

    def _prompt(self, history: list[ChatMessage], context: str | None) -> list[ChatMessage]:
        prompt = self.tutor.system_prompt()
        if self._retriever is not None and self.tutor.kb_id is not None:
            prompt = f"{prompt}\n\n{RULES}"
            if self.tutor.answer_policy == "course_first":
                prompt = f"{prompt}\n{not_covered_rules(self.tutor)}"
        history = history[_history_start(len(history)) :]
        if context and history and history[-1]["role"] == "user":
            last = history[-1]["content"]
            history = [
                *history[:-1],
                {"role": "user", "content": f"{context}\n\n{last}"},
            ]
        return [{"role": "system", "content": prompt}, *history]

    async def prefill(self) -> None:
        """Let the model read the prompt so far (the system prompt and the history) while the
        call is idle: when it connects, and after each reply, before the next question."""
        # Cut where the next turn's prompt will be cut, with its message added.
        upcoming = [*self._history, ChatMessage(role="user", content="")]
        await self._llm.prefill(self._prompt(upcoming, None)[:-1])

    async def prefetch(self, text: str) -> None:
        """Prepare the reply to `text`, a stable partial transcript, before the turn ends.

        The voice pipeline calls this, in a task it owns, once the partial transcript has
        settled. The course material for it is searched, and the model reads the prompt the
        turn will most likely have (history, material, these words), so when the student
        stops only the words that changed are left to read. When the final transcript asks
        the same thing (80% of its terms in common), the reply reuses this search and its
        material word for word, so the prompt matches what was read. The latest call wins.
        """
        if not text.strip():
            return
        relevant: list[Passage] | None = None
        kb_id = self.tutor.kb_id
        if self._retriever is not None and kb_id is not None:
            try:
                found = await self._retriever.search(kb_id, self._query(text, pending=True))
            except (KnowledgeError, SQLAlchemyError, OSError) as exc:
                # The reply searches again and reports a failure there.
                log.warning("session %s: prefetch failed: %s", self.session_id, type(exc).__name__)
                return
            self._prefetched = found
            relevant = found.relevant
        ahead = plan(text, self.tutor, relevant=relevant)
        if ahead.said is not None:
            return  # the engine will answer this itself: no prompt to read
        draft: list[ChatMessage] = [*self._history, {"role": "user", "content": text}]
        await self._llm.prefill(self._prompt(draft, ahead.context))

    def _query(self, question: str, *, pending: bool) -> str:
        """What to search the material for: a follow-up ("and why?", "what do they give
        off?") is searched together with the student's previous question, which it refers to.
        `pending`: the question is not in the history yet (a partial transcript)."""
        asked = [m["content"] for m in self._history if m["role"] == "user"]
        earlier = asked if pending else asked[:-1]
        if earlier and follows_up(question):
            return f"{earlier[-1]} {question}"
        return question

    async def _ground(self, turn_id: str) -> Plan:
        """Decide how to answer the last user message (see media_engine.answering): search the
        course material for it, send its sources, and put what the model needs in the prompt.
        """
        self._context = None
        question = next((m["content"] for m in reversed(self._history) if m["role"] == "user"), "")
        kb_id = self.tutor.kb_id
        relevant: list[Passage] | None = None
        vocabulary: set[str] = set()
        if self._retriever is not None and kb_id is not None:
            found, self._prefetched = self._prefetched, None
            try:
                query = self._query(question, pending=False)
                if found is None or not same_question(found.query, query):
                    found = await self._retriever.search(kb_id, query)
                await self._retriever.record(self.session_id, turn_id, found.relevant)
            except (KnowledgeError, SQLAlchemyError, OSError) as exc:
                log.warning(
                    "session %s turn %s: retrieval failed: %s",
                    self.session_id,
                    turn_id,
                    type(exc).__name__,
                )
                self._send(
                    event(
                        "error",
                        code="retrieval_failed",
                        turn_id=turn_id,
                        retryable=True,
                        content="the course material could not be searched",
                    )
                )
                self._context = UNAVAILABLE
                return Plan("ungrounded", context=UNAVAILABLE)
            self._send(
                event(
                    "sources",
                    turn_id=turn_id,
                    items=[p.item() for p in found.relevant],
                    retrieval_ms=found.elapsed_ms,
                )
            )
            # The material is focused on the question it was found for: a prefetched search
            # keeps the words of its partial transcript, so the prompt matches what the model
            # read ahead.
            question = found.query
            relevant = found.relevant
            vocabulary = {w.lower() for p in found.candidates for w in p.text.split()}
        earlier = " ".join(m["content"] for m in self._history[:-1] if m["role"] == "user")
        decided = plan(
            question,
            self.tutor,
            relevant=relevant,
            known=self._known,
            vocabulary=vocabulary,
            said_before=earlier,
        )
        self._context = decided.context
        return decided

    def _guard(self, decided: Plan) -> FactGuard:
        said_before = " ".join(m["content"] for m in self._history)
        return FactGuard(
            decided.passages,
            decided.question,
            known_text=f"{self.tutor.name} {self.tutor.subject} {said_before}",
        )

    async def add_user_turn(
        self, *, turn_id: str, text: str, source: str, timings: dict[str, float] | None = None
    ) -> None:
        self._history.append({"role": "user", "content": text})
        await self._store.add_turn(
            session_id=self.session_id,
            turn_id=turn_id,
            role="user",
            text=text,
            source=source,
            timings=timings,
        )

    async def reply(
        self, turn_id: str, *, on_piece: PieceSink | None = None, store: bool = True
    ) -> Reply:
        """Stream a reply to the history: text deltas out, then the final text, then storage.

        Cancelling it (barge-in, a new message, hang-up) stores what was generated so far,
        marked interrupted. A stage failure becomes an error event; the call goes on.
        With `store=False` (a spoken reply, which ends long after generation) nothing is
        stored: the caller stores what was actually played with `finish`.
        """
        reply = Reply(turn_id=turn_id)
        decided = await self._ground(turn_id)
        reply.route = decided.route
        pieces: AsyncIterator[str]
        if decided.said is not None:
            pieces = _words(decided.said)
        else:
            pieces = at_most_sentences(
                self._llm.stream(self.messages(), self._options), MAX_SENTENCES
            )
        if decided.passages:
            pieces = guarded(pieces, self._guard(decided))
        try:
            async for piece in pieces:
                if reply.first_token_at is None:
                    reply.first_token_at = time.monotonic()
                reply.text += piece
                self._send(event("text_delta", role="assistant", content=piece, turn_id=turn_id))
                if on_piece is not None:
                    await on_piece(piece)
        except asyncio.CancelledError:
            if store:
                await asyncio.shield(self._finish(reply, interrupted=True))
            raise
        except StageError as exc:
            log.warning(
                "session %s turn %s: %s failed: %s",
                self.session_id,
                turn_id,
                self._llm.name,
                exc.code,
            )
            self._send(
                event(
                    "error",
                    code=exc.code,
                    content=str(exc),
                    turn_id=turn_id,
                    retryable=exc.retryable,
                )
            )
            return reply
        reply.finished_at = time.monotonic()
        if store:
            # Stored before the final event: a client that has the whole reply can find it kept.
            await self._finish(reply, interrupted=False)
        self._send(
            event(
                "text",
                role="assistant",
                content=reply.text.strip(),
                turn_id=turn_id,
                route=reply.route,
            )
        )
        return reply

    async def finish(self, reply: Reply, *, interrupted: bool, text: str) -> None:
        """Store a reply as it was delivered: `text` is what the student actually heard."""
        await self._finish(reply, interrupted=interrupted, text=text)

    async def _finish(self, reply: Reply, *, interrupted: bool, text: str | None = None) -> None:
        spoken = (reply.text if text is None else text).strip()
        if not spoken:
            return
        self._history.append({"role": "assistant", "content": spoken})
        await self._store.add_turn(
            session_id=self.session_id,
            turn_id=reply.turn_id,
            role="assistant",
            text=spoken,
            source="generated",
            interrupted=interrupted,
            timings=reply.timings(),
        )


def _history_start(count: int) -> int:
    """Where the prompt's history starts: at most HISTORY_MESSAGES kept, the start moving on
    HISTORY_DROP messages at a time."""
    if count <= HISTORY_MESSAGES:
        return 0
    return -(-(count - HISTORY_MESSAGES) // HISTORY_DROP) * HISTORY_DROP


async def _words(text: str) -> AsyncIterator[str]:
    """A fixed reply, in pieces like a generated one, so it is shown and spoken the same way."""
    for piece in re.findall(r"\S+\s*|\s+", text) if " " in text else re.findall(r".{1,6}", text):
        yield piece
