"""Who gets the CPU cores when the models run at once.

On the 2-core machine every model wants both cores. Measured with both at two threads, the
model wrote 6.5 tokens a second and Kokoro took 0.72 s per second of audio; with the model on
one thread while a chunk is synthesized, 9.5 tokens a second and 0.60 s (alone: 22.6 tokens a
second, 0.44 s). Audio that falls behind is heard as silence; text that falls behind is not,
while the audio already made plays. So the synthesizers say when they run (`synthesizing`), and
the model uses one thread meanwhile (media_engine.llm.llama_backend).

Likewise the end of the student's turn: its final transcript and the end-of-turn model are what
the student waits for, while the model reading a prompt ahead (the history, after a reply) is
not. Beside such a read, both took twice as long (Smart Turn 200-280 ms instead of 80-160,
tiny.en 360-410 ms instead of 160-200), so they say when they run (`hearing`), and a read
ahead waits meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager


class _Running:
    """How many jobs of one kind run now, on any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    @contextmanager
    def job(self) -> Iterator[None]:
        with self._lock:
            self._count += 1
        try:
            yield
        finally:
            with self._lock:
                self._count -= 1

    def __bool__(self) -> bool:
        return self._count > 0


_synthesis = _Running()
_hearing = _Running()


def synthesizing() -> AbstractContextManager[None]:
    """Around one synthesis, on the synthesizer's own thread."""
    return _synthesis.job()


def synthesis_running() -> bool:
    """Whether speech is being synthesized now (read between the model's steps)."""
    return bool(_synthesis)


def hearing() -> AbstractContextManager[None]:
    """Around a final transcript or an end-of-turn judgment, on the model's own thread."""
    return _hearing.job()


def hearing_running() -> bool:
    """Whether the end of a student's turn is being worked out now."""
    return bool(_hearing)
