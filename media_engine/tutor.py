"""What the engine needs to know about a tutor, and the system prompt made from it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

LANGUAGE_NAMES = {"en": "English", "zh": "Chinese (Mandarin, simplified characters)"}


@dataclass(frozen=True, kw_only=True)
class TutorProfile:
    """A tutor as the engine sees it."""

    id: int
    name: str
    subject: str
    language: str = "en"
    persona_prompt: str = ""
    voice: str = "af_heart"
    kb_id: int | None = None

    def system_prompt(self) -> str:
        language = LANGUAGE_NAMES.get(self.language, self.language)
        persona = self.persona_prompt.strip() or f"You are a friendly {self.subject} tutor."
        return (
            f"{persona}\n"
            f"Your name is {self.name}. You teach {self.subject}.\n"
            f"Always answer in {language}. This is a spoken conversation with a student: "
            "answer in two or three short sentences of plain text, with no lists, markdown or "
            "code blocks, and ask a short question back when it helps the student learn."
        )


def join_words(parts: Iterable[str], language: str) -> str:
    """Pieces of one text joined as the language writes them: Chinese has no spaces."""
    joiner = "" if language == "zh" else " "
    return joiner.join(p for p in parts if p).strip()
