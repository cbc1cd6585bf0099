"""The transcript started at a dip is used only for the pause that dip began."""

from __future__ import annotations

import asyncio

import pytest

from media_engine.asr import Transcript
from media_engine.utterance import Utterance

pytestmark = pytest.mark.asyncio


async def _heard() -> Transcript | None:
    await asyncio.sleep(10)
    return None


async def test_the_dips_transcript_serves_the_pause_it_began() -> None:
    utterance = Utterance(turn_id="t")
    utterance.early, utterance.early_from = asyncio.create_task(_heard()), 40
    early = utterance.early
    assert utterance.take_early(40) is early and not early.cancelled()
    assert utterance.take_early(40) is None  # taken once
    early.cancel()


async def test_a_dip_the_student_spoke_after_is_given_up() -> None:
    utterance = Utterance(turn_id="t")
    utterance.early, utterance.early_from = asyncio.create_task(_heard()), 40
    early = utterance.early
    assert utterance.take_early(55) is None
    await asyncio.sleep(0)
    assert early.cancelled()
