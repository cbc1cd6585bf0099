"""The signaling tier's domain errors. Each knows its HTTP status and error code, which the
error middleware answers with; services raise them, handlers need not catch them."""

from __future__ import annotations


class Refused(Exception):
    """A request the service will not carry out; the message says why."""

    http_status = 422
    error_code: str | None = None

    def __init__(self, message: str, *, status: int = 422, code: str | None = None) -> None:
        super().__init__(message)
        self.http_status = status
        self.error_code = code


def not_found(what: str) -> Refused:
    return Refused(f"no such {what}", status=404, code="not_found")
