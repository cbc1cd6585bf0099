"""How long the synthesizer takes for a chunk of text, learnt from the chunks it made.

Synthesis costs a fixed part (the model's start, the phonemizer) plus a part per character,
and both change with what else the cores are doing (the model writing the rest of the reply,
other calls). A straight line through the last few live chunks of a language follows that;
the speaker uses it to cut a chunk that would not be ready before the audio ahead of it has
played (media_engine.speaking).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

SAMPLES = 24  # the most recent chunks: a minute or so of a reply's speech
LEAST_SAMPLES = 4  # fewer say too little to cut anything by


class SynthesisCost:
    """Seconds of synthesis per chunk of `n` characters, for one language. Thread-safe: the
    synthesizer's threads add, the event loop estimates."""

    def __init__(self) -> None:
        self._samples: deque[tuple[int, float]] = deque(maxlen=SAMPLES)
        self._lock = threading.Lock()

    def add(self, characters: int, seconds: float) -> None:
        if characters > 0 and seconds >= 0:
            with self._lock:
                self._samples.append((characters, seconds))

    def estimate(self, characters: int) -> float | None:
        """The expected seconds for `characters`, or None until a few chunks were made."""
        line = self.line()
        return None if line is None else line(characters)

    def line(self) -> CostLine | None:
        """The costs as the chunks so far tell them (fitted once: ask it about several
        cuts of one chunk), or None until a few chunks were made."""
        with self._lock:
            samples = list(self._samples)
        if len(samples) < LEAST_SAMPLES:
            return None
        n = [float(c) for c, _ in samples]
        t = [s for _, s in samples]
        mean_n, mean_t = sum(n) / len(n), sum(t) / len(t)
        spread = sum((x - mean_n) ** 2 for x in n)
        if spread > 0:
            slope = sum((x - mean_n) * (y - mean_t) for x, y in zip(n, t, strict=True)) / spread
            fixed = mean_t - slope * mean_n
            if slope > 0 and fixed >= 0:
                return CostLine(fixed=fixed, per_character=slope)
        # Chunks all of one size, or a line that says nothing sensible: cost in proportion.
        return CostLine(fixed=0.0, per_character=mean_t / mean_n)


@dataclass(frozen=True)
class CostLine:
    """Seconds of synthesis for a chunk: a fixed part and a part per character."""

    fixed: float
    per_character: float

    def __call__(self, characters: int) -> float:
        return self.fixed + self.per_character * characters
