"""Engine errors. Each says whether trying again can help, and carries a stable code.

Each also carries the HTTP status (and headers) it is answered with, so the engine's API and the
signaling tier, which both hand these errors to clients, answer them alike.
"""

from __future__ import annotations

from aiohttp import web

from core.http import http_error


class EngineError(Exception):
    """Base of the engine's errors; `code` is what the client sees in an error event."""

    code = "engine_error"
    retryable = False
    http_status = 500
    http_headers: dict[str, str] = {}

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
    http_status = 503
    http_headers = {"Retry-After": "5"}


class TooManySessions(EngineError):
    """The student already has as many open sessions as one student may; end one first."""

    code = "too_many_sessions"
    http_status = 429


class CallNotFound(EngineError):
    """No such call on this engine (never created, or already ended)."""

    code = "not_found"
    http_status = 404


class CallExists(EngineError):
    """The session already has a call; one session, one call."""

    code = "call_exists"
    http_status = 409


class BadOffer(EngineError):
    """The SDP offer cannot be used."""

    code = "bad_offer"
    http_status = 400


class UnsupportedOffer(BadOffer):
    """A well-formed offer the engine cannot serve (media without audio)."""

    code = "unsupported_offer"
    http_status = 422


class StageError(EngineError):
    """A pipeline stage (LLM, ASR, TTS) failed for one turn; the call goes on."""


def engine_http_error(exc: EngineError) -> web.HTTPException:
    """The JSON error response for `exc`, with its status, code and headers.

    The error middleware answers a 4xx `http_status` on its own, but with a generic code and not
    for 5xx; handlers raise this instead so the client always gets the engine's code.
    """
    return http_error(exc.http_status, str(exc), code=exc.code, headers=exc.http_headers)
