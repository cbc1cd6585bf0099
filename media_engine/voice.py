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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from core.paths import ModelPaths
from core.settings import Settings, VoiceSettings
from knowledge.retriever import same_question
from media_engine.asr import ASR, Transcript, WhisperASR
from media_engine.audio import ASR_RATE, InboundResampler, OutboundAudio, PacingStats, Samples
from media_engine.conversation import Conversation
from media_engine.errors import StageError
from media_engine.protocol import event
from media_engine.speaking import SpokenReply, TurnClock
from media_engine.tasks import TaskSet
from media_engine.tts import TTS, KokoroTTS, choose_tts
from media_engine.tts_piper import PiperTTS
from media_engine.turn_detector import PauseJudge, SmartTurn, TurnDetector, Verdict
from media_engine.tutor import TutorProfile, join_words
from media_engine.vad import (
    SileroVad,
    SpeechDismissed,
    SpeechEnded,
    SpeechLikely,
    SpeechPaused,
    SpeechProgress,
    SpeechResumed,
    SpeechStarted,
    VadEvent,
    VadModel,
    VadStream,
)

log = logging.getLogger(__name__)


class CallPort(Protocol):
    """What the pipeline needs of its call (media_engine.call.Call)."""

    session_id: str
    tutor: TutorProfile
    conversation: Conversation

    @property
    def replying(self) -> bool: ...

    def send(self, message: str) -> None: ...

    def interrupt(self) -> bool: ...

    def start_turn(
        self,
        text: str,
        *,
        source: str,
        turn_id: str | None = None,
        timings: dict[str, float] | None = None,
    ) -> str: ...


@dataclass
class VoiceModels:
    """The models every call shares: VAD, an ASR per model, TTS engines, turn detector."""

    vad: VadModel
    asr_en: ASR
    """For English tutors (whisper tiny.en)."""
    asr_multilingual: ASR
    """For every other language (whisper base; Chinese is the one we ship voices for)."""
    tts: TTS
    """Kokoro: every voice not named "piper:..."."""
    piper: TTS | None = None
    """Piper, for the tutors whose voice is "piper:<name>" (English only)."""
    turn_detector: TurnDetector | None = None
    """Judges each pause (TURN_DETECTOR=smart_turn); None: silence alone ends turns."""

    def asr_for(self, language: str) -> ASR:
        return self.asr_en if language == "en" else self.asr_multilingual

    async def aclose(self) -> None:
        models = (self.asr_en, self.asr_multilingual, self.tts, self.piper)
        for model in {id(m): m for m in models if m is not None}.values():
            await model.aclose()


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
    """Load every voice model (off the event loop) and warm each up, so no turn pays for it."""
    paths = ModelPaths(settings.models_dir)
    voice = settings.voice
    loop = asyncio.get_running_loop()

    def whisper(model_dir: Path) -> WhisperASR:
        return WhisperASR(
            model_dir,
            beam_size=voice.asr_beam_size,
            threads=voice.asr_threads,
            compute_type=voice.asr_compute_type,
        )

    def smart_turn() -> TurnDetector | None:
        return SmartTurn(paths.smart_turn) if voice.turn_detector == "smart_turn" else None

    loaded = await asyncio.gather(
        loop.run_in_executor(None, SileroVad),
        loop.run_in_executor(None, whisper, paths.whisper_tiny_en),
        loop.run_in_executor(None, whisper, paths.whisper_base),
        loop.run_in_executor(None, KokoroTTS, paths.kokoro_model, paths.kokoro_voices_dir),
        loop.run_in_executor(None, PiperTTS, paths.piper_voice, paths.piper_config),
        loop.run_in_executor(None, smart_turn),
    )
    models = VoiceModels(*loaded)  # in the fields' order
    await warm_up(models)
    return VoiceFactory(models, voice)


async def warm_up(models: VoiceModels) -> None:
    """Run each model once: first inferences allocate and are several times slower."""
    started = time.perf_counter()
    noise = (np.random.default_rng(0).standard_normal(16_000) * 0.01).astype(np.float32)
    detector = models.turn_detector
    await asyncio.gather(
        asyncio.to_thread(models.vad.scorer().score, noise[:512]),
        models.asr_en.transcribe(noise, language="en"),
        models.asr_multilingual.transcribe(noise, language="zh"),
        *(tts.warm_up() for tts in (models.tts, models.piper) if tts is not None),
        *([asyncio.to_thread(detector.predict, noise)] if detector else []),
    )
    log.info("voice models warm in %.1f s", time.perf_counter() - started)


def _vad_step(
    resampler: InboundResampler, stream: VadStream, frame: av.AudioFrame, verdicts: list[Verdict]
) -> list[VadEvent]:
    return stream.feed(resampler.push(frame), verdicts)


@dataclass
class _Utterance:
    """The student's turn being heard."""

    turn_id: str
    partial: asyncio.Task[None] | None = None
    speculative: asyncio.Task[Transcript | None] | None = None
    carried: str = ""
    """Words of an earlier utterance the student went on from before it was answered."""
    last_partial: str = ""
    searched: str = ""
    """The partial transcript whose course material was last searched for."""


class VoicePipeline:
    """One call's voice: `start(track)` listens, `speak_reply(turn_id)` answers."""

    def __init__(self, *, call: CallPort, factory: VoiceFactory) -> None:
        self.call = call
        self.outbound = OutboundAudio(factory.pacing)
        self._factory = factory
        self._language = call.tutor.language
        self._asr = factory.models.asr_for(self._language)
        self._utterance: _Utterance | None = None
        detector = factory.models.turn_detector
        self._judge = detector and PauseJudge(detector, factory.turn_executor, call.session_id)
        self._clocks: dict[str, TurnClock] = {}
        self._tasks = TaskSet(call.session_id, "voice")
        self.asr_calls = 0

    # --- listening -----------------------------------------------------------------------------

    def start(self, track: MediaStreamTrack) -> None:
        """Listen to the student's audio track until it ends or the call closes."""
        self._tasks.spawn(self._listen(track), name="listen")

    async def _listen(self, track: MediaStreamTrack) -> None:
        loop = asyncio.get_running_loop()
        resampler = InboundResampler()
        scorer = self._factory.models.vad.scorer()
        stream = VadStream(scorer, self._factory.settings, detector=self._judge is not None)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if not isinstance(frame, av.AudioFrame):
                continue
            arrived = time.monotonic()
            verdicts = self._judge.take() if self._judge else []
            events = await loop.run_in_executor(
                self._factory.vad_executor, _vad_step, resampler, stream, frame, verdicts
            )
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
        elif isinstance(item, SpeechPaused):
            utterance = self._utterance
            utterance.speculative = self._tasks.spawn(
                self._speculate(utterance, item.audio), name="asr"
            )
            if self._judge:
                self._tasks.spawn(self._judge.judge(item.pause, item.audio), name="turn")
        elif isinstance(item, SpeechResumed):
            if self._utterance.speculative is not None:
                self._utterance.speculative.cancel()
                self._utterance.speculative = None
        elif isinstance(item, SpeechEnded):
            self._speech_ended(self._utterance, item, arrived)

    def _speech_started(self) -> None:
        self._utterance = _Utterance(turn_id=uuid.uuid4().hex[:12])
        self.call.send(event("vad", state="speech_start", turn_id=self._utterance.turn_id))
        if self.outbound.speaking or self.call.replying:
            # Barge-in: silence first (the next frame), then cancel generation and queued TTS.
            self.outbound.clear()
            self.call.interrupt()
        self.outbound.release()

    def _maybe_partial(self, utterance: _Utterance, audio: Samples) -> None:
        if self._asr.busy or (utterance.partial is not None and not utterance.partial.done()):
            return  # best-effort: a partial never queues behind another transcription
        utterance.partial = self._tasks.spawn(self._send_partial(utterance, audio), name="partial")

    async def _send_partial(self, utterance: _Utterance, audio: Samples) -> None:
        self.asr_calls += 1
        try:
            transcript = await self._asr.transcribe(audio, language=self._language, partial=True)
        except StageError:
            return  # the final transcript reports failures; a lost partial costs nothing
        if transcript is None or not transcript.text or self._utterance is not utterance:
            return
        self.call.send(
            event("transcription", partial=True, content=transcript.text, turn_id=utterance.turn_id)
        )
        self._maybe_prefetch(utterance, transcript.text)

    def _maybe_prefetch(self, utterance: _Utterance, text: str) -> None:
        """Search the course material once a partial transcript has settled.

        Two partials in a row that ask the same thing mean the question is mostly said; its
        material is searched while the student finishes, so retrieval adds nothing after
        they stop. A later, different partial searches again (the newest search wins).
        """
        previous, utterance.last_partial = utterance.last_partial, text
        if previous and same_question(previous, text):
            self._prepare(utterance, text)

    def _prepare(self, utterance: _Utterance, text: str) -> None:
        """Have the conversation prepare the reply to `text`, unless it already asked this."""
        if utterance.searched and same_question(utterance.searched, text):
            return
        utterance.searched = text
        self._tasks.spawn(self.call.conversation.prefetch(text), name="prefetch")

    async def _transcribe(self, audio: Samples) -> Transcript | None:
        self.asr_calls += 1
        return await self._asr.transcribe(audio, language=self._language)

    async def _speculate(self, utterance: _Utterance, audio: Samples) -> Transcript | None:
        """The final transcript, started at the first pause in case the turn ends there."""
        transcript = await self._transcribe(audio)
        if transcript is not None and transcript.text:
            # What the pause says is the latest word on the question.
            self._prepare(utterance, transcript.text)
        return transcript

    def _speech_ended(self, utterance: _Utterance, item: SpeechEnded, arrived: float) -> None:
        self._utterance = None
        if utterance.partial is not None:
            utterance.partial.cancel()
        self.call.send(event("vad", state="speech_end", turn_id=utterance.turn_id))
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
        utterance: _Utterance,
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
        self.call.send(event("transcription", partial=False, content=text, turn_id=clock.turn_id))
        # Only the newest turn can still be waiting for its reply; older clocks are stale.
        self._clocks = {clock.turn_id: clock}
        self.call.start_turn(
            text, source="spoken", turn_id=clock.turn_id, timings=clock.user_timings()
        )

    # --- speaking ------------------------------------------------------------------------------

    async def speak_reply(self, turn_id: str) -> None:
        """Generate, synthesize and play the reply to `turn_id`; cancelling it is barge-in."""
        clock = self._clocks.pop(turn_id, None) or TurnClock.typed(turn_id)
        # The tutor's voice picks the engine once per reply, never in the middle of one.
        models = self._factory.models
        tts, voice = choose_tts(self.call.tutor.voice, models.tts, models.piper)
        reply = SpokenReply(
            turn_id=turn_id,
            conversation=self.call.conversation,
            tts=tts,
            voice=voice,
            tutor=self.call.tutor,
            outbound=self.outbound,
            clock=clock,
            send=self.call.send,
        )
        await reply.run()

    def _error(self, exc: StageError, turn_id: str) -> None:
        log.warning("session %s turn %s: %s", self.call.session_id, turn_id, exc.code)
        fields = {"code": exc.code, "content": str(exc), "retryable": exc.retryable}
        self.call.send(event("error", turn_id=turn_id, **fields))

    # --- tasks ---------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop listening and speaking; the shared models stay loaded."""
        await self._tasks.cancel_all()
        self.outbound.stop()
