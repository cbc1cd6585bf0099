"""Who gets the CPU cores when speech synthesis and the model run at once: synthesis.

On the 2-core machine both engines want both cores. Measured with both at two threads, the
model wrote 6.5 tokens a second and Kokoro took 0.72 s per second of audio; with the model on
one thread while a chunk is synthesized, 9.5 tokens a second and 0.60 s (alone: 22.6 tokens a
second, 0.44 s). Audio that falls behind is heard as silence; text that falls behind is not,
while the audio already made plays. So the synthesizers say when they run (`synthesizing`), and
the model uses one thread meanwhile (media_engine.llm.llama_backend).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_running = 0


@contextmanager
def synthesizing() -> Iterator[None]:
    """Around one synthesis, on the synthesizer's own thread."""
    global _running
    with _lock:
        _running += 1
    try:
        yield
    finally:
        with _lock:
            _running -= 1


def synthesis_running() -> bool:
    """Whether speech is being synthesized now (read between the model's steps)."""
    return _running > 0
