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
    answer_policy: str = "course_first"
    """course_first or course_only (storage.models.ANSWER_POLICIES)."""

    def system_prompt(self) -> str:
        """The part of the prompt that stays the same all call long (the model caches it)."""
        language = LANGUAGE_NAMES.get(self.language, self.language)
        persona = self.persona_prompt.strip() or f"You are a friendly {self.subject} tutor."
        return (
            f"{persona}\n"
            f"Your name is {self.name}. You teach {self.subject} to school students.\n"
            f"Always answer in {language}. This is a spoken conversation: answer in one to "
            "three short, correct sentences of plain text, with no lists, markdown or code. "
            "When a student asks for help with an exercise, give a hint or the next step rather "
            "than the whole solution, and ask a short question to check they understand.\n"
            "The student's words come from speech recognition and may contain misheard words; "
            "if a question is unclear, ask the student to say it again instead of guessing. "
            "Never invent facts: if you are not sure, say you don't know."
        )


def join_words(parts: Iterable[str], language: str) -> str:
    """Pieces of one text joined as the language writes them: Chinese has no spaces."""
    joiner = "" if language == "zh" else " "
    return joiner.join(p for p in parts if p).strip()
