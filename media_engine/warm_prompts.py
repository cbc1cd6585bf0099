"""The tutors' system prompts read when the engine starts, so no student waits for that.

The system prompt is ~320 tokens; the default model reads about 37 tokens a second on 2 cores,
so a tutor's first call after a start would wait ~9 s for it before its first reply could go on.
Once read, a prompt's reading is kept (media_engine.llm.llama_states) and every call to that tutor
starts from it. The tutors called most recently go first; a reading gives way to any reply
(the backend's prefill only runs while the model is idle).
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

from media_engine.answering import system_message
from media_engine.llm.base import LLM
from media_engine.store import TurnStore

log = logging.getLogger(__name__)


async def read_tutor_prompts(store: TurnStore, llm: LLM, *, grounded: bool, limit: int) -> int:
    """Have `llm` read the system prompts of up to `limit` tutors (`grounded`: the engine
    searches course material); returns how many."""
    if limit <= 0:
        return 0
    try:
        tutors = await store.tutors_in_use(limit)
    except (SQLAlchemyError, OSError) as exc:
        log.warning("no system prompts read ahead: %s", type(exc).__name__)
        return 0
    for tutor in tutors:
        prompt = system_message(tutor, grounded=grounded)
        await llm.prefill([{"role": "system", "content": prompt}])
    log.info("system prompts of %d tutors read ahead", len(tutors))
    return len(tutors)
