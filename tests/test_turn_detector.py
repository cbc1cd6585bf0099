"""End-of-turn detection: Smart Turn v3.2 on espeak speech, and the VAD-only fallback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.paths import ModelPaths
from media_engine.turn_detector import WINDOW_SAMPLES, SmartTurn, TurnDetector, VadOnly
from tests.voice_helpers import MODELS_DIR, espeak, silence


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


def test_vad_only_leaves_the_decision_to_the_silence_timer() -> None:
    detector: TurnDetector = VadOnly()
    guess = detector.predict(silence(0.5))
    assert guess.complete and guess.probability == 1.0


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
