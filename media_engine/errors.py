"""Engine errors. Each says whether trying again can help, and carries a stable code."""

from __future__ import annotations


class EngineError(Exception):
    """Base of the engine's errors; `code` is what the client sees in an error event."""

    code = "engine_error"
    retryable = False

    def __init__(self, message: str, *, code: str | None = None, retryable: bool | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code
        if retryable is not None:
            self.retryable = retryable


class CapacityError(EngineError):
    """Every call slot of this engine is taken; try again later."""

    code = "engine_full"
    retryable = True


class CallNotFound(EngineError):
    """No such call on this engine (never created, or already ended)."""

    code = "not_found"


class BadOffer(EngineError):
    """The SDP offer cannot be used."""

    code = "bad_offer"


class StageError(EngineError):
    """A pipeline stage (LLM, ASR, TTS) failed for one turn; the call goes on."""
