"""The VAD stage: speech probability per 32 ms window, and the turn-taking built on it.

One silero-vad onnxruntime session serves every call; each call holds only its own recurrent
state and the 64 samples of context silero expects before each 512-sample window. `VadStream`
turns probabilities into events (speech started, a pause worth transcribing speculatively and
judging with the end-of-turn detector, speech resumed, speech ended) and keeps the utterance's
audio; `media_engine.turn_detector.EndOfTurn` decides which silence ends the turn. Everything
here is synchronous and meant to run off the event loop.
"""

from __future__ import annotations

import abc
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

import numpy as np
import onnxruntime as rt

from core.settings import VoiceSettings
from media_engine.audio import ASR_RATE, Samples
from media_engine.onnx_options import session_options
from media_engine.turn_detector import EndOfTurn, EndReason, Verdict

WINDOW = 512  # samples at 16 kHz: 32 ms, the window silero-vad v5+ is trained on
CONTEXT = 64  # samples of the previous window silero prepends
WINDOW_MS = WINDOW * 1000 / ASR_RATE
PREROLL_MS = 300  # kept before speech start so the ASR hears the first syllable whole
PAUSE_MS = 250  # silence after which the turn is judged (and a reply prepared)
# Silence after which the final transcript is started: a dip this long is often where the turn
# ends, and the transcript (0.15-0.5 s of compute) is then ready about when the turn is judged.
DIP_MS = 64
HYSTERESIS = 0.15  # speech continues until the probability falls this far below the threshold
SHORT_ANSWER_MS = 1000  # speech up to this long, after the tutor's question, is a short answer
# A loud onset hushes the tutor before silero has heard a whole window of speech: silero needs
# 60-110 ms of a syllable to pass its threshold, a sudden rise in level shows in the first 20 ms
# frame. The rise is measured against the inbound noise floor (which follows, slowly, whatever
# residual echo the browser's canceller leaves), and must also be loud in absolute terms.
ONSET_DBFS = -48.0
ONSET_ABOVE_FLOOR_DB = 12.0
FLOOR_DBFS = -70.0  # where the floor starts, and the quietest it goes
FLOOR_RISE = 0.02  # of the gap, per frame: a louder room is followed within a second or two
ONSET_WINDOWS = 4  # windows silero has to confirm an onset, else the tutor talks on
# A window as quiet as the room was before the speech (and far below the voice heard) is silence,
# whatever silero says; see `VadStream._in_speech`.
QUIET_ABOVE_FLOOR_DB = 10.0
QUIET_BELOW_VOICE_DB = 30.0


class SpeechScorer(abc.ABC):
    """One stream's speech detector: the probability that a 512-sample window is speech."""

    @abc.abstractmethod
    def score(self, window: Samples) -> float: ...


class VadModel(abc.ABC):
    """A speech detector shared by many calls; `scorer()` makes one stream's state."""

    @abc.abstractmethod
    def scorer(self) -> SpeechScorer: ...


class SileroVad(VadModel):
    """silero-vad's ONNX model, loaded from the silero_vad wheel."""

    def __init__(self) -> None:
        # Windows are tiny: one thread each avoids thread start-up costing more than the math.
        options = session_options(1)
        model = resources.files("silero_vad.data").joinpath("silero_vad.onnx")
        with resources.as_file(model) as path:
            self.session = rt.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )

    def scorer(self) -> SpeechScorer:
        return _SileroScorer(self.session)


class _SileroScorer(SpeechScorer):
    def __init__(self, session: rt.InferenceSession) -> None:
        self._session = session
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._sr = np.array(ASR_RATE, dtype=np.int64)

    def score(self, window: Samples) -> float:
        x = np.concatenate([self._context, window]).reshape(1, -1)
        out, self._state = self._session.run(
            None, {"input": x, "state": self._state, "sr": self._sr}
        )
        self._context = window[-CONTEXT:].copy()
        return float(out[0, 0])


@dataclass(frozen=True)
class SpeechStarted:
    """Enough speech to count as a turn (min_speech_ms): the student is talking."""


@dataclass(frozen=True)
class SpeechLikely:
    """A first window of speech: not yet a turn, but a tutor talking should hush at once."""


@dataclass(frozen=True)
class SpeechDismissed:
    """What followed `SpeechLikely` was too short to be a turn (a click, a cough)."""


@dataclass(frozen=True)
class SpeechProgress:
    """Another partial_interval_ms of the utterance; `audio` is all of it so far."""

    audio: Samples


@dataclass(frozen=True)
class SpeechDipped:
    """A brief silence (DIP_MS) in the speech: perhaps the start of the pause that ends the
    turn, so its final transcript may start now. A `SpeechPaused` with the same
    `silence_from` is the same silence, heard for longer."""

    audio: Samples
    silence_from: int
    """The window of the utterance where the silence began."""


@dataclass(frozen=True)
class SpeechPaused:
    """A short silence: the turn may be over, so its transcript can be started now, and (with a
    detector) the stream awaits a `Verdict` on it."""

    audio: Samples
    pause: int = 0
    """Which pause of the stream this is; its verdict names it."""
    silence_from: int = 0
    """The window of the utterance where the silence began."""


@dataclass(frozen=True)
class SpeechResumed:
    """Speech again after a `SpeechPaused`: a speculative transcript is stale."""


@dataclass(frozen=True)
class SpeechEnded:
    """The turn is over: the detector heard it complete, enough silence followed it, or it
    reached max_utterance_s (`reason` says which)."""

    audio: Samples
    """The utterance, from a little before speech started."""
    trailing_silence_s: float
    """Silence at its end: when the student stopped is this long before now."""
    reason: EndReason = "silence"

    @property
    def forced(self) -> bool:
        """Cut at max_utterance_s, mid-speech, rather than ended at a pause."""
        return self.reason == "max_utterance"


VadEvent = (
    SpeechLikely
    | SpeechDismissed
    | SpeechStarted
    | SpeechProgress
    | SpeechDipped
    | SpeechPaused
    | SpeechResumed
    | SpeechEnded
)


def _level(samples: Samples) -> float:
    """dBFS of `samples` (RMS)."""
    return 10 * math.log10(float(np.mean(np.square(samples, dtype=np.float64))) + 1e-12)


def _windows(ms: float) -> int:
    return max(1, math.ceil(ms / WINDOW_MS))


class VadStream:
    """Turn-taking for one call: feed 16 kHz samples, get events. Not thread-safe: one feeder,
    which also hands in the detector's verdicts.

    With `detector` true, each `SpeechPaused` awaits a `Verdict` (see `EndOfTurn`); without,
    silence alone ends turns.
    """

    def __init__(
        self, scorer: SpeechScorer, settings: VoiceSettings, *, detector: bool = False
    ) -> None:
        self._scorer = scorer
        self._on = settings.vad_threshold
        self._off = max(0.01, settings.vad_threshold - HYSTERESIS)
        self._min_speech = _windows(settings.min_speech_ms)
        end_silence = _windows(settings.end_silence_ms)
        self._turn = EndOfTurn(
            end_silence=end_silence,
            max_pause=_windows(settings.max_pause_ms),
            detector=detector,
            answer_pause=_windows(settings.answer_pause_ms),
        )
        # Speculation must start before the turn can end, or it buys nothing.
        self._pause = min(_windows(PAUSE_MS), max(1, end_silence - 1))
        self._dip = _windows(DIP_MS)
        self._progress = _windows(settings.partial_interval_ms)
        self._max_windows = _windows(settings.max_utterance_s * 1000)
        self._pending = np.zeros(0, dtype=np.float32)
        self._preroll: deque[Samples] = deque(maxlen=_windows(PREROLL_MS))
        self._candidate: list[Samples] = []
        self._utterance: list[Samples] = []
        self._silence = 0
        self._lead = 0  # windows of the utterance before its speech started (pre-roll)
        self._floor = FLOOR_DBFS
        self._onset = 0  # windows left for silero to confirm a loud onset (0: none pending)
        self._quiet_below = FLOOR_DBFS + QUIET_ABOVE_FLOOR_DB  # the room's level, at speech start
        self._loudest = -math.inf  # the loudest window of the utterance (or sound) heard
        self.speaking = False

    @property
    def needs_time(self) -> bool:
        """Mid-utterance (or a sound that may start one): silence must be heard as it passes,
        since it is what ends the turn (or dismisses the sound)."""
        return self.speaking or bool(self._candidate)

    @property
    def expect_answer(self) -> bool:
        return self._turn.expect_answer

    @expect_answer.setter
    def expect_answer(self, value: bool) -> None:
        """The tutor asked a question: a short reply it hears as unfinished ends sooner."""
        self._turn.expect_answer = value

    def feed(self, samples: Samples, verdicts: Iterable[Verdict] = ()) -> list[VadEvent]:
        """Take the detector's `verdicts` that came since the last feed, then score every whole
        window in `samples` (plus what was left over last time)."""
        # Verdicts first: one that ends the turn ends it before this feed's silence is counted.
        events = [e for verdict in verdicts for e in self._judged(verdict)]
        if self._loud_onset(samples):
            events.append(SpeechLikely())
        buffered = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        whole = len(buffered) // WINDOW * WINDOW
        for start in range(0, whole, WINDOW):
            window = np.ascontiguousarray(buffered[start : start + WINDOW], dtype=np.float32)
            events.extend(self._step(window, self._scorer.score(window)))
        self._pending = buffered[whole:].copy()
        return events

    def _loud_onset(self, samples: Samples) -> bool:
        """Whether `samples` (one frame, as it arrives) rise sharply above the noise floor while
        nobody is speaking; the floor is updated either way."""
        if not len(samples):
            return False
        level = _level(samples)
        floor = self._floor
        onset = level >= max(ONSET_DBFS, floor + ONSET_ABOVE_FLOOR_DB)
        # Down at once, up slowly: a steady noise, however loud, stops counting as onsets.
        if level < floor:
            self._floor = max(FLOOR_DBFS, level)
        else:
            self._floor = floor + FLOOR_RISE * (level - floor)
        if not onset or self.speaking or self._candidate or self._onset:
            return False
        self._onset = ONSET_WINDOWS
        return True

    def _judged(self, verdict: Verdict) -> list[VadEvent]:
        """The turn's end if `verdict` decides it now. One on an older pause is ignored."""
        if not (self.speaking and self._turn.verdict(verdict.pause, verdict.complete)):
            return []
        reason = self._turn.end(self._silence)
        return [] if reason is None else [self._end(reason)]

    def _step(self, window: Samples, probability: float) -> list[VadEvent]:
        level = _level(window)
        if self.speaking:
            events = self._in_speech(window, probability, quiet=level <= self._quiet())
        else:
            events = self._in_silence(window, probability)
        heard = self.speaking or bool(self._candidate)
        self._loudest = max(self._loudest, level) if heard else -math.inf
        return events

    def _quiet(self) -> float:
        """The level at or below which a window of the utterance is silence, whatever silero
        says: the room's, and far below the voice heard."""
        return min(self._quiet_below, self._loudest - QUIET_BELOW_VOICE_DB)

    def _in_silence(self, window: Samples, probability: float) -> list[VadEvent]:
        events: list[VadEvent] = []
        if probability >= self._on:
            if not self._candidate and not self._onset:
                events.append(SpeechLikely())
            self._onset = 0
            self._candidate.append(window)
        elif probability < self._off and self._candidate:
            # Too short to be a turn (a click, a cough): it becomes pre-roll again.
            self._preroll.extend(self._candidate)
            self._candidate.clear()
            events.append(SpeechDismissed())
        elif self._candidate:
            self._candidate.append(window)
        elif self._onset:
            # A loud onset silero does not hear as speech (a knock, a door): talk on.
            self._onset -= 1
            if not self._onset:
                events.append(SpeechDismissed())
        if not self._candidate:
            self._preroll.append(window)
            return events
        if len(self._candidate) < self._min_speech:
            return events
        self.speaking = True
        # The floor rises slowly with speech: the room is what it was when speech began.
        self._quiet_below = self._floor + QUIET_ABOVE_FLOOR_DB
        self._utterance = [*self._preroll, *self._candidate]
        self._lead = len(self._preroll)
        self._preroll.clear()
        self._candidate.clear()
        self._silence = 0
        self._turn.resumed()
        return [*events, SpeechStarted()]

    def _in_speech(self, window: Samples, probability: float, *, quiet: bool) -> list[VadEvent]:
        self._utterance.append(window)
        events: list[VadEvent] = []
        before = self._silence
        # A silent window silero is unsure of (between its thresholds) goes on with a silence
        # begun: counted as speech, it would start the silence again from a new place, and the
        # transcript started at its first dip would be thrown away. (Counting silence from
        # where the level fell, before silero lets go, was tried: Smart Turn, asked ~90 ms
        # sooner, took a thinking "um" for a finished turn in 10 of 10 clips.)
        if probability < self._off or (self._silence and quiet and probability < self._on):
            self._silence += 1
        elif probability >= self._on or self._silence < self._pause:
            if self._silence >= self._pause:
                events.append(SpeechResumed())
                self._turn.resumed()
            self._silence = 0
        silence_from = len(self._utterance) - self._silence
        if self._silence == self._dip and self._dip < self._pause:
            events.append(SpeechDipped(self._audio(), silence_from=silence_from))
        # Once a silence: a window silero is unsure of right after it began keeps the count
        # where it is, and judging it again gave the turn model a second chance to call a
        # thinking pause finished.
        if before < self._pause <= self._silence:
            speech = silence_from - self._lead
            pause = self._turn.paused(short=speech <= _windows(SHORT_ANSWER_MS))
            events.append(SpeechPaused(self._audio(), pause=pause, silence_from=silence_from))
        if self._silence >= self._pause and (reason := self._turn.end(self._silence)):
            return [*events, self._end(reason)]
        if len(self._utterance) >= self._max_windows:
            return [*events, self._end("max_utterance")]
        if self._silence == 0 and len(self._utterance) % self._progress == 0:
            events.append(SpeechProgress(self._audio()))
        return events

    def _end(self, reason: EndReason) -> SpeechEnded:
        event = SpeechEnded(
            audio=self._audio(),
            trailing_silence_s=self._silence * WINDOW_MS / 1000,
            reason=reason,
        )
        self.speaking = False
        self._utterance = []
        self._silence = 0
        self._turn.resumed()
        return event

    def _audio(self) -> Samples:
        return np.concatenate(self._utterance)
