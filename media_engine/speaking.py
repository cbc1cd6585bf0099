"""Speaking a reply: its words → chunks → TTS → the outbound track, and the turn's clock.

The turn feeds the reply's words in as they are generated, so later chunks are synthesized
while the first plays. A `TurnClock` notes when each stage of a turn finished, for the stored
timings and the `metrics` event (see README, "Metrics").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from media_engine.audio import OUT_RATE, OutboundAudio, SpeechChunk
from media_engine.chunking import split_to_fit
from media_engine.known_sentences import HoldingChunker
from media_engine.tts import TTS, sayable
from media_engine.turn_detector import EndReason
from media_engine.tutor import join_words

log = logging.getLogger(__name__)

# Chunks queued ahead of the one being synthesized, at most: enough that playback does not wait
# for synthesis (Kokoro runs about as fast as real time on 2 cores), few enough that a barge-in
# wastes little shared CPU.
READ_AHEAD = 3
# Synthesized audio not yet played, below which generation waits for synthesis: the model
# writes text several times faster than it is spoken, so holding it costs the reply nothing,
# while synthesis running short of the cores is heard as silence mid-reply.
LEAD_LOW_S = 2.0
# A wait between two chunks longer than this means synthesis fell behind playback.
GAP_LOG_S = 0.15
# A chunk is cut if its synthesis, as the last chunks' costs predict it, would take more than
# this share of the audio still ahead of it: the estimate is rough, and the cores are shared.
FIT_SHARE = 0.85


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
    model_asked_at: float | None = None
    """When the model was asked, after the opening the engine said itself (none: no opening)."""
    model_first_token_at: float | None = None
    first_chunk_at: float | None = None
    first_audio_at: float | None = None
    first_sent_at: float | None = None
    first_chunk_ahead: bool = False
    """The first chunk's audio was made before it was asked for (while the student spoke)."""
    longest_gap_s: float = 0.0
    """The longest wait for synthesis between two chunks of the reply (beyond their own
    pauses): playback ran out of audio."""
    gaps: int = 0
    """Waits of more than GAP_LOG_S between chunks."""
    speculated: bool = False
    """The reply was prepared at a pause, before the end of the turn was decided."""
    drops: int = 0
    """Answers prepared ahead for this utterance and thrown away (the student went on)."""

    @classmethod
    def spoken(
        cls,
        turn_id: str,
        *,
        end_of_speech: float,
        speech_s: float,
        endpoint: EndReason | None = None,
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

    def settle(self, ended: TurnClock) -> None:
        """This clock's turn was answered ahead, at a pause; `ended` is the clock of the
        utterance as it ended, which says when speech stopped and when the end was decided."""
        self.reference = ended.reference
        self.speech_s = ended.speech_s
        self.endpoint = ended.endpoint
        self.decided_at = ended.decided_at
        self.speculated = True

    def timeline(self) -> dict[str, float]:
        """When each stage ended, in ms after the end of speech (negative: before it, as for a
        reply prepared ahead at a pause), for a waterfall of the turn."""
        marks = {
            "decided": self.decided_at,
            "transcript": self.transcript_at,
            "llm_start": self.llm_started_at,
            "first_token": self.first_token_at,
            "model_asked": self.model_asked_at,
            "model_first_token": self.model_first_token_at,
            "first_chunk": self.first_chunk_at,
            "first_audio": self.first_audio_at,
            "first_sent": self.first_sent_at,
        }
        return {
            name: round((at - self.reference) * 1000, 1)
            for name, at in marks.items()
            if at is not None
        }

    def metrics(self) -> dict[str, Any]:
        """The metrics event's fields (see README, "Metrics")."""
        now_mono, now_epoch = time.monotonic(), time.time()
        fields: dict[str, Any] = {
            "llm_first_token_ms": _ms(self.llm_started_at, self.first_token_at),
            # After an opening the engine said itself: how long the model took to go on from
            # it (reading its prompt), which the opening's audio must cover.
            "model_first_token_ms": _ms(self.model_asked_at, self.model_first_token_at),
            "tts_first_audio_ms": _ms(self.first_chunk_at, self.first_audio_at),
            "first_audio_sent_ms": _ms(self.first_audio_at, self.first_sent_at),
            "total_ms": _ms(self.reference, self.first_sent_at),
        }
        if self.first_sent_at is not None:
            fields["first_chunk_ahead"] = self.first_chunk_ahead
            fields["longest_gap_ms"] = round(self.longest_gap_s * 1000, 1)
            fields["gaps"] = self.gaps
        if self.first_sent_at is not None:
            fields["first_audio_sent_ms_epoch"] = round(
                (now_epoch - (now_mono - self.first_sent_at)) * 1000
            )
        if self.spoken_turn:
            fields["timeline_ms"] = self.timeline()
            fields["end_of_speech_ms_epoch"] = round(
                (now_epoch - (now_mono - self.reference)) * 1000
            )
            fields.update(self.user_timings())
            fields["endpoint"] = self.endpoint
            fields["speculation"] = "committed" if self.speculated else "none"
            fields["speculation_drops"] = self.drops
        return {k: v for k, v in fields.items() if v is not None}


class Speaker:
    """Speaks one reply: `feed` its words as they come, `run` synthesizes and plays them.

    Nothing is played before `gate` is set: a speculative reply is synthesized while the turn
    is still being judged, and heard only once it is committed. `clear` is barge-in: queued
    audio is dropped at once and `played_text` tells what was heard. `on_sound(text, at_ms)` is
    told as each chunk's first frame is sent: its text and when it starts, in ms after the
    reply's first frame (0 for the first chunk), on the outbound track's clock.
    """

    def __init__(
        self,
        *,
        tts: TTS,
        voice: str,
        language: str,
        outbound: OutboundAudio,
        clock: TurnClock,
        gate: asyncio.Event,
        on_sound: Callable[[str, float], None],
    ) -> None:
        self._tts = tts
        # Chosen once, for the whole reply: a voice never changes mid-sentence.
        self._voice = voice
        self._language = language
        self._outbound = outbound
        self._clock = clock
        self._gate = gate
        self._on_sound = on_sound
        self._first_sample: int | None = None
        # Sentences of the notes the reply repeats are cut as their audio made ahead was.
        self._chunker = HoldingChunker(tts.known_sentences(voice, language))
        self._texts: asyncio.Queue[str | None] = asyncio.Queue()
        self._rest: str | None = None  # what is left of a chunk cut to fit the lead
        self._first_audio = asyncio.Event()
        self._synthesized = asyncio.Event()
        self._synthesizing = False
        self.chunks: list[SpeechChunk] = []

    @property
    def name(self) -> str:
        return self._tts.name

    def feed(self, words: str) -> None:
        self._queue(self._chunker.push(words))

    def _queue(self, chunks: list[str]) -> None:
        for chunk in chunks:
            log.debug("turn %s: chunk of %d characters written", self._clock.turn_id, len(chunk))
            self._texts.put_nowait(chunk)

    def end(self) -> None:
        """No more words: what the chunker holds is the last chunk."""
        self._queue(self._chunker.flush())
        self._texts.put_nowait(None)

    def opening_said(self) -> None:
        """The engine's own opening is all fed; the model goes on from it. Its first words
        are cut into a short chunk, as a reply's first are, so they are heard sooner after the
        opening."""
        self._queue(self._chunker.cut_short())

    def sentence_said(self) -> None:
        """A sentence the engine says itself is all fed: it is cut as its audio was cut when
        made ahead (media_engine.course_speech), and the next starts a chunk of its own."""
        self._queue(self._chunker.end_sentence())

    async def ready(self, *, hold: bool = True) -> None:
        """Wait while synthesis is what the student waits for: while the first chunk is being
        synthesized (nothing is heard until it is), and (`hold`) while less than LEAD_LOW_S of
        audio is left to play and text is waiting to be synthesized. Generation holds meanwhile
        (the model stops a few pieces ahead), so synthesis has the cores."""
        # A chunk handed over (or queued for the synthesizer) and nothing heard yet.
        fed = self._clock.first_chunk_at is not None or not self._texts.empty()
        if fed and not self._first_audio.is_set():
            await self._first_audio.wait()
        while hold and self._gate.is_set() and self._behind():
            self._synthesized.clear()
            await self._synthesized.wait()

    def lead_s(self) -> float:
        """Seconds of synthesized audio queued and not yet played."""
        return sum(len(c.pcm) - c.played for c in self.chunks if not c.finished.is_set()) / OUT_RATE

    def _behind(self) -> bool:
        waiting = self._synthesizing or self._rest is not None or not self._texts.empty()
        return waiting and self.lead_s() < LEAD_LOW_S

    async def run(self) -> None:
        """Synthesize and play every chunk fed, then wait until the last one is played.
        A TTS failure raises its StageError."""
        while (text := self._rest or await self._texts.get()) is not None:
            self._rest = None
            if not sayable(text):
                continue
            first = self._clock.first_chunk_at is None
            if first:
                self._clock.first_chunk_at = time.monotonic()
            else:
                if len(self.chunks) >= READ_AHEAD:
                    # Enough is queued: wait rather than spend shared CPU on audio a barge-in
                    # may throw away.
                    await self.chunks[-READ_AHEAD].finished.wait()
                text = self._fit_to_lead(text)
            self._synthesizing = True
            asked, lead = time.monotonic(), self.lead_s()
            try:
                speech = await self._tts.synthesize(
                    text,
                    voice=self._voice,
                    language=self._language,
                    first=first,
                    needed_in=self.lead_s(),
                )
            finally:
                # Generation must not wait on a failed synthesis.
                self._synthesizing = False
                self._first_audio.set()
                self._synthesized.set()
            log.debug(
                "turn %s: %d characters synthesized in %.0f ms (%.1f s of audio; %.1f s was left)",
                self._clock.turn_id,
                len(text),
                (time.monotonic() - asked) * 1000,
                len(speech.pcm) / OUT_RATE,
                lead,
            )
            if self._clock.first_audio_at is None:
                self._clock.first_audio_at = time.monotonic()
                self._clock.first_chunk_ahead = speech.ready_made
            await self._gate.wait()
            chunk = SpeechChunk(pcm=speech.pcm, text=text, on_start=self._chunk_started)
            self.chunks.append(chunk)
            self._outbound.play(chunk)
        await self.played()

    def _fit_to_lead(self, text: str) -> str:
        """`text`, or as much of it as can be made before the audio ahead of it has played
        (the rest comes next). Audio already made is never cut, nor is anything before the
        reply is heard (then nothing plays ahead of it) or before the costs are known."""
        lead = self.lead_s()
        if lead <= 0 or not self._gate.is_set():
            return text
        tts, voice, language = self._tts, self._voice, self._language
        costs = tts.costs(language)
        if costs is None or costs(text) <= FIT_SHARE * lead:
            return text
        if tts.ready(text, voice=voice, language=language):
            return text
        cut = split_to_fit(text, lambda head: costs(head) <= FIT_SHARE * lead)
        if cut is None:
            return text
        head, self._rest = cut
        log.debug(
            "turn %s: chunk cut at %d of %d characters to fit %.1f s of audio ahead",
            self._clock.turn_id,
            len(head),
            len(text),
            lead,
        )
        return head

    async def played(self) -> None:
        """Wait until every chunk queued so far is played (or dropped)."""
        if self.chunks:
            await self.chunks[-1].finished.wait()

    def _chunk_started(self, chunk: SpeechChunk) -> None:
        if self._clock.first_sent_at is None:
            self._clock.first_sent_at = chunk.started_at
        start = chunk.start_sample or 0
        if self._first_sample is None:
            self._first_sample = start
        self._on_sound(chunk.text, round((start - self._first_sample) * 1000 / OUT_RATE, 1))
        index = self.chunks.index(chunk)
        before = self.chunks[index - 1] if index > 0 else None
        if (
            before is not None
            and before.start_sample is not None
            and chunk.start_sample is not None
            and before.played >= len(before.pcm)
        ):
            self._gap((chunk.start_sample - before.start_sample - len(before.pcm)) / OUT_RATE)

    def _gap(self, seconds: float) -> None:
        """Playback waited `seconds` for this chunk (a frame's rounding is no wait)."""
        clock = self._clock
        clock.longest_gap_s = max(clock.longest_gap_s, seconds)
        if seconds > GAP_LOG_S:
            clock.gaps += 1
            log.info(
                "turn %s: synthesis fell behind playback, %.0f ms of silence",
                clock.turn_id,
                seconds * 1000,
            )

    def clear(self) -> None:
        """Stop at once: the next frame sent is silence."""
        self._outbound.clear(self.chunks)

    def played_text(self) -> str:
        """What the student heard, cut at the word where playback stopped."""
        return join_words([c.played_text() for c in self.chunks if c.played > 0], self._language)
