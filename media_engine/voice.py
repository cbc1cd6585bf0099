"""The voice pipeline of a call: the student's audio in, turns out; replies in, speech out.

`create_voice_factory` loads and warms the shared models once. Each call gets a
`VoicePipeline`, which listens (resample, VAD, end-of-turn detection, partial and final
transcripts, barge-in) and speaks (LLM pieces → chunks → TTS → the paced outbound track). Heavy
work runs on the models' own threads; the event loop only routes events, so one call's turn
never stalls another's audio.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Protocol

from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from core import metrics
from core.settings import Settings, VoiceSettings
from knowledge.homophones import Homophones
from knowledge.retriever import same_question
from media_engine.asr import Transcript
from media_engine.audio import ASR_RATE, OutboundAudio, PacingStats, Samples
from media_engine.conversation import Conversation
from media_engine.errors import StageError
from media_engine.events import Error, Transcription, VadState
from media_engine.listening import Listener
from media_engine.opus_out import OpusOutbound
from media_engine.speaking import Speaker, TurnClock
from media_engine.tasks import TaskSet
from media_engine.tts import choose_tts
from media_engine.turn import Turns
from media_engine.turn_detector import PauseJudge, sounds_unfinished
from media_engine.tutor import TutorProfile, join_words
from media_engine.utterance import Utterance
from media_engine.vad import (
    PAUSE_MS,
    SpeechDipped,
    SpeechDismissed,
    SpeechEnded,
    SpeechLikely,
    SpeechPaused,
    SpeechProgress,
    SpeechResumed,
    SpeechStarted,
    VadEvent,
    VadStream,
)
from media_engine.voice_models import VoiceModels, load_voice_models

log = logging.getLogger(__name__)


class CallPort(Protocol):
    """What the pipeline needs of its call (media_engine.call.Call)."""

    session_id: str
    tutor: TutorProfile
    conversation: Conversation
    turns: Turns

    def send(self, message: str) -> None: ...

    def task_failed(self, task: asyncio.Task[Any] | None, exc: BaseException) -> None: ...


class VoiceFactory:
    """Makes each call's pipeline on the shared models; `aclose` releases them."""

    def __init__(self, models: VoiceModels, settings: VoiceSettings) -> None:
        self.models = models
        self.settings = settings
        # The VAD is light but must never wait behind an ASR or TTS job: barge-in depends on it.
        self.vad_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vad")
        # Nor behind the end-of-turn model (50-150 ms a pause), which gets a thread of its own.
        self.turn_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="turn")
        self.pacing = PacingStats()

    def create(self, call: CallPort) -> VoicePipeline:
        return VoicePipeline(call=call, factory=self)

    async def aclose(self) -> None:
        for executor in (self.vad_executor, self.turn_executor):
            executor.shutdown(wait=False, cancel_futures=True)
        await self.models.aclose()


async def create_voice_factory(settings: Settings) -> VoiceFactory:
    """The shared voice models, loaded and warm, and the factory of each call's pipeline."""
    return VoiceFactory(await load_voice_models(settings), settings.voice)


class VoicePipeline:
    """One call's voice: `start(track)` listens and hands the student's turns to the call's
    `Turns`; `make_speaker` speaks their replies."""

    def __init__(self, *, call: CallPort, factory: VoiceFactory) -> None:
        self.call = call
        self.outbound: OutboundAudio = OpusOutbound(factory.pacing)
        self._factory = factory
        self._language = call.tutor.language
        self._asr = factory.models.asr_for(self._language)
        self._utterance: Utterance | None = None
        detector = factory.models.turn_detector
        self._judge = detector and PauseJudge(detector, factory.turn_executor, call.session_id)
        self._tasks = TaskSet(call.session_id, "voice", on_failure=call.task_failed)
        self.asr_calls = 0
        # From now on, every reply of the call is spoken.
        call.turns.make_speaker = self.make_speaker
        self._stream: VadStream | None = None
        self._listener: Listener | None = None
        self._spoke = asyncio.Event()
        """Set when the student starts an utterance (a turn held open waits for it)."""
        self._max_pause_s = factory.settings.max_pause_ms / 1000
        self._hotwords: str | None = None
        """The course's subject terms, a hint to the recogniser once read (see `start`)."""
        self._sounds: Homophones | None = None

    # --- listening -----------------------------------------------------------------------------

    def start(self, track: MediaStreamTrack, *, dtx: bool = False) -> None:
        """Listen to the student's audio track until it ends or the call closes. `dtx`: its
        sender may leave silence out (a WebRTC answer that asked for DTX), to be heard all the
        same; a track that fills its own silence (a socket's) must not have more added."""
        self._tasks.spawn(self._read_terms(), name="terms")
        self._tasks.spawn(self._listen(track, dtx), name="listen")

    async def _read_terms(self) -> None:
        # Subject terms ("chlorophyll", "光合作用") are what Whisper mishears most; with them as
        # hotwords the word error rate fell (README, Benchmarks: ASR).
        # In Chinese, a course word written as a homophone (十五练 for 食物链) is put right.
        hotwords, self._sounds = await self.call.conversation.subject_terms()
        self._hotwords = hotwords or None

    def hear(self, codec: RTCRtpCodecParameters, encoded: JitterFrame) -> None:
        """An encoded frame of the student's audio, straight from the call's receiver."""
        if self._listener is not None:
            self._listener.packet(codec, encoded)

    async def _listen(self, track: MediaStreamTrack, dtx: bool) -> None:
        scorer, settings = self._factory.models.vad.scorer(), self._factory.settings
        stream = self._stream = VadStream(scorer, settings, detector=self._judge is not None)
        task = asyncio.current_task()
        listener = self._listener = Listener(
            stream,
            self._factory.vad_executor,
            on_events=self._on_events,
            verdicts=self._judge.take if self._judge else list,
            on_failure=lambda exc: self.call.task_failed(task, exc),
        )
        await listener.run(track, fill=dtx)

    def _on_events(self, events: list[VadEvent], arrived: float) -> None:
        for item in events:
            self._on_vad(item, arrived)

    def _on_vad(self, item: VadEvent, arrived: float) -> None:
        if isinstance(item, SpeechLikely):
            # Hush at the first sign of speech, so barge-in is heard within a frame or two;
            # the reply is only cancelled once it is really a turn (SpeechStarted).
            self.outbound.hold()
        elif isinstance(item, SpeechDismissed):
            self.outbound.release()
        elif isinstance(item, SpeechStarted):
            self._speech_started()
        elif self._utterance is None:
            return
        elif isinstance(item, SpeechProgress):
            self._maybe_partial(self._utterance, item.audio)
        elif isinstance(item, SpeechDipped):
            if not self._asr.busy:  # a stale one must not hold up the one at the real end
                utterance = self._utterance
                utterance.early_from = item.silence_from
                utterance.early = self._tasks.spawn(self._transcribe(item.audio), name="early")
        elif isinstance(item, SpeechPaused):
            utterance = self._utterance
            early = utterance.take_early(item.silence_from)
            utterance.speculative = self._tasks.spawn(
                self._speculate(utterance, item.audio, arrived, early), name="asr"
            )
            if self._judge:
                self._tasks.spawn(self._judge.judge(item.pause, item.audio), name="turn")
        elif isinstance(item, SpeechResumed):
            self._utterance.take_early(-1)
            if self._utterance.speculative is not None:
                self._utterance.speculative.cancel()
                self._utterance.speculative = None
            self.call.turns.drop_ahead()
        elif isinstance(item, SpeechEnded):
            self._speech_ended(self._utterance, item, arrived)

    def _speech_started(self) -> None:
        self._utterance = Utterance(turn_id=uuid.uuid4().hex[:12])
        self._spoke.set()
        self.call.send(VadState(turn_id=self._utterance.turn_id, state="speech_start").json())
        turns = self.call.turns
        turns.drop_ahead()  # a new utterance: any answer prepared for an old one is stale
        if self.outbound.speaking or turns.replying:
            # Barge-in: silence first (the next frame), then cancel generation and queued TTS.
            self.outbound.clear()
            turns.interrupt()
        self.outbound.release()
        if self._stream is not None:
            # An answer to the tutor's question may be one word the turn model is unsure of.
            self._stream.expect_answer = self.call.conversation.asked_question()

    def _maybe_partial(self, utterance: Utterance, audio: Samples) -> None:
        if not self._asr.makes_partials:
            return  # a partial from this recogniser would hold up the final transcript
        if self._asr.busy or (utterance.partial is not None and not utterance.partial.done()):
            return  # best-effort: a partial never queues behind another transcription
        utterance.partial = self._tasks.spawn(self._send_partial(utterance, audio), name="partial")

    async def _send_partial(self, utterance: Utterance, audio: Samples) -> None:
        self.asr_calls += 1
        try:
            transcript = await self._asr.transcribe(
                audio, language=self._language, partial=True, hotwords=self._hotwords
            )
        except StageError:
            return  # the final transcript reports failures; a lost partial costs nothing
        if transcript is None or not transcript.text or self._utterance is not utterance:
            return
        text = self._sounds.correct(transcript.text) if self._sounds else transcript.text
        self.call.send(Transcription(turn_id=utterance.turn_id, content=text, partial=True).json())
        self._maybe_prefetch(utterance, text)

    def _maybe_prefetch(self, utterance: Utterance, text: str) -> None:
        """Search the course material once a partial transcript has settled.

        Two partials in a row that ask the same thing mean the question is mostly said; its
        material is searched while the student finishes, so retrieval adds nothing after
        they stop. A later, different partial searches again (the newest search wins).
        """
        previous, utterance.last_partial = utterance.last_partial, text
        if previous and same_question(previous, text):
            self._prepare(utterance, text)
        elif utterance.guess is None or utterance.guess.done():
            # Not settled yet: only the reply's likely opening is made ready, from the latest
            # words (a search and one short synthesis, cheap next to the model's reading).
            guess = self.call.conversation.prefetch(text, self._prepare_chunk, read=False)
            utterance.guess = self._tasks.spawn(guess, name="guess")

    def _prepare(self, utterance: Utterance, text: str) -> None:
        """Have the conversation prepare the reply to `text`, unless it already asked this."""
        if utterance.searched and same_question(utterance.searched, text):
            return
        utterance.searched = text
        prefetch = self.call.conversation.prefetch(text, self._prepare_chunk)
        self._tasks.spawn(prefetch, name="prefetch")

    async def _prepare_chunk(self, text: str) -> None:
        """Make the audio of the reply's likely first chunk while the student finishes: if the
        reply opens with it, its first words cost no synthesis when they stop."""
        models = self._factory.models
        tts, voice = choose_tts(self.call.tutor.voice, models.tts, models.piper)
        try:
            await tts.prepare(text, voice=voice, language=self._language)
        except StageError:
            return  # the reply's own synthesis reports a failure

    async def _transcribe(self, audio: Samples) -> Transcript | None:
        self.asr_calls += 1
        heard = await self._asr.transcribe(audio, language=self._language, hotwords=self._hotwords)
        if heard is None or self._sounds is None:
            return heard
        return replace(heard, text=self._sounds.correct(heard.text))

    async def _speculate(
        self,
        utterance: Utterance,
        audio: Samples,
        paused_at: float,
        early: asyncio.Task[Transcript | None] | None,
    ) -> Transcript | None:
        """The final transcript (`early`: the one started as this silence began), ready at
        the pause in case the turn ends there; while the pause is judged, the reply to it is
        prepared (planned, generated, its first words synthesized) by a speculative turn,
        heard only if the turn ends here."""
        transcript = await (early or self._transcribe(audio))
        if transcript is None or not transcript.text or self._utterance is not utterance:
            return transcript  # nothing said, or the turn already ended: no time to win
        clock = TurnClock.spoken(
            utterance.turn_id,
            end_of_speech=paused_at - PAUSE_MS / 1000,
            speech_s=len(audio) / ASR_RATE,
        )
        clock.transcribed(transcript.compute_s)
        text = join_words([utterance.carried, transcript.text], self._language)
        if not sounds_unfinished(text, first_turn=self.call.turns.commits == 0):  # else it waits
            self.call.turns.speculate(text, clock)
        return transcript

    def _speech_ended(self, utterance: Utterance, item: SpeechEnded, arrived: float) -> None:
        self._utterance = None
        if utterance.partial is not None:
            utterance.partial.cancel()
        self.call.send(VadState(turn_id=utterance.turn_id, state="speech_end").json())
        clock = TurnClock.spoken(
            utterance.turn_id,
            end_of_speech=arrived - item.trailing_silence_s,
            speech_s=len(item.audio) / ASR_RATE,
            endpoint=item.reason,
        )
        speculative = utterance.speculative
        if item.forced and speculative is not None:
            # Cut mid-speech: the pause's transcript lacks what was said after it.
            speculative.cancel()
            speculative = None
        self._tasks.spawn(
            self._finish_turn(utterance, clock, item.audio, speculative), name="final"
        )

    async def _finish_turn(
        self,
        utterance: Utterance,
        clock: TurnClock,
        audio: Samples,
        speculative: asyncio.Task[Transcript | None] | None,
    ) -> None:
        """The final transcript (speculative if no speech came after it), then the turn."""
        try:
            transcript = await (speculative or self._transcribe(audio))
        except StageError as exc:
            self._error(exc, clock.turn_id)
            return
        clock.transcribed(transcript.compute_s if transcript else 0.0)
        text = join_words(
            [utterance.carried, transcript.text if transcript else ""], self._language
        )
        if self._utterance is not None:
            # The student spoke again before this was transcribed: it was a pause, not the end,
            # and answering now would talk over them. The words open their next turn instead.
            self._utterance.carried = text
            return
        if not text:
            log.info("session %s turn %s: no words heard", self.call.session_id, clock.turn_id)
            return
        first_turn = self.call.turns.commits == 0
        if clock.endpoint == "smart_turn" and sounds_unfinished(text, first_turn=first_turn):
            # The audio model heard an end, the words do not ("I think plants need"): wait as
            # for a pause it heard as unfinished; if the student goes on, these words open
            # their turn, as above.
            if await self._speech_within(clock.reference + self._max_pause_s):
                assert self._utterance is not None
                self._utterance.carried = text
                return
        self.call.send(Transcription(turn_id=clock.turn_id, content=text, partial=False).json())
        self.call.turns.spoken(text, clock)

    async def _speech_within(self, deadline: float) -> bool:
        """Whether the student starts speaking again before `deadline` (monotonic time)."""
        self._spoke.clear()
        if self._utterance is not None:
            return True
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                await self._spoke.wait()
        except TimeoutError:
            return False
        return self._utterance is not None

    # --- speaking ------------------------------------------------------------------------------

    def make_speaker(
        self, clock: TurnClock, gate: asyncio.Event, on_sound: Callable[[str, float], None]
    ) -> Speaker:
        """The speaker of one reply, in the tutor's voice (chosen once, for the whole reply)."""
        models = self._factory.models
        tts, voice = choose_tts(self.call.tutor.voice, models.tts, models.piper)
        return Speaker(
            tts=tts,
            voice=voice,
            language=self._language,
            outbound=self.outbound,
            clock=clock,
            gate=gate,
            on_sound=on_sound,
        )

    def _error(self, exc: StageError, turn_id: str) -> None:
        log.warning("session %s turn %s: %s", self.call.session_id, turn_id, exc.code)
        metrics.ERRORS.labels(exc.code).inc()
        self.call.send(Error.of(exc, turn_id).json())

    # --- tasks ---------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop listening and speaking; the shared models stay loaded."""
        await self._tasks.cancel_all()
        self.outbound.stop()
