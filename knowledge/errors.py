"""Knowledge-base errors; each message says what the user can do about it."""

from __future__ import annotations


class KnowledgeError(Exception):
    """A knowledge base cannot do what was asked (missing model, unknown base, bad state)."""


class UploadRejected(KnowledgeError):
    """An uploaded document cannot be used; `status` is the HTTP status that fits it."""

    def __init__(self, message: str, *, status: int = 422, code: str = "invalid_document") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class DocumentUnreadable(KnowledgeError):
    """A stored document could not be parsed; ingestion marks it failed with this message."""
