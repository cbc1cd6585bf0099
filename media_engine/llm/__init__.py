"""Text generation backends behind one interface."""

from media_engine.llm.base import LLM, ChatMessage, LLMError

__all__ = ["LLM", "ChatMessage", "LLMError"]
