"""End-of-turn detection: the decision rule on scripted verdicts, the judge that runs a
detector off the event loop, and Smart Turn v3.2 on espeak speech."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from core.paths import ModelPaths
from core.settings import VoiceSettings
from media_engine.audio import ASR_RATE, Samples
from media_engine.tts_piper import PiperTTS
from media_engine.turn_detector import (
    THRESHOLD,
    WINDOW_SAMPLES,
    EndOfTurn,
    PauseJudge,
    SmartTurn,
    TurnGuess,
    Verdict,
)
from media_engine.vad import (
    SileroVad,
    SpeechEnded,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    VadEvent,
    VadStream,
)
from tests.voice_helpers import (
    MODELS_DIR,
    ScriptedDetector,
    espeak,
    load_piper,
    piper_speech,
    silence,
)


def model_path(name: str, default: str) -> Path:
    """`ModelPaths.<name>`, or where the installer puts it while core/paths.py lacks it."""
    path = getattr(ModelPaths(MODELS_DIR), name, None)
    return path if isinstance(path, Path) else MODELS_DIR / default


@pytest.fixture(scope="module")
def smart_turn() -> SmartTurn:
    path = model_path("smart_turn", "smart-turn-v3.2/smart-turn-v3.2-cpu.onnx")
    if not path.is_file():
        pytest.skip(f"no Smart Turn model at {path}: run `virtual-tutor models`")
    return SmartTurn(path)


# Silence in any unit: end_silence 5, max_pause 20; the VAD's pause comes before end_silence.
def rule(*, detector: bool = True) -> EndOfTurn:
    return EndOfTurn(end_silence=5, max_pause=20, detector=detector)


def first_end(turn: EndOfTurn, start: int = 0) -> tuple[int, str] | None:
    """The first silence, counting on from `start`, that ends the turn, and why."""
    for silence_now in range(start, 100):
        if (reason := turn.end(silence_now)) is not None:
            return silence_now, reason
    return None


def test_without_a_detector_silence_alone_ends_the_turn() -> None:
    turn = rule(detector=False)
    pause = turn.paused()
    assert not turn.verdict(pause, True)  # nobody to ask: a verdict changes nothing
    assert first_end(turn) == (5, "silence")


def test_a_complete_verdict_ends_the_turn_at_once() -> None:
    turn = rule()
    pause = turn.paused()
    assert turn.end(3) is None  # no verdict yet: the student may go on
    assert turn.verdict(pause, True)
    assert turn.end(3) == "smart_turn"  # before end_silence


def test_an_incomplete_verdict_waits_for_the_longest_pause() -> None:
    turn = rule()
    pause = turn.paused()
    assert turn.verdict(pause, False)
    assert first_end(turn, 3) == (20, "max_pause")


def test_a_verdict_that_never_comes_waits_for_the_longest_pause() -> None:
    turn = rule()
    turn.paused()
    assert first_end(turn, 3) == (20, "max_pause")


def test_a_failed_detector_leaves_it_to_silence() -> None:
    turn = rule()
    pause = turn.paused()
    assert turn.verdict(pause, None)
    assert first_end(turn, 3) == (5, "silence")


def test_speech_after_the_pause_makes_its_verdict_stale() -> None:
    turn = rule()
    first = turn.paused()
    turn.resumed()
    assert not turn.verdict(first, True)  # too late: the student spoke again
    second = turn.paused()
    assert not turn.verdict(first, True)  # about the old pause, not this one
    assert turn.end(3) is None
    assert turn.verdict(second, True) and turn.end(3) == "smart_turn"


def test_after_a_question_a_short_reply_heard_as_unfinished_waits_less() -> None:
    turn = EndOfTurn(end_silence=5, max_pause=20, detector=True, answer_pause=8)
    turn.expect_answer = True
    pause = turn.paused(short=True)
    turn.verdict(pause, False)
    assert first_end(turn, 3) == (8, "max_pause")
    long_reply = turn.paused(short=False)
    turn.verdict(long_reply, False)
    assert first_end(turn, 3) == (20, "max_pause")
    turn.expect_answer = False
    short = turn.paused(short=True)
    turn.verdict(short, False)
    assert first_end(turn, 3) == (20, "max_pause")


def test_the_longest_pause_is_never_shorter_than_plain_silence() -> None:
    turn = EndOfTurn(end_silence=10, max_pause=4, detector=True)
    pause = turn.paused()
    turn.verdict(pause, False)
    assert first_end(turn, 3) == (10, "max_pause")


async def test_the_judge_runs_the_detector_on_its_own_thread() -> None:
    detector = ScriptedDetector(0.9, 0.2)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="turn-test")
    judge = PauseJudge(detector, executor, "s1")
    try:
        await judge.judge(1, silence(0.5))
        await judge.judge(2, silence(0.5))
        assert judge.take() == [Verdict(1, True), Verdict(2, False)]
        assert judge.take() == []
        assert detector.threads == {"turn-test_0"}
    finally:
        executor.shutdown()


async def test_a_broken_detector_gives_a_failed_verdict() -> None:
    class Broken:
        name = "broken"

        def predict(self, audio: Samples) -> TurnGuess:
            raise RuntimeError("the model fell over")

    executor = ThreadPoolExecutor(max_workers=1)
    judge = PauseJudge(Broken(), executor, "s1")
    try:
        await asyncio.wait_for(judge.judge(7, silence(0.5)), 5)
        assert judge.take() == [Verdict(7, None)]
    finally:
        executor.shutdown()


@pytest.mark.models
def test_features_are_the_last_eight_seconds_padded_at_the_start(smart_turn: SmartTurn) -> None:
    speech = espeak("Why is the sky blue?")
    features = smart_turn.features(speech)
    assert features.shape == (80, 800) and features.dtype == np.float32
    # Silence padded in front does not change what the model sees of a short utterance...
    padded = np.concatenate([silence(1.0), speech])
    np.testing.assert_allclose(smart_turn.features(padded), features, atol=1e-4)
    # ...and only the last 8 s of a long one count.
    long = np.concatenate([espeak("Photosynthesis is how plants make food.") * 0.5, speech])
    long = np.concatenate([np.tile(long, 1 + WINDOW_SAMPLES // len(long)), speech])
    np.testing.assert_array_equal(
        smart_turn.features(long), smart_turn.features(long[-WINDOW_SAMPLES:])
    )


# espeak ends every utterance with a sentence's falling pitch, which Smart Turn hears as an end
# whatever the words: most bare cut-offs ("I think that the") score as complete. A hesitation
# ("um") after the cut-off it hears reliably; the one bare cut-off here is one it gets right.
@pytest.mark.models
@pytest.mark.parametrize(
    ("complete", "cut_off"),
    [
        ("What is photosynthesis?", "What is, um"),
        ("I don't understand fractions.", "I don't understand, um"),
        ("Can you tell me about the water cycle?", "Can you tell me about the"),
    ],
)
def test_a_finished_turn_scores_above_its_cut_off_start(
    smart_turn: SmartTurn, complete: str, cut_off: str
) -> None:
    # The detector is asked once the VAD has heard a pause: the turn ends in 200 ms of silence.
    finished = smart_turn.predict(np.concatenate([espeak(complete), silence(0.2)]))
    unfinished = smart_turn.predict(np.concatenate([espeak(cut_off), silence(0.2)]))
    print(
        f"{complete!r}: {finished.probability:.3f}; {cut_off!r}: {unfinished.probability:.3f}"
        f" ({finished.inference_ms:.0f} ms)"
    )
    assert finished.probability > unfinished.probability + 0.3
    assert finished.complete and not unfinished.complete
    assert finished.inference_ms > 0


# --- Smart Turn at the VAD's pauses, on natural speech ------------------------------------------


@pytest.fixture(scope="module")
def piper() -> Iterator[PiperTTS]:
    tts = load_piper()
    yield tts
    asyncio.run(tts.aclose())


def listen(audio: Samples, smart_turn: SmartTurn) -> list[tuple[VadEvent, float | None]]:
    """Silero and Smart Turn as the pipeline runs them, in audio time: 20 ms frames, each pause
    judged at once and its verdict handed in with the next frame. Returns the turn events, each
    pause with the probability the model gave it."""
    stream = VadStream(SileroVad().scorer(), VoiceSettings(), detector=True)
    heard: list[tuple[VadEvent, float | None]] = []
    verdicts: list[Verdict] = []
    for i in range(0, len(audio), 320):
        events, verdicts = stream.feed(audio[i : i + 320], verdicts), []
        for item in events:
            probability = None
            if isinstance(item, SpeechPaused):
                guess = smart_turn.predict(item.audio)
                verdicts.append(Verdict(item.pause, guess.complete))
                probability = guess.probability
            if isinstance(item, SpeechStarted | SpeechPaused | SpeechResumed | SpeechEnded):
                heard.append((item, probability))
    print([(type(e).__name__, p) for e, p in heard])
    return heard


@pytest.mark.models
def test_a_finished_question_ends_at_the_pause(smart_turn: SmartTurn, piper: PiperTTS) -> None:
    question = piper_speech(piper, "Can you explain how photosynthesis works in plants?")
    heard = listen(np.concatenate([silence(0.5), question, silence(2.5)]), smart_turn)
    assert [type(e).__name__ for e, _ in heard] == ["SpeechStarted", "SpeechPaused", "SpeechEnded"]
    end = heard[-1][0]
    assert isinstance(end, SpeechEnded) and end.reason == "smart_turn"
    # Judged at the 250 ms pause: the turn ends well before 500 ms of silence would end it.
    assert end.trailing_silence_s < 0.4


@pytest.mark.models
def test_a_student_thinking_is_not_cut_off(smart_turn: SmartTurn, piper: PiperTTS) -> None:
    audio = np.concatenate(
        [
            silence(0.5),
            piper_speech(piper, "The answer is, um"),
            silence(1.2),
            piper_speech(piper, "seven."),
            silence(3.0),
        ]
    )
    heard = listen(audio, smart_turn)
    assert [type(e).__name__ for e, _ in heard] == [
        "SpeechStarted",
        "SpeechPaused",
        "SpeechResumed",
        "SpeechPaused",
        "SpeechEnded",
    ]
    first_pause = heard[1][1]
    assert first_pause is not None and first_pause < THRESHOLD  # "um": not done yet
    end = heard[-1][0]
    assert isinstance(end, SpeechEnded)
    # One turn: "seven" is in it, after the 1.2 s pause.
    assert len(end.audio) / ASR_RATE > 1.2 + 1.0
    assert end.reason in ("smart_turn", "max_pause")
