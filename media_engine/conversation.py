"""One call's conversation: the history the LLM sees, how each question is answered, and
what is stored.

`answer` turns one question into a stream of typed pieces (the plan and its sources, the
reply's words, a stage's trouble); the turn that asked (media_engine.turn) decides when to send
them and what to store. The history changes only through `commit_user` and `commit_reply`, which
append at once and write to the database in the order they were called, so a message that
interrupts the reply to another can never come before it, and never loses it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine
from functools import partial
from typing import Any, cast

from sqlalchemy.exc import SQLAlchemyError

from knowledge.errors import KnowledgeError
from knowledge.homophones import Homophones
from knowledge.index import Passage
from knowledge.prompt import UNAVAILABLE, after_lead_context, spoken_from_notes
from knowledge.retriever import Retrieval, Retriever, same_question
from knowledge.vocabulary import as_list
from media_engine.answering import (
    Plan,
    UnknownWords,
    opening,
    plan,
    search_query,
    system_message,
    vocabulary_of,
)
from media_engine.chunking import first_chunk, word_pieces
from media_engine.errors import StageError
from media_engine.fact_guard import FactGuard, at_most_sentences, guarded
from media_engine.llm.base import LLM, ChatMessage, GenerationOptions
from media_engine.no_answer import beyond_material, checked, unless_empty
from media_engine.reply import ModelAsked, Planned, Reply, ReplyPiece, SentenceSaid, Trouble, Words
from media_engine.store import TurnStore
from media_engine.tutor import TutorProfile

log = logging.getLogger(__name__)

Send = Callable[[str], None]
Prepare = Callable[[str], Awaitable[None]]
"""Makes the audio of a reply's likely first chunk ahead (the voice pipeline's)."""

# Turns kept in the prompt: enough for follow-up questions, small enough for a 0.5B model's
# context and for a fast first token.
HISTORY_MESSAGES = 12
# The oldest messages leave the prompt this many at a time. Dropping one turn per turn would
# change the prompt's start every turn, and the model would read all of it again each time;
# this way it is read again once every few turns.
HISTORY_DROP = 6
# A spoken answer is short: two or three sentences, then the student's turn again.
MAX_SENTENCES = 3


class Conversation:
    """Keeps the history, answers questions as streams of pieces, and stores the turns."""

    def __init__(
        self,
        *,
        session_id: str,
        tutor: TutorProfile,
        llm: LLM,
        store: TurnStore,
        options: GenerationOptions,
        retriever: Retriever | None = None,
        unknown: UnknownWords | None = None,
    ) -> None:
        self.session_id = session_id
        self.tutor = tutor
        self._llm = llm
        self._store = store
        self._options = options
        self._history: list[ChatMessage] = []
        # Course material: `retriever` searches the tutor's knowledge base (none: no grounding).
        self._retriever = retriever
        self._prefetched: Retrieval | None = None
        self._writes: set[asyncio.Task[None]] = set()
        self._last_write: asyncio.Task[None] | None = None
        # A dictionary look-up: a word none knows is asked about, not explained.
        self._unknown = unknown

    def _prompt(self, history: list[ChatMessage], context: str | None) -> list[ChatMessage]:
        prompt = system_message(self.tutor, grounded=self._retriever is not None)
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

    async def subject_terms(self) -> tuple[str, Homophones | None]:
        """The course's subject terms as a hint for the speech recogniser, written as a list
        (the form Whisper copies best), and in Chinese its words by their sound, to put right
        what it writes as a homophone; ("", None) without course material or when unreadable.
        """
        kb_id, language = self.tutor.kb_id, self.tutor.language
        if self._retriever is None or kb_id is None:
            return "", None
        try:
            words = await self._retriever.vocabulary(kb_id, language)
            sounds = await self._retriever.homophones(kb_id) if language == "zh" else None
        except (KnowledgeError, SQLAlchemyError, OSError) as exc:
            log.warning("session %s: no subject terms: %s", self.session_id, type(exc).__name__)
            return "", None
        return as_list(words, language), sounds

    async def prefetch(
        self, text: str, prepare: Prepare | None = None, *, read: bool = True
    ) -> None:
        """Prepare the reply to `text`, a stable partial transcript, before the turn ends.

        The voice pipeline calls this, in a task it owns, once the partial transcript has
        settled. The course material for it is searched; the first chunk of the words the
        engine will open the reply with (the notes' sentence, its own answer) is handed to
        `prepare`, which makes its audio; then the model reads the prompt the turn will most
        likely have (history, material, these words), so when the student stops only the words
        that changed are left to read. When the final transcript asks the same thing (80% of
        its terms in common), the reply reuses this search and its material word for word, so
        the prompt matches what was read. The latest call wins. Without `read`, the model
        reads nothing (the words may still change).
        """
        if not text.strip():
            return
        relevant: list[Passage] | None = None
        kb_id = self.tutor.kb_id
        if self._retriever is not None and kb_id is not None:
            try:
                found = await self._retriever.search(kb_id, search_query(text, self._history))
            except (KnowledgeError, SQLAlchemyError, OSError) as exc:
                # The reply searches again and reports a failure there.
                log.warning("session %s: prefetch failed: %s", self.session_id, type(exc).__name__)
                return
            self._prefetched = found
            relevant = found.relevant
        ahead = plan(text, self.tutor, relevant=relevant)
        lead = None if ahead.said is not None else self._opening(ahead, text, self._history)
        log.debug("prefetch %r: %s, opening %s, read %s", text, ahead.route, lead is not None, read)
        if prepare is not None:
            said = ahead.said
            chunk = first_chunk(said, whole=True) if said else first_chunk(lead or "", whole=False)
            if chunk:
                await prepare(chunk)
        if ahead.said is not None or not read:
            return  # the engine will answer this itself: no prompt to read
        if lead is not None and ahead.route == "material":
            return  # nor a spoken answer from the notes (prefetch is for spoken turns)
        await self._llm.prefill(self._reply_prompt(ahead, text, self._history, lead))

    def _opening(self, decided: Plan, question: str, history: list[ChatMessage]) -> str | None:
        said = " ".join(m["content"] for m in history if m["role"] == "assistant")
        return opening(decided, question, self.tutor.language, said)

    def _reply_prompt(
        self, decided: Plan, question: str, history: list[ChatMessage], lead: str | None
    ) -> list[ChatMessage]:
        """The model's prompt for the reply to `question`; with `lead`, the reply's start the
        engine says itself, which the model goes on from."""
        context = decided.context
        if lead is not None and decided.route == "material":
            context = after_lead_context(decided.passages, lead)
        draft: list[ChatMessage] = [*history, {"role": "user", "content": question}]
        prompt = self._prompt(draft, context)
        if lead is not None:
            prompt.append({"role": "assistant", "content": lead})
        return prompt

    def asked_question(self) -> bool:
        """Whether the tutor's last words (what the student heard) asked a question."""
        if not self._history or self._history[-1]["role"] != "assistant":
            return False
        return self._history[-1]["content"].rstrip(" \"'”’)）").endswith(("?", "？"))

    def history(self) -> list[ChatMessage]:
        """The conversation so far (a copy)."""
        return list(self._history)

    async def answer(
        self, question: str, history: list[ChatMessage], *, spoken: bool = False
    ) -> AsyncGenerator[ReplyPiece, None]:
        """Answer `question`, the student's message after `history` (see media_engine.
        answering): first `Planned` (its sources), then the reply's `Words`, capped at
        MAX_SENTENCES and checked against the material they draw on. Nothing is sent or stored
        here: a speculative answer the student talks over is simply dropped. A `spoken` reply
        that opens with the notes' own sentence goes on with the notes' next one, not with
        the model (knowledge.prompt.spoken_from_notes)."""
        decided, found, trouble = await self._plan(question, history)
        if trouble is not None:
            yield Trouble(trouble)
        yield Planned(
            decided.route,
            passages=found.relevant if found else [],
            retrieval_ms=found.elapsed_ms if found else None,
        )
        pieces: AsyncIterator[str]
        generated: AsyncGenerator[str, None] | None = None
        lead = None if decided.said is not None else self._opening(decided, question, history)
        if decided.said is not None:
            self._llm.stop_reading_ahead()  # no model in this answer: its cores are for speech
            pieces = _words(decided.said)
        elif spoken and lead is not None and decided.route == "material":
            self._llm.stop_reading_ahead()
            # Sentence by sentence, each chunked as when its audio was made ahead.
            joiner = "" if self.tutor.language == "zh" else " "
            for n, sentence in enumerate(spoken_from_notes(decided.passages, lead)):
                async for piece in _words(sentence if n == 0 else joiner + sentence):
                    yield Words(piece)
                yield SentenceSaid()
            return
        else:
            prompt = self._reply_prompt(decided, question, history, lead)
            if lead is not None:
                # The material's answer opens the reply at once, spoken while the model reads
                # the prompt; the model goes on from it (an explanation, a question back).
                # Its first words are synthesized first, with both cores; the model is asked
                # as soon as they are, and reads while the rest of the opening is made.
                self._llm.stop_reading_ahead()
                async for piece in _words(lead):
                    yield Words(piece, opening=True)
                yield ModelAsked()
            # Every backend's stream is an async generator: it can be closed early.
            generated = cast(AsyncGenerator[str, None], self._llm.stream(prompt, self._options))
            pieces = at_most_sentences(generated, MAX_SENTENCES - (lead is not None))
        if decided.passages:
            pieces = guarded(pieces, self._guard(decided, question, history))
        if (
            generated is not None
            and lead is None
            and decided.route == "material"
            and checked(question)
        ):

            def generate(other: Plan, start: str) -> AsyncGenerator[str, None]:
                prompt = self._reply_prompt(other, question, history, start)
                return cast(AsyncGenerator[str, None], self._llm.stream(prompt, self._options))

            instead = partial(beyond_material, self.tutor, generate, MAX_SENTENCES - 1)
            pieces = unless_empty(pieces, question, instead)
        try:
            async for piece in pieces:
                yield Words(piece)
        except StageError as exc:
            log.warning("session %s: %s failed: %s", self.session_id, self._llm.name, exc.code)
            yield Trouble(exc)
        finally:
            # An answer stopped early (a cap, barge-in, a dropped speculation) stops the model
            # now: left to the garbage collector, its thread would wait for a reader for good.
            if generated is not None:
                await generated.aclose()

    async def _plan(
        self, question: str, history: list[ChatMessage]
    ) -> tuple[Plan, Retrieval | None, StageError | None]:
        """Search the course material for `question` (a prefetched search of the same question
        is reused) and decide how to answer it."""
        kb_id = self.tutor.kb_id
        found: Retrieval | None = None
        vocabulary: set[str] = set()
        if self._retriever is not None and kb_id is not None:
            found, self._prefetched = self._prefetched, None
            try:
                query = search_query(question, history)
                if found is None or not same_question(found.query, query):
                    found = await self._retriever.search(kb_id, query)
            except (KnowledgeError, SQLAlchemyError, OSError) as exc:
                log.warning("session %s: retrieval failed: %s", self.session_id, type(exc).__name__)
                failed = StageError(
                    "the course material could not be searched",
                    code="retrieval_failed",
                    retryable=True,
                )
                return Plan("ungrounded", context=UNAVAILABLE), None, failed
            # The material is focused on the question it was found for: a prefetched search
            # keeps the words of its partial transcript, so the prompt matches what the model
            # read ahead.
            question = found.query
            vocabulary = vocabulary_of(p.text for p in found.candidates)
        earlier = " ".join(m["content"] for m in history if m["role"] == "user")
        decided = plan(
            question,
            self.tutor,
            relevant=found.relevant if found else None,
            unknown=self._unknown,
            vocabulary=vocabulary,
            said_before=earlier,
        )
        return decided, found, None

    def _guard(self, decided: Plan, question: str, history: list[ChatMessage]) -> FactGuard:
        said_before = " ".join([*(m["content"] for m in history), question])
        return FactGuard(
            decided.passages,
            decided.question,
            known_text=f"{self.tutor.name} {self.tutor.subject} {said_before}",
        )

    # --- what is kept ------------------------------------------------------------------------

    def commit_user(
        self, *, turn_id: str, text: str, source: str, timings: dict[str, float] | None = None
    ) -> asyncio.Task[None]:
        """The student's message joins the history now and is stored after every earlier
        write; the returned task (which nothing cancels but `close`) is that write."""
        self._history.append({"role": "user", "content": text})
        return self._write(
            self._store.add_turn(
                session_id=self.session_id,
                turn_id=turn_id,
                role="user",
                text=text,
                source=source,
                timings=timings,
            )
        )

    def commit_reply(self, reply: Reply, *, interrupted: bool) -> asyncio.Future[None]:
        """The tutor's reply as it was delivered (`reply.text`: what the student heard or was
        shown) joins the history now and is stored after every earlier write."""
        text = reply.text.strip()
        if not text:
            return self._write(_nothing())
        self._history.append({"role": "assistant", "content": text})
        return self._write(
            self._store.add_turn(
                session_id=self.session_id,
                turn_id=reply.turn_id,
                role="assistant",
                text=text,
                source="generated",
                interrupted=interrupted,
                timings=reply.timings(),
            )
        )

    def record_sources(self, turn_id: str, passages: list[Passage]) -> None:
        """Remember which passages a committed turn's reply was given."""
        if self._retriever is not None and passages:
            self._write(self._retriever.record(self.session_id, turn_id, passages))

    def _write(self, write: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        previous = self._last_write
        task = asyncio.create_task(_after(previous, write, self.session_id))
        self._last_write = task
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        return task

    async def drain(self) -> None:
        """Wait until everything committed is stored (a call's last step before it ends)."""
        while self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)


async def _nothing() -> None:
    """A write with nothing to write: done once the writes before it are."""


async def _after(
    previous: asyncio.Task[None] | None, write: Coroutine[Any, Any, None], session_id: str
) -> None:
    """`write`, once `previous` is done, whatever became of it."""
    if previous is not None:
        await asyncio.gather(previous, return_exceptions=True)
    try:
        await write
    except (SQLAlchemyError, OSError):
        log.exception("session %s: a turn could not be stored", session_id)
        raise


def _history_start(count: int) -> int:
    """Where the prompt's history starts: at most HISTORY_MESSAGES kept, the start moving on
    HISTORY_DROP messages at a time."""
    if count <= HISTORY_MESSAGES:
        return 0
    return -(-(count - HISTORY_MESSAGES) // HISTORY_DROP) * HISTORY_DROP


async def _words(text: str) -> AsyncIterator[str]:
    """A fixed reply, in pieces like a generated one, so it is shown and spoken the same way."""
    for piece in word_pieces(text):
        yield piece
