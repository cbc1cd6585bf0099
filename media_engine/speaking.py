"""Speaking a reply: LLM pieces → chunks → TTS → the outbound track, and the turn's clock.

Generation and synthesis run side by side, so later chunks are synthesized while the first
plays. A `TurnClock` notes when each stage of a turn finished, for the stored timings and the
`metrics` event (see README, "Metrics").
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from media_engine.audio import OutboundAudio, SpeechChunk
from media_engine.chunking import SpeechChunker
from media_engine.conversation import Conversation, Reply, Send
from media_engine.errors import StageError
from media_engine.protocol import event
from media_engine.tts import TTS, sayable
from media_engine.turn_detector import EndReason
from media_engine.tutor import TutorProfile, join_words

log = logging.getLogger(__name__)

# Chunks queued ahead of the one being synthesized, at most: enough that playback does not wait
# for synthesis (Kokoro runs about as fast as real time on 2 cores), few enough that a barge-in
# wastes little shared CPU.
READ_AHEAD = 3


def _ms(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round(max(0.0, end - start) * 1000, 1)


@dataclass(kw_only=True)
class TurnClock:
    """When each stage of one turn finished (time.monotonic()), for timings and metrics."""

    turn_id: str
    reference: float
    """End of speech for a spoken turn (when the silence began), arrival for a typed one."""
    spoken_turn: bool
    speech_s: float = 0.0
    endpoint: EndReason | None = None
    """What ended a spoken turn."""
    decided_at: float | None = None
    transcript_at: float | None = None
    asr_compute_s: float | None = None
    llm_started_at: float | None = None
    first_token_at: float | None = None
    first_chunk_at: float | None = None
    first_audio_at: float | None = None
    first_sent_at: float | None = None

    @classmethod
    def spoken(
        cls, turn_id: str, *, end_of_speech: float, speech_s: float, endpoint: EndReason
    ) -> TurnClock:
        return cls(
            turn_id=turn_id,
            reference=end_of_speech,
            spoken_turn=True,
            speech_s=speech_s,
            endpoint=endpoint,
            decided_at=time.monotonic(),
        )

    @classmethod
    def typed(cls, turn_id: str) -> TurnClock:
        return cls(turn_id=turn_id, reference=time.monotonic(), spoken_turn=False)

    def transcribed(self, compute_s: float) -> None:
        self.transcript_at = time.monotonic()
        self.asr_compute_s = compute_s

    def user_timings(self) -> dict[str, float]:
        """Stored with the student's spoken turn."""
        timings = {
            "utterance_ms": round(self.speech_s * 1000, 1),
            "endpoint_ms": _ms(self.reference, self.decided_at),
            "asr_final_ms": _ms(self.decided_at, self.transcript_at),
            "asr_compute_ms": _ms(0.0, self.asr_compute_s),
        }
        return {k: v for k, v in timings.items() if v is not None}

    def metrics(self) -> dict[str, float | str]:
        """The metrics event's fields (see README, "Metrics")."""
        now_mono, now_epoch = time.monotonic(), time.time()
        fields: dict[str, float | str | None] = {
            "llm_first_token_ms": _ms(self.llm_started_at, self.first_token_at),
            "tts_first_audio_ms": _ms(self.first_chunk_at, self.first_audio_at),
            "first_audio_sent_ms": _ms(self.first_audio_at, self.first_sent_at),
            "total_ms": _ms(self.reference, self.first_sent_at),
        }
        if self.first_sent_at is not None:
            fields["first_audio_sent_ms_epoch"] = round(
                (now_epoch - (now_mono - self.first_sent_at)) * 1000
            )
        if self.spoken_turn:
            fields["end_of_speech_ms_epoch"] = round(
                (now_epoch - (now_mono - self.reference)) * 1000
            )
            fields.update(self.user_timings())
            fields["endpoint"] = self.endpoint
        return {k: v for k, v in fields.items() if v is not None}


class SpokenReply:
    """One reply spoken aloud: LLM pieces → chunks → TTS → the outbound track.

    Generation and synthesis run side by side, so later chunks are synthesized while the first
    plays. Cancelling `run` is barge-in: queued audio is dropped at once and only what was
    heard is stored, marked interrupted.
    """

    def __init__(
        self,
        *,
        turn_id: str,
        conversation: Conversation,
        tts: TTS,
        voice: str,
        tutor: TutorProfile,
        outbound: OutboundAudio,
        clock: TurnClock,
        send: Send,
    ) -> None:
        self.turn_id = turn_id
        self._conversation = conversation
        self._tts = tts
        # Chosen once, for the whole reply: a voice never changes mid-sentence.
        self._voice = voice
        self._tutor = tutor
        self._outbound = outbound
        self._clock = clock
        self._send = send
        self._record = Reply(turn_id=turn_id)
        self._chunker = SpeechChunker()
        self._texts: asyncio.Queue[str | None] = asyncio.Queue()
        self._first_audio = asyncio.Event()
        self.chunks: list[SpeechChunk] = []

    async def run(self) -> None:
        try:
            failure = await self._produce()
            if self.chunks:
                await self.chunks[-1].finished.wait()
        except asyncio.CancelledError:
            self._outbound.clear(self.chunks)
            self._send(event("tts", state="interrupted", turn_id=self.turn_id))
            self._send(event("metrics", turn_id=self.turn_id, **self._clock.metrics()))
            await asyncio.shield(self._store(interrupted=True))
            raise
        if failure is not None:
            log.warning("turn %s: %s failed: %s", self.turn_id, self._tts.name, failure.code)
            self._send(
                event(
                    "error",
                    code=failure.code,
                    content=str(failure),
                    turn_id=self.turn_id,
                    retryable=failure.retryable,
                )
            )
        if self._clock.first_sent_at is not None:
            self._send(event("tts", state="end", turn_id=self.turn_id))
            self._send(event("metrics", turn_id=self.turn_id, **self._clock.metrics()))
        # Shielded: a hang-up right after the last word must not lose the stored reply.
        await asyncio.shield(self._store(interrupted=failure is not None))

    async def _produce(self) -> StageError | None:
        """Generate and synthesize the whole reply; a TTS failure stops both and is returned."""
        failure: StageError | None = None
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._generate())
                group.create_task(self._synthesize())
        except* StageError as errors:
            first = errors.exceptions[0]
            failure = first if isinstance(first, StageError) else StageError(str(first))
        return failure

    async def _generate(self) -> None:
        self._clock.llm_started_at = time.monotonic()
        # An LLM failure is reported by the conversation; what was generated is still spoken.
        reply = await self._conversation.reply(self.turn_id, on_piece=self._on_piece, store=False)
        self._record.finished_at = reply.finished_at
        rest = self._chunker.flush()
        if rest:
            self._texts.put_nowait(rest)
        self._texts.put_nowait(None)

    async def _on_piece(self, piece: str) -> None:
        if self._record.first_token_at is None:
            self._record.first_token_at = self._clock.first_token_at = time.monotonic()
        self._record.text += piece
        for chunk in self._chunker.push(piece):
            self._texts.put_nowait(chunk)
        if self._clock.first_chunk_at is not None and not self._first_audio.is_set():
            # Nothing is heard until the first chunk is synthesized: hold generation (the
            # model stops a few pieces ahead) so the synthesis has both cores to itself.
            await self._first_audio.wait()

    async def _synthesize(self) -> None:
        while (text := await self._texts.get()) is not None:
            if not sayable(text):
                continue
            first = self._clock.first_chunk_at is None
            if first:
                self._clock.first_chunk_at = time.monotonic()
            elif len(self.chunks) >= READ_AHEAD:
                # Enough is queued: wait rather than spend shared CPU on audio a barge-in
                # may throw away.
                await self.chunks[-READ_AHEAD].finished.wait()
            speech = await self._tts.synthesize(
                text, voice=self._voice, language=self._tutor.language, first=first
            )
            if self._clock.first_audio_at is None:
                self._clock.first_audio_at = time.monotonic()
            self._first_audio.set()
            chunk = SpeechChunk(pcm=speech.pcm, text=text, on_start=self._chunk_started)
            self.chunks.append(chunk)
            self._outbound.play(chunk)

    def _chunk_started(self, chunk: SpeechChunk) -> None:
        if self._clock.first_sent_at is None:
            self._clock.first_sent_at = chunk.started_at
            self._send(event("tts", state="start", turn_id=self.turn_id))

    def played_text(self) -> str:
        """What the student heard, cut at the word where playback stopped."""
        return join_words(
            [c.played_text() for c in self.chunks if c.played > 0], self._tutor.language
        )

    async def _store(self, *, interrupted: bool) -> None:
        self._record.started_at = self._clock.llm_started_at or self._record.started_at
        await self._conversation.finish(
            self._record, interrupted=interrupted, text=self.played_text()
        )
