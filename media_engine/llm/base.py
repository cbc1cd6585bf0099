"""The LLM stage: a backend implements `stream`, yielding text pieces as they are generated."""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal, TypedDict

from media_engine.errors import StageError


class ChatMessage(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


class LLMError(StageError):
    """Generation failed; `retryable` says whether the same request may work later."""

    code = "llm_error"


@dataclass(frozen=True, kw_only=True)
class GenerationOptions:
    """Per-request options."""

    max_tokens: int = 256
    """Longest reply."""
    temperature: float = 0.6
    """Sampling temperature; low keeps a tutor on topic."""


class LLM(abc.ABC):
    """A chat model. Cancelling the iteration (or `aclose` on it) stops generation."""

    name: str = "llm"

    @abc.abstractmethod
    def stream(self, messages: list[ChatMessage], options: GenerationOptions) -> AsyncIterator[str]:
        """Yield the reply to `messages` piece by piece. A last message from the assistant is
        the reply's start: the model goes on from it, and only what follows is yielded."""

    async def warm_up(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Load and exercise the model so the first real turn is not the slow one."""

    async def prefill(self, messages: list[ChatMessage]) -> None:  # noqa: B027 - optional hook
        """Read `messages` ahead of time where the backend caches a prompt prefix (a call's
        fixed system prompt), so the first reply starts sooner. Best effort."""

    def cached_bytes(self) -> int:
        """Memory the backend keeps between replies on purpose (saved prompt reads)."""
        return 0

    async def forget_conversations(self) -> None:  # noqa: B027 - optional hook
        """No call is open: drop what was kept for a conversation (its prompt reads)."""

    def stop_reading_ahead(self) -> None:  # noqa: B027 - optional hook
        """Stop a `prefill` at its next step: the cores are needed now (a reply's first words
        are being synthesized). The reply reads whatever it left unread."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Release the model."""
