"""Turn-taking on VAD probabilities: scripted first (with scripted end-of-turn verdicts), then
silero on real (espeak) speech."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np
import pytest

from core.settings import Settings, SettingsError, VoiceSettings
from media_engine.audio import Samples
from media_engine.turn_detector import THRESHOLD, Verdict
from media_engine.vad import (
    ONSET_WINDOWS,
    WINDOW,
    SileroVad,
    SpeechDipped,
    SpeechDismissed,
    SpeechEnded,
    SpeechLikely,
    SpeechPaused,
    SpeechProgress,
    SpeechScorer,
    SpeechStarted,
    VadEvent,
    VadStream,
)
from tests.voice_helpers import espeak, silence

SETTINGS = VoiceSettings(min_speech_ms=200, end_silence_ms=500, partial_interval_ms=500)


class Script(SpeechScorer):
    """Probabilities read off a list, one per window."""

    def __init__(self, probabilities: list[float]) -> None:
        self._probabilities = iter(probabilities)

    def score(self, window: Samples) -> float:
        return next(self._probabilities)


def kinds(events: Sequence[VadEvent]) -> list[str]:
    return [type(e).__name__ for e in events]


def turn_events(events: Sequence[VadEvent]) -> list[VadEvent]:
    """The events about turns, without the early hints that only hush the tutor or start a
    transcript."""
    return [e for e in events if not isinstance(e, SpeechLikely | SpeechDismissed | SpeechDipped)]


def run_script(
    probabilities: list[float], settings: VoiceSettings = SETTINGS, *, hints: bool = False
) -> list[VadEvent]:
    stream = VadStream(Script(probabilities), settings)
    # Odd-sized feeds, as 20 ms frames resampled by a filter would arrive.
    events = stream.feed(np.zeros(len(probabilities) * WINDOW, dtype=np.float32))
    return events if hints else turn_events(events)


def windows(ms: float) -> int:
    return round(ms / 32)


def test_silence_gives_no_events() -> None:
    assert run_script([0.0] * 200) == []


def test_a_click_is_too_short_to_be_speech() -> None:
    assert run_script([0.0] * 10 + [0.9] * 3 + [0.0] * 40) == []
    # ... though its first window hushes the tutor, and its end lets it talk on.
    hints = run_script([0.0] * 10 + [0.9] * 3 + [0.0] * 40, hints=True)
    assert kinds(hints) == ["SpeechLikely", "SpeechDismissed"]


def test_speech_is_hinted_at_its_first_window() -> None:
    events = run_script([0.0] * 10 + [0.9] * 20 + [0.0] * 30, hints=True)
    assert kinds(events)[:2] == ["SpeechLikely", "SpeechStarted"]


def frames_of(level_dbfs: float, seconds: float) -> Samples:
    """Noise at `level_dbfs` RMS, as 16 kHz samples."""
    noise = np.random.default_rng(7).standard_normal(int(seconds * 16_000))
    return (noise * 10 ** (level_dbfs / 20)).astype(np.float32)


def feed_frames(stream: VadStream, audio: Samples) -> list[list[VadEvent]]:
    """`audio` fed in 20 ms frames, as it arrives; the events of each feed."""
    return [stream.feed(audio[i : i + 320]) for i in range(0, len(audio), 320)]


def test_a_loud_onset_hushes_at_its_first_frame_and_silero_confirms_it() -> None:
    # Silero hears speech only from its third window; the level rose in the first frame.
    stream = VadStream(Script([0.0] * 31 + [0.2, 0.3] + [0.9] * 40), SETTINGS)
    fed = feed_frames(stream, np.concatenate([silence(1.0), frames_of(-25, 1.3)]))
    first = next(i for i, events in enumerate(fed) if events)
    assert first == 50  # the first loud frame, not the ~3 windows later silero needs
    assert kinds(fed[first]) == ["SpeechLikely"]
    hints = kinds([e for events in fed for e in events])
    assert hints.count("SpeechLikely") == 1 and "SpeechDismissed" not in hints
    assert "SpeechStarted" in hints


def test_a_loud_sound_that_is_not_speech_lets_the_tutor_talk_on() -> None:
    stream = VadStream(Script([0.0] * 100), SETTINGS)
    fed = feed_frames(stream, np.concatenate([silence(1.0), frames_of(-20, 0.1), silence(1.0)]))
    hints = [(i, type(e).__name__) for i, events in enumerate(fed) for e in events]
    assert [kind for _, kind in hints] == ["SpeechLikely", "SpeechDismissed"]
    # Dismissed after ONSET_WINDOWS of silero's windows: about 130 ms of 20 ms frames.
    assert hints[1][0] - hints[0][0] <= math.ceil(ONSET_WINDOWS * WINDOW / 320) + 1


def test_a_steady_loud_room_stops_counting_as_onsets() -> None:
    stream = VadStream(Script([0.0] * 400), SETTINGS)
    fed = feed_frames(stream, frames_of(-35, 12.0))
    likely = [i for i, events in enumerate(fed) for e in events if isinstance(e, SpeechLikely)]
    # A few at first, while the floor climbs to the room's level; none after.
    assert likely and max(likely) < 250


def test_a_quiet_rise_is_left_to_silero() -> None:
    # 10 dB over a -70 dBFS room is far below anything a voice at a microphone makes.
    stream = VadStream(Script([0.0] * 100), SETTINGS)
    fed = feed_frames(stream, np.concatenate([frames_of(-70, 1.0), frames_of(-55, 1.0)]))
    assert not any(fed)


def test_a_turn_starts_pauses_and_ends() -> None:
    probabilities = [0.0] * 10 + [0.9] * windows(1000) + [0.0] * windows(600)
    events = run_script(probabilities)
    assert 1 <= kinds(events).count("SpeechProgress") <= 3  # every 500 ms of the utterance
    events = [e for e in events if not isinstance(e, SpeechProgress)]
    assert kinds(events) == ["SpeechStarted", "SpeechPaused", "SpeechEnded"]
    end = events[-1]
    assert isinstance(end, SpeechEnded) and not end.forced
    assert end.trailing_silence_s == pytest.approx(0.5, abs=0.04)
    # Pre-roll (300 ms) + speech (1 s) + the silence that ended it (0.5 s).
    assert len(end.audio) / 16_000 == pytest.approx(1.8, abs=0.1)
    pause = events[-2]
    assert isinstance(pause, SpeechPaused)
    assert len(pause.audio) < len(end.audio)


def test_a_dip_starts_the_transcript_of_the_pause_it_becomes() -> None:
    probabilities = [0.9] * 20 + [0.0] * windows(600)
    events = [e for e in run_script(probabilities, hints=True) if not isinstance(e, SpeechLikely)]
    kinds_ = [k for k in kinds(events) if k != "SpeechProgress"]
    assert kinds_ == ["SpeechStarted", "SpeechDipped", "SpeechPaused", "SpeechEnded"]
    dip = next(e for e in events if isinstance(e, SpeechDipped))
    pause = next(e for e in events if isinstance(e, SpeechPaused))
    assert dip.silence_from == pause.silence_from  # the same silence, heard for longer
    # The dip's audio is the pause's, less the silence heard since: nothing said is missing.
    assert len(pause.audio) - len(dip.audio) == (windows(250) - windows(64)) * WINDOW


def test_a_pause_is_judged_once() -> None:
    # Silero unsure of the window after the pause began: the pause goes on, and is not heard
    # (and judged) again, which gave the turn model a second chance to call it finished.
    probabilities = [0.9] * 20 + [0.0] * windows(250) + [0.4] + [0.0] * windows(600)
    events = run_script(probabilities, VoiceSettings(min_speech_ms=200, end_silence_ms=2000))
    assert kinds(events).count("SpeechPaused") == 1


def test_silero_unsure_of_a_silent_window_does_not_restart_the_silence() -> None:
    tone = 0.1 * np.sin(np.arange(windows(1000) * WINDOW) * 2 * math.pi * 220 / 16_000)
    audio = np.concatenate([tone, np.zeros(windows(700) * WINDOW)]).astype(np.float32)
    # Silent all along, but silero flickers between its thresholds after the dip.
    after = [0.0, 0.0, 0.4, 0.0] + [0.0] * (windows(700) - 4)
    events = VadStream(Script([0.9] * windows(1000) + after), SETTINGS).feed(audio)
    dips = [e for e in events if isinstance(e, SpeechDipped)]
    pause = next(e for e in events if isinstance(e, SpeechPaused))
    # One silence: the transcript begun at its dip is the one the pause uses.
    assert len(dips) == 1 and dips[0].silence_from == pause.silence_from


def test_a_dip_the_student_speaks_after_is_not_the_pause() -> None:
    probabilities = [0.9] * 20 + [0.0] * 3 + [0.9] * 20 + [0.0] * windows(600)
    events = [e for e in run_script(probabilities, hints=True) if not isinstance(e, SpeechLikely)]
    dips = [e for e in events if isinstance(e, SpeechDipped)]
    pause = next(e for e in events if isinstance(e, SpeechPaused))
    assert len(dips) == 2
    assert dips[0].silence_from != pause.silence_from == dips[1].silence_from


def test_a_gap_between_words_is_no_dip() -> None:
    probabilities = [0.9] * 20 + [0.0] + [0.9] * 20 + [0.0] * windows(600)
    dips = [e for e in run_script(probabilities, hints=True) if isinstance(e, SpeechDipped)]
    assert len(dips) == 1  # the end's only


def test_speech_after_a_pause_resumes_the_turn() -> None:
    probabilities = [0.9] * 20 + [0.0] * windows(300) + [0.9] * 20 + [0.0] * windows(600)
    events = run_script(probabilities)
    assert [k for k in kinds(events) if k != "SpeechProgress"] == [
        "SpeechStarted",
        "SpeechPaused",
        "SpeechResumed",
        "SpeechPaused",
        "SpeechEnded",
    ]


def test_hysteresis_keeps_a_turn_through_a_dip() -> None:
    probabilities = [0.9] * 20 + [0.4] * windows(800) + [0.9] * 5 + [0.0] * windows(600)
    events = [e for e in run_script(probabilities) if not isinstance(e, SpeechProgress)]
    assert kinds(events) == ["SpeechStarted", "SpeechPaused", "SpeechEnded"]


def test_endless_speech_is_cut() -> None:
    settings = VoiceSettings(min_speech_ms=200, end_silence_ms=500, max_utterance_s=2.0)
    events = run_script([0.9] * windows(7000), settings)
    ends = [e for e in events if isinstance(e, SpeechEnded)]
    assert len(ends) == 3
    assert all(e.forced and len(e.audio) <= 2.05 * 16_000 for e in ends)
    assert kinds(events).count("SpeechStarted") == 4  # the talk goes on after each cut


def run_judged(
    probabilities: list[float],
    judged: list[float],
    *,
    delay: int = 2,
    detector: bool = True,
    expect_answer: bool = False,
) -> list[VadEvent]:
    """Feed one window at a time; each pause is judged `delay` windows after it is heard (the
    detector at work), with the next of the `judged` probabilities, as the pipeline does."""
    stream = VadStream(Script(probabilities), SETTINGS, detector=detector)
    stream.expect_answer = expect_answer
    scripted = iter(judged)
    due: list[tuple[int, Verdict]] = []
    events: list[VadEvent] = []
    for i in range(len(probabilities)):
        ready = [verdict for at, verdict in due if at <= i]
        due = [(at, verdict) for at, verdict in due if at > i]
        heard = stream.feed(np.zeros(WINDOW, dtype=np.float32), ready)
        for item in heard:
            if isinstance(item, SpeechPaused):
                due.append((i + delay, Verdict(item.pause, next(scripted) >= THRESHOLD)))
        events += heard
    return [e for e in turn_events(events) if not isinstance(e, SpeechProgress)]


def the_end(events: Sequence[VadEvent]) -> SpeechEnded:
    (end,) = [e for e in events if isinstance(e, SpeechEnded)]
    return end


QUESTION = [0.0] * 10 + [0.9] * windows(1000) + [0.0] * windows(2500)


def test_a_pause_judged_complete_ends_the_turn_at_once() -> None:
    events = run_judged(QUESTION, [0.9])
    assert kinds(events) == ["SpeechStarted", "SpeechPaused", "SpeechEnded"]
    end = the_end(events)
    assert end.reason == "smart_turn" and not end.forced
    # The pause (250 ms) and the detector's two windows: well before 500 ms of silence.
    assert end.trailing_silence_s == pytest.approx(0.29, abs=0.04)


def test_a_pause_judged_unfinished_waits_for_the_longest_pause() -> None:
    events = run_judged(QUESTION, [0.1])
    assert kinds(events) == ["SpeechStarted", "SpeechPaused", "SpeechEnded"]
    end = the_end(events)
    assert end.reason == "max_pause"
    assert end.trailing_silence_s == pytest.approx(2.0, abs=0.04)  # VAD_MAX_PAUSE_MS


def test_a_short_answer_to_the_tutors_question_is_not_left_waiting() -> None:
    # "Photosynthesis." (0.8 s) after the tutor asked a question: the turn model often hears a
    # one-word reply as unfinished, so it ends after VAD_ANSWER_PAUSE_MS, not the longest pause.
    word = [0.0] * 10 + [0.9] * windows(800) + [0.0] * windows(2500)
    end = the_end(run_judged(word, [0.1], expect_answer=True))
    assert end.reason == "max_pause"
    assert end.trailing_silence_s == pytest.approx(0.7, abs=0.04)
    # Not after a question, or a longer utterance: the student may be thinking, so it waits.
    assert the_end(run_judged(word, [0.1])).trailing_silence_s == pytest.approx(2.0, abs=0.04)
    sentence = [0.0] * 10 + [0.9] * windows(1500) + [0.0] * windows(2500)
    longer = the_end(run_judged(sentence, [0.1], expect_answer=True))
    assert longer.trailing_silence_s == pytest.approx(2.0, abs=0.04)


def test_speech_after_an_unfinished_pause_is_the_same_utterance() -> None:
    # "The answer is, um" ... 1.2 s ... "seven".
    probabilities = [0.9] * 30 + [0.0] * windows(1200) + [0.9] * 15 + [0.0] * windows(2500)
    events = run_judged(probabilities, [0.1, 0.9])
    assert kinds(events) == [
        "SpeechStarted",
        "SpeechPaused",
        "SpeechResumed",
        "SpeechPaused",
        "SpeechEnded",
    ]
    end = the_end(events)
    assert end.reason == "smart_turn"
    assert len(end.audio) >= (30 + windows(1200) + 15) * WINDOW  # both parts, one turn


def test_a_verdict_on_a_pause_the_student_spoke_after_is_ignored() -> None:
    # The first pause's verdict ("complete") comes only once speech has resumed: it must not
    # end the turn in the middle of the second part.
    probabilities = [0.9] * 20 + [0.0] * 10 + [0.9] * 30 + [0.0] * windows(2500)
    events = run_judged(probabilities, [0.9, 0.9], delay=15)
    assert kinds(events) == [
        "SpeechStarted",
        "SpeechPaused",
        "SpeechResumed",
        "SpeechPaused",
        "SpeechEnded",
    ]
    end = the_end(events)
    assert end.reason == "smart_turn" and len(end.audio) >= (20 + 10 + 30) * WINDOW


def test_without_a_detector_turns_end_on_silence_as_before() -> None:
    # TURN_DETECTOR=vad: the same events, at the same windows, as a stream that never heard of
    # verdicts, and verdicts handed to it change nothing.
    judged = run_judged(QUESTION, [0.9], detector=False)
    plain = [e for e in run_script(QUESTION) if not isinstance(e, SpeechProgress)]
    assert kinds(judged) == kinds(plain) == ["SpeechStarted", "SpeechPaused", "SpeechEnded"]
    end = the_end(judged)
    assert end.reason == "silence"
    assert (
        end.trailing_silence_s == the_end(plain).trailing_silence_s == pytest.approx(0.5, abs=0.04)
    )
    resumed = [0.9] * 20 + [0.0] * windows(300) + [0.9] * 20 + [0.0] * windows(600)
    assert kinds(run_judged(resumed, [0.9, 0.9], detector=False)) == [
        "SpeechStarted",
        "SpeechPaused",
        "SpeechResumed",
        "SpeechPaused",
        "SpeechEnded",
    ]


def test_turn_detection_settings() -> None:
    assert (VoiceSettings().turn_detector, VoiceSettings().max_pause_ms) == ("smart_turn", 2000)
    base = {"SECRET_KEY": "k" * 40, "VAR_DIR": "var"}
    voice = Settings.from_env(
        {**base, "TURN_DETECTOR": "vad", "VAD_MAX_PAUSE_MS": "3000"}, env_file=None
    ).voice
    assert (voice.turn_detector, voice.max_pause_ms) == ("vad", 3000)
    with pytest.raises(SettingsError, match="TURN_DETECTOR"):
        Settings.from_env({**base, "TURN_DETECTOR": "guess"}, env_file=None)


@pytest.fixture(scope="module")
def silero() -> SileroVad:
    return SileroVad()


@pytest.fixture(scope="module")
def question() -> Samples:
    return espeak("Can you explain how photosynthesis works in plants?")


def feed_in_frames(stream: VadStream, audio: Samples, step: int = 320) -> list[VadEvent]:
    events: list[VadEvent] = []
    for i in range(0, len(audio), step):
        events += stream.feed(audio[i : i + step])
    return turn_events(events)


def test_silero_hears_nothing_in_silence_and_noise(silero: SileroVad) -> None:
    stream = VadStream(silero.scorer(), SETTINGS)
    noise = (np.random.default_rng(1).standard_normal(16_000 * 3) * 0.003).astype(np.float32)
    assert feed_in_frames(stream, np.concatenate([silence(2.0), noise])) == []


def test_silero_finds_the_question(silero: SileroVad, question: Samples) -> None:
    stream = VadStream(silero.scorer(), SETTINGS)
    audio = np.concatenate([silence(1.0), question, silence(1.0)])
    started = time.perf_counter()
    events = feed_in_frames(stream, audio)
    per_window_ms = (time.perf_counter() - started) / (len(audio) / WINDOW) * 1000
    assert isinstance(events[0], SpeechStarted)
    ends = [e for e in events if isinstance(e, SpeechEnded)]
    assert len(ends) == 1 and not ends[0].forced
    # espeak pads its own speech with a little silence; the utterance adds pre-roll and tail.
    assert len(ends[0].audio) / 16_000 == pytest.approx(len(question) / 16_000, abs=1.0)
    assert per_window_ms < 5  # about 0.3 ms on one core; 32 ms of audio each


def test_silero_cuts_endless_speech(silero: SileroVad, question: Samples) -> None:
    settings = VoiceSettings(max_utterance_s=3.0)
    stream = VadStream(silero.scorer(), settings)
    events = feed_in_frames(stream, np.concatenate([question] * 5))
    ends = [e for e in events if isinstance(e, SpeechEnded)]
    assert any(e.forced for e in ends)
    assert all(len(e.audio) <= 3.05 * 16_000 for e in ends)


def test_streams_share_the_model_but_not_state(silero: SileroVad, question: Samples) -> None:
    a, b = VadStream(silero.scorer(), SETTINGS), VadStream(silero.scorer(), SETTINGS)
    audio = np.concatenate([silence(0.5), question, silence(1.0)])
    events_a: list[VadEvent] = []
    events_b: list[VadEvent] = []
    # Interleaved: b's silence must not be disturbed by a's speech.
    for i in range(0, len(audio), 320):
        events_a += turn_events(a.feed(audio[i : i + 320]))
        events_b += turn_events(b.feed(np.zeros(320, dtype=np.float32)))
    assert SpeechStarted() in events_a and events_b == []


def test_real_speech_hushes_before_silero_hears_a_window_of_it(
    silero: SileroVad, question: Samples
) -> None:
    audio = np.concatenate([silence(1.0), question, silence(1.0)])
    scorer = silero.scorer()
    heard = next(
        i + WINDOW
        for i in range(0, len(audio) - WINDOW, WINDOW)
        if scorer.score(audio[i : i + WINDOW]) >= SETTINGS.vad_threshold
    )
    fed = feed_frames(VadStream(silero.scorer(), SETTINGS), audio)
    hushed = next((i + 1) * 320 for i, events in enumerate(fed) if events)
    assert isinstance(fed[hushed // 320 - 1][0], SpeechLikely)
    assert hushed < heard  # in samples: the level rose before silero's window ended
