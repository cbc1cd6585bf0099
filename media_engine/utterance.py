"""The student's turn as the voice pipeline hears it (media_engine.voice)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from media_engine.asr import Transcript


@dataclass
class Utterance:
    """The student's turn being heard."""

    turn_id: str
    partial: asyncio.Task[None] | None = None
    speculative: asyncio.Task[Transcript | None] | None = None
    early: asyncio.Task[Transcript | None] | None = None
    """The final transcript started at a dip in the speech (`SpeechDipped`) ..."""
    early_from: int = -1
    """... whose silence began at this window of the utterance."""
    carried: str = ""
    """Words of an earlier utterance the student went on from before it was answered."""
    last_partial: str = ""
    guess: asyncio.Task[None] | None = None
    """The opening being made ready from a partial transcript not settled yet."""
    searched: str = ""
    """The partial transcript whose course material was last searched for."""

    def take_early(self, silence_from: int) -> asyncio.Task[Transcript | None] | None:
        """The transcript started at the dip that began the silence now paused at
        `silence_from`, if there is one; one started at an earlier dip (the student spoke
        on) is stale, and given up."""
        early, same = self.early, self.early_from == silence_from
        self.early, self.early_from = None, -1
        if early is not None and not same:
            early.cancel()
            return None
        return early
