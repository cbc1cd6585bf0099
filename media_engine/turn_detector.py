"""End-of-turn detection: has the student finished, or only paused mid-sentence?

VAD silence alone cannot tell "What is photosynthesis?" from "The answer is, um" followed by a
pause. A `TurnDetector` looks at the utterance's audio when the VAD hears a pause and guesses;
`EndOfTurn` turns its guesses and the silence into the decision that ends the turn.

Usage (the detector is blocking and shared; run it off the event loop)::

    detector: TurnDetector = SmartTurn(ModelPaths(models_dir).smart_turn)
    guess = await loop.run_in_executor(executor, detector.predict, utterance)  # 16 kHz mono f32
    if guess.complete:
        ...  # answer now
    else:
        ...  # keep listening; a longer silence still ends the turn if the student says no more

`SmartTurn` runs pipecat's Smart Turn v3.2 model (a Whisper-tiny encoder with a classifier head,
8 MB ONNX, CPU build), fed exactly as pipecat's `LocalSmartTurnAnalyzerV3` feeds it. Without a
detector (`TURN_DETECTOR=vad`) `EndOfTurn` ends turns on silence alone, as before.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import onnxruntime as rt

from media_engine import cores
from media_engine.audio import ASR_RATE, Samples
from media_engine.onnx_options import session_options

log = logging.getLogger(__name__)

# Smart Turn v3 hears the last 8 s of the turn at 16 kHz.
WINDOW_S = 8
WINDOW_SAMPLES = WINDOW_S * ASR_RATE
# pipecat's decision rule: the model's sigmoid output of one half or more is "complete".
THRESHOLD = 0.5
# Whisper's zero-mean unit-variance normalization guards its division with this.
_NORM_EPS = 1e-7


@dataclass(frozen=True)
class TurnGuess:
    """What a detector thinks of the audio heard so far."""

    complete: bool
    """The student has finished their turn."""
    probability: float
    """The model's probability that the turn is complete."""
    inference_ms: float
    """Time `predict` took, features included."""


class TurnDetector(Protocol):
    """Guesses whether an utterance is a finished turn. Blocking; thread-safe."""

    name: str

    def predict(self, audio: Samples) -> TurnGuess:
        """`audio`: the utterance so far, 16 kHz mono float32 in [-1, 1]."""
        ...


class SmartTurn:
    """pipecat's Smart Turn v3.2 (ONNX, CPU), on one onnxruntime session shared by every call.

    A call costs the features of 8 s of audio plus one encoder pass, about the same whatever the
    utterance's length (shorter audio is padded to 8 s). One intra-op thread by default, like
    pipecat's: the other core stays free for the rest of the pipeline.
    """

    name = "smart-turn-v3.2"

    def __init__(self, model_path: Path, *, threads: int = 1, threshold: float = THRESHOLD) -> None:
        # pipecat's Whisper features, without transformers: faster-whisper's numpy extractor is
        # the same computation (checked to agree within float32 rounding) and is installed anyway.
        from faster_whisper.feature_extractor import FeatureExtractor

        if not model_path.is_file():
            raise FileNotFoundError(f"no Smart Turn model at {model_path}")
        # The session options of pipecat's LocalSmartTurnAnalyzerV3 (BSD-2-Clause, Daily).
        options = session_options(threads)
        options.execution_mode = rt.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = rt.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = rt.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self._features = FeatureExtractor(feature_size=80, chunk_length=WINDOW_S)
        self.threshold = threshold

    def predict(self, audio: Samples) -> TurnGuess:
        started = time.perf_counter()
        features = self.features(audio)
        (output,) = self._session.run(None, {"input_features": features[np.newaxis]})
        probability = float(np.asarray(output).reshape(-1)[0])
        return TurnGuess(
            complete=probability >= self.threshold,
            probability=probability,
            inference_ms=(time.perf_counter() - started) * 1000,
        )

    def features(self, audio: Samples) -> Samples:
        """The model's input: 80 log-mel bins x 800 frames of the last 8 s, float32.

        As pipecat's `_predict_endpoint` and its vendored `WhisperFeatureExtractor`
        (`compute_whisper_log_mel_features`, BSD-2-Clause, Daily; derived from Hugging Face
        Transformers, Apache-2.0) compute it: keep the last 8 s, pad the start with zeros,
        normalize the waveform to zero mean and unit variance, then Whisper's log-mel
        spectrogram (400-point FFT, hop 160, Slaney mel filters, log10 clamped to 8 below its
        maximum and scaled to about [-1, 1]) without its final frame.
        """
        x = np.asarray(audio, dtype=np.float32)
        if x.ndim != 1:
            raise ValueError(f"expected mono audio, got shape {x.shape}")
        if len(x) > WINDOW_SAMPLES:
            x = x[-WINDOW_SAMPLES:]
        elif len(x) < WINDOW_SAMPLES:
            x = np.pad(x, (WINDOW_SAMPLES - len(x), 0))
        x = (x - x.mean()) / np.sqrt(x.var() + _NORM_EPS)
        # padding=0: faster-whisper appends 160 zeros for transcription; pipecat does not.
        log_mel = self._features(x, padding=0)
        out: Samples = np.ascontiguousarray(log_mel, dtype=np.float32)
        return out


@dataclass(frozen=True)
class Verdict:
    """A detector's verdict on one pause of a stream, for `VadStream.feed`."""

    pause: int
    """The pause's number (`SpeechPaused.pause`)."""
    complete: bool | None
    """The student is done; None: the detector failed, so silence decides."""


class PauseJudge:
    """One call's end-of-turn judge: runs the shared detector on each pause, never on the event
    loop nor the VAD's thread (`executor` is its own), and keeps the verdicts until the VAD's
    next step takes them."""

    def __init__(self, detector: TurnDetector, executor: Executor, label: str) -> None:
        self._detector = detector
        self._executor = executor
        self._label = label
        self._verdicts: list[Verdict] = []

    async def judge(self, pause: int, audio: Samples) -> None:
        loop = asyncio.get_running_loop()
        try:
            guess = await loop.run_in_executor(self._executor, self._predict, audio)
        except Exception:
            # A broken detector must not break the call: silence ends the turn instead.
            log.exception("%s: %s failed", self._label, self._detector.name)
            self._verdicts.append(Verdict(pause, None))
            return
        log.debug(
            "%s pause %d: complete %.2f (%.0f ms)",
            self._label,
            pause,
            guess.probability,
            guess.inference_ms,
        )
        self._verdicts.append(Verdict(pause, guess.complete))

    def _predict(self, audio: Samples) -> TurnGuess:
        with cores.hearing():
            return self._detector.predict(audio)

    def take(self) -> list[Verdict]:
        """The verdicts that came since the last call."""
        taken, self._verdicts = self._verdicts, []
        return taken


EndReason = Literal["smart_turn", "silence", "max_pause", "max_utterance"]
"""Why a turn ended: the detector heard it complete; `end_silence` of silence (no detector, or
it failed); `max_pause` of silence after a pause it heard as unfinished (or that it did not judge
in time); or the utterance reached its longest (a forced cut, decided by the VAD itself)."""


class EndOfTurn:
    """When a silence ends the student's turn: the pure rule, driven by the silence and verdicts.

    The VAD counts the silence (in any unit: `VadStream` counts 32 ms windows) and calls
    `paused` when it hears a pause; whoever runs the detector hands its verdict on that pause
    to `verdict`. Without a detector, `end_silence` of silence ends every turn, as before. With
    one, each pause is judged once:

    - complete: the turn ends at once ("smart_turn"), well before `end_silence`;
    - incomplete: the student is thinking, so only `max_pause` of silence ends it; but when
      the tutor asked a question (`expect_answer`) and what was said is short, `answer_pause`
      does: a one-word answer is what the model is least sure of;
    - not judged yet: `max_pause` too, so a verdict that comes late on a busy machine still
      decides, and a slow model never cuts a student off;
    - the detector failed: `end_silence`, as without one.

    Speech after the pause makes the verdict stale (`resumed`): the next pause is judged anew.
    """

    def __init__(
        self, *, end_silence: int, max_pause: int, detector: bool, answer_pause: int | None = None
    ) -> None:
        self.end_silence = end_silence
        # An unfinished thought never gets less time than plain silence would give it.
        self.max_pause = max(max_pause, end_silence)
        self.answer_pause = min(self.max_pause, max(answer_pause or self.max_pause, end_silence))
        self.detector = detector
        self.expect_answer = False
        """The tutor's last words asked the student something."""
        self._short = False
        self.pauses = 0
        """Pauses heard so far; the latest is the one a verdict must be about."""
        self._paused = False
        self._complete: bool | None = None
        self._judged = False

    def paused(self, *, short: bool = False) -> int:
        """A pause began after `short` speech (or not): returns its number, which its verdict
        must carry."""
        self.pauses += 1
        self._paused, self._complete, self._judged = True, None, False
        self._short = short
        return self.pauses

    def resumed(self) -> None:
        """Speech again (or a new utterance): any verdict on the last pause is stale."""
        self._paused, self._complete, self._judged = False, None, False

    def verdict(self, pause: int, complete: bool | None) -> bool:
        """The detector's verdict on pause number `pause` (None: it failed). False when the
        verdict is stale: the student spoke again, or the turn ended, since that pause."""
        if not (self.detector and self._paused and pause == self.pauses):
            return False
        self._complete, self._judged = complete, True
        return True

    def end(self, silence: int) -> EndReason | None:
        """Why `silence` ends the turn now, or None if the student may go on."""
        if not (self.detector and self._paused):
            return "silence" if silence >= self.end_silence else None
        if self._judged and self._complete is None:  # the detector failed: silence decides
            return "silence" if silence >= self.end_silence else None
        if self._complete:
            return "smart_turn"
        longest = self.answer_pause if self.expect_answer and self._short else self.max_pause
        return "max_pause" if silence >= longest else None


# Words a sentence does not end on: a student who stops after one is thinking, whatever the
# audio model heard ("I think plants need ... sunlight", "because ... um").
_DANGLING_EN = frozenset(
    "a an the and or but because so to of in on at for with about from by into than if "
    "is are was were am be my your his her their our its um uh er erm hmm need needs want "
    "wants".split()
)
_DANGLING_ZH = (
    "因为", "所以", "但是", "然后", "还有", "或者", "如果", "就是", "那个", "这个", "需要",
    "和", "跟", "是", "在", "把", "被", "对", "给", "比", "嗯", "呃", "的话",
    # Subordinate clauses ("虽然…", "关于…", "下雨的时候…") and the heads of a request or an
    # opinion ("我想问一下…", "请问…", "我想知道…", "我觉得…") announce what comes next.
    "虽然", "只要", "除了", "关于", "时候", "问一下", "想问", "请问", "想知道", "觉得", "认为",
)  # fmt: skip
# "…以后", "…之后": a time clause waiting for its main clause ("水在加热以后…"); said alone and
# short it is an answer ("十年以后", "in ten years").
_TIME_CLAUSE_ZH = ("以后", "之后", "以前", "之前")
# "that" after these opens a clause ("Is it true that…", "Do you think that…"), whatever mark
# Whisper puts after it; after "know" or "heard" it is often the thing itself ("I know that.").
_CLAUSE_THAT_EN = frozenset("true sure possible fact think believe mean means said says".split())
# A word that opens a clause, said last after a few words ("What happens to ice when", "Does
# it float if"), waits for its clause whatever mark Whisper puts after it; after "and" or "or"
# it is a question of its own ("Who found it and when?"), and two words are one ("What if?").
_CLAUSE_OPENER_EN = frozenset("when while if because unless until although whereas".split())


# A question word said last, just after a verb of telling or knowing ("Can you tell me why",
# "I want to know how", "你能告诉我为什么"), asks about what comes next. Once the tutor has
# said something, "Can you tell me why?" asks about that; before, the student is thinking.
_ASKING_EN = frozenset("tell explain know wonder ask understand show".split())
_QUESTION_EN = frozenset("why how what where when which who whether".split())
# "想知道" only: "我不知道为什么" ("I don't know why") is a statement, said whole.
_ASKING_ZH = ("告诉我", "想知道", "解释", "讲讲", "说说", "想问")
_QUESTION_ZH = ("为什么", "怎么", "怎样", "如何", "是什么", "什么")


def _asks_about_what_follows(text: str) -> bool:
    core = text.rstrip("?？.。!！ ")
    for question in _QUESTION_ZH:  # 是什么 before 什么
        if core.endswith(question):
            return core[: -len(question)].endswith(_ASKING_ZH)
    words = re.findall(r"[a-z']+", core.lower())
    if len(words) < 2 or words[-1] not in _QUESTION_EN:
        return False
    # A request ("can you tell me", "I want to know"), not a statement ("I know why").
    return any(
        word in _ASKING_EN and ("you" in words[:i] or words[i - 1] == "to")
        for i, word in enumerate(words[:-1])
        if i >= len(words) - 4 and i > 0
    )


def sounds_unfinished(text: str, *, first_turn: bool = False) -> bool:
    """Whether a transcript stops mid-sentence: on a comma, a filler or a word a sentence does
    not end on. A question mark ends it ("Is it in the...?" is Whisper's guess too), except
    in the call's `first_turn` after a question word that asks about what follows (above)."""
    stripped = text.strip()
    if first_turn and _asks_about_what_follows(stripped):
        return True
    words = re.findall(r"[a-z']+", stripped.lower())
    if len(words) >= 2 and words[-1] == "that" and words[-2] in _CLAUSE_THAT_EN:
        return True
    if len(words) >= 3 and words[-1] in _CLAUSE_OPENER_EN and words[-2] not in ("and", "or"):
        return True
    if not stripped or stripped.endswith(("?", "？")):
        return False
    if stripped.endswith((",", "，", "、", "…", "...")):
        return True
    core = stripped.rstrip(".。!！ ")
    if any("\u4e00" <= c <= "\u9fff" for c in core[-2:]):
        # A dangling word said alone is an answer: "是" is "yes".
        if core.endswith(_TIME_CLAUSE_ZH) and len(core) > 4:
            return True
        return core.endswith(_DANGLING_ZH) and core not in _DANGLING_ZH
    last = core.lower().split()
    return bool(last) and last[-1].strip("\"'") in _DANGLING_EN
