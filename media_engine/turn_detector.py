"""End-of-turn detection: has the student finished, or only paused mid-sentence?

VAD silence alone cannot tell "What is photosynthesis?" from "The answer is, um" followed by a
pause. A `TurnDetector` looks at the utterance's audio when the VAD hears a pause and guesses.

Usage (the detector is blocking and shared; run it off the event loop)::

    detector: TurnDetector = SmartTurn(ModelPaths(models_dir).smart_turn)  # or VadOnly()
    guess = await loop.run_in_executor(executor, detector.predict, utterance)  # 16 kHz mono f32
    if guess.complete:
        ...  # answer now
    else:
        ...  # keep listening; the silence timer still ends the turn if the student says no more

`SmartTurn` runs pipecat's Smart Turn v3.2 model (a Whisper-tiny encoder with a classifier head,
8 MB ONNX, CPU build), fed exactly as pipecat's `LocalSmartTurnAnalyzerV3` feeds it. `VadOnly` is
the fallback when that model is not installed: it always says complete, which leaves the
decision to the pipeline's silence timer, as before.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import onnxruntime as rt

from media_engine.audio import ASR_RATE, Samples

# Smart Turn v3 hears the last 8 s of the turn at 16 kHz.
WINDOW_S = 8
WINDOW_SAMPLES = WINDOW_S * ASR_RATE
# pipecat's decision rule: the model's sigmoid output above one half is "complete".
THRESHOLD = 0.5
# Whisper's zero-mean unit-variance normalization guards its division with this.
_NORM_EPS = 1e-7


@dataclass(frozen=True)
class TurnGuess:
    """What a detector thinks of the audio heard so far."""

    complete: bool
    """The student has finished their turn."""
    probability: float
    """The model's probability that the turn is complete (1.0 from `VadOnly`)."""
    inference_ms: float
    """Time `predict` took, features included."""


class TurnDetector(Protocol):
    """Guesses whether an utterance is a finished turn. Blocking; thread-safe."""

    name: str

    def predict(self, audio: Samples) -> TurnGuess:
        """`audio`: the utterance so far, 16 kHz mono float32 in [-1, 1]."""
        ...


class VadOnly:
    """No model: every pause is the end of the turn, so the VAD's silence timer decides."""

    name = "vad-only"

    def predict(self, audio: Samples) -> TurnGuess:
        return TurnGuess(complete=True, probability=1.0, inference_ms=0.0)


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
        options = rt.SessionOptions()
        options.execution_mode = rt.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = threads
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
            complete=probability > self.threshold,
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
