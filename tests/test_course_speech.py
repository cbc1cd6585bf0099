"""The course material's speech made ahead and kept on disk (media_engine.course_speech,
media_engine.speech_store)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pytest

from knowledge.chunking import chunk_sections
from knowledge.parsing import parse
from knowledge.prompt import spoken_sentences
from media_engine.answering import NOT_COVERED_LEAD, own_work, personal
from media_engine.audio import FRAME_SAMPLES, OUT_RATE
from media_engine.chunking import (
    SpeechChunker,
    first_chunk,
    reply_chunks,
    said_chunks,
    word_pieces,
)
from media_engine.course_speech import CourseSpeech, speak_course_material
from media_engine.speech_store import SUFFIX, SpeechStore
from media_engine.tts import GAP_S, TTS
from media_engine.tutor import TutorProfile
from tests.test_speaking import speaking
from tests.voice_helpers import BrokenVoiceTTS, FakeTTS, rms, tone

DEMO = Path(__file__).resolve().parent.parent / "knowledge" / "demo"


def _pcm(seconds: float) -> np.ndarray:
    audio = tone(seconds, rate=OUT_RATE, freq=330.0)
    return (audio * 32767).astype(np.int16)


def test_the_store_keeps_speech_across_starts(tmp_path: Path) -> None:
    pcm = _pcm(1.234)
    store = SpeechStore(tmp_path)
    assert store.scan("voice-1") == 0
    store.save("voice-1", "abc", pcm)
    assert ("voice-1", "abc") in store and ("voice-2", "abc") not in store
    assert not list(tmp_path.rglob("*.partial"))

    again = SpeechStore(tmp_path)
    assert again.scan("voice-1") == 1 and again.scan("voice-2") == 0
    loaded = again.load("voice-1", "abc")
    assert loaded is not None and loaded.dtype == np.int16
    # Opus holds whole 20 ms frames: the end is padded with silence, never cut.
    assert len(pcm) <= len(loaded) < len(pcm) + FRAME_SAMPLES
    assert rms(loaded[: len(pcm)]) == pytest.approx(rms(pcm), rel=0.1)
    # About 4 KB a second of speech.
    assert (tmp_path / "voice-1" / f"abc{SUFFIX}").stat().st_size < 8_000


def test_an_unreadable_piece_is_forgotten(tmp_path: Path) -> None:
    (tmp_path / "voice-1").mkdir()
    (tmp_path / "voice-1" / f"bad{SUFFIX}").write_bytes(b"not an ogg file")
    store = SpeechStore(tmp_path)
    assert store.scan("voice-1") == 1
    assert store.load("voice-1", "bad") is None
    assert ("voice-1", "bad") not in store


def _demo_sentences(name: str) -> list[list[str]]:
    """Each passage of a demo document as the sentences a reply says."""
    sections = parse((DEMO / name).read_bytes(), "text/markdown")
    return [spoken_sentences(chunk.text) for chunk in chunk_sections(sections)]


@pytest.mark.parametrize("name", ["science_en.md", "maths_en.md", "science_zh.md", "maths_zh.md"])
def test_a_notes_sentence_is_cut_the_same_wherever_it_comes(name: str) -> None:
    # A spoken answer from the notes is a sentence and the next one (Conversation.answer),
    # fed word by word with a mark after each; the speech made ahead is each sentence alone.
    # Every chunk the reply speaks must be one made ahead, or the student waits for it.
    joiner = "" if name.endswith("_zh.md") else " "
    pairs = 0
    for sentences in _demo_sentences(name):
        for lead, following in zip(sentences, sentences[1:], strict=False):
            if not lead or not following:
                continue
            chunker, spoken = SpeechChunker(), []
            for n, sentence in enumerate((lead, following)):
                for piece in word_pieces(sentence if n == 0 else joiner + sentence):
                    spoken += chunker.push(piece)
                rest = chunker.end_sentence()
                spoken += [rest] if rest else []
            assert spoken == said_chunks(lead) + said_chunks(following), (lead, following)
            pairs += 1
    assert pairs > 20


async def test_a_chunk_in_the_store_costs_no_synthesis(tmp_path: Path) -> None:
    tts = FakeTTS()
    assert await tts.use_store(SpeechStore(tmp_path)) == 0
    text = "Plants make their own food."
    assert not tts.stored(text, voice="v", language="en")
    assert await tts.store(text, voice="v", language="en") is True
    assert await tts.store(text, voice="v", language="en") is False  # there already
    assert tts.texts == [text]
    assert tts.stored(text, voice="v", language="en")
    assert not tts.stored(text, voice="other", language="en")

    # Another start of the engine finds it, and never makes it.
    later = FakeTTS()
    assert await later.use_store(SpeechStore(tmp_path)) == 1
    speech = await later.synthesize(text, voice="v", language="en", first=True)
    assert speech.ready_made and later.texts == []
    made = len(text) * later.seconds_per_char + GAP_S
    assert len(speech.pcm) / OUT_RATE == pytest.approx(made, abs=0.03)
    await tts.aclose()
    await later.aclose()


class _Tutors:
    def __init__(self, tutors: list[TutorProfile]) -> None:
        self.tutors = tutors

    async def tutors_in_use(self, limit: int) -> list[TutorProfile]:
        return self.tutors[:limit]


class _Material:
    def __init__(self, texts: dict[int, list[str]]) -> None:
        self.texts_of = texts

    async def texts(self, kb_id: int) -> list[str]:
        return self.texts_of.get(kb_id, [])


NOTES = [
    "Photosynthesis is how green plants make their own food from sunlight. "
    "It happens in the leaves, where a green pigment called chlorophyll takes in the light.",
    "Evaporation turns liquid water into water vapour when it is warmed by the sun.",
]


async def _speak(tts: TTS, tutors: list[TutorProfile], idle: asyncio.Event) -> CourseSpeech:
    progress = CourseSpeech()
    models = SimpleNamespace(tts=tts, piper=None)
    task = asyncio.create_task(
        speak_course_material(
            cast(Any, _Tutors(tutors)),
            cast(Any, _Material({1: NOTES})),
            cast(Any, models),
            limit=4,
            idle=idle,
            progress=progress,
        )
    )
    try:
        for _ in range(100):
            await asyncio.sleep(0.02)
            if progress.health()["done"]:
                break
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return progress


async def test_the_material_is_spoken_ahead_first_chunks_first(tmp_path: Path) -> None:
    tts = FakeTTS()
    await tts.use_store(SpeechStore(tmp_path))
    tutor = TutorProfile(id=1, name="Ada", subject="science", voice="v", kb_id=1)
    busy = asyncio.Event()  # a call is open: nothing is made
    progress = await _speak(tts, [tutor], busy)
    assert tts.texts == [] and progress.chunks > 3 and progress.made == 0

    idle = asyncio.Event()
    idle.set()
    progress = await _speak(tts, [tutor], idle)
    assert progress.health() == {"chunks": progress.chunks, "made": progress.chunks, "done": True}
    sentences = [s for text in NOTES for s in spoken_sentences(text)]
    chunks = [said_chunks(s) for s in sentences]
    # And what the engine says itself, the same every time: the opening of an answer beyond
    # the material, as a reply cuts it, and its replies to personal questions.
    opening = first_chunk(NOT_COVERED_LEAD["en"], whole=False)
    assert opening == "That's not in our course notes,"
    fixed = [opening, *reply_chunks(personal("en", "science")), *reply_chunks(own_work("en"))]
    assert sorted(tts.texts) == sorted(fixed + [c for cs in chunks for c in cs])
    # Every sentence's first chunk (what a student waits for) before any later one.
    firsts = {cs[0] for cs in chunks} | set(fixed)
    assert set(tts.texts[: len(firsts)]) == firsts
    # The opening is known once made, so one the model writes itself is cut the same.
    assert tts.known_sentences("v", "en").openings == [NOT_COVERED_LEAD["en"]]
    await tts.aclose()


async def test_a_voice_not_installed_is_passed_over(tmp_path: Path) -> None:
    tts = BrokenVoiceTTS()
    await tts.use_store(SpeechStore(tmp_path))
    tutors = [
        TutorProfile(id=1, name="Ada", subject="science", voice="nobody", kb_id=1),
        TutorProfile(id=2, name="Max", subject="maths", voice="v", kb_id=None),
    ]
    idle = asyncio.Event()
    idle.set()
    progress = await _speak(tts, tutors, idle)
    assert progress.chunks > 0 and progress.made == 0
    await tts.aclose()


async def test_an_answer_from_the_notes_plays_what_was_made_ahead(tmp_path: Path) -> None:
    # Two of the notes' sentences, fed as Conversation.answer feeds them (word by word, a mark
    # after each): every chunk the speaker asks for is found in the store, none is made.
    lead, following = spoken_sentences(NOTES[0])
    tts = FakeTTS(seconds_per_char=0.002)
    await tts.use_store(SpeechStore(tmp_path))
    for chunk in said_chunks(lead) + said_chunks(following):
        await tts.store(chunk, voice="af_heart", language="en")
    made = list(tts.texts)
    async with speaking(tts) as (speaker, clock, runner):
        for n, sentence in enumerate((lead, following)):
            for piece in word_pieces(sentence if n == 0 else " " + sentence):
                speaker.feed(piece)
            speaker.sentence_said()
        speaker.end()
        await asyncio.wait_for(runner, 30)
        assert tts.texts == made  # nothing synthesized for the reply
        assert clock.first_chunk_ahead
        assert [c.text for c in speaker.chunks] == said_chunks(lead) + said_chunks(following)
    await tts.aclose()


class _FullDisk(SpeechStore):
    def save(self, engine: str, name: str, pcm: np.ndarray) -> None:
        raise OSError(28, "No space left on device")


async def test_a_failing_chunk_or_a_full_disk_stops_nothing_else(tmp_path: Path) -> None:
    tutor = TutorProfile(id=1, name="Ada", subject="science", voice="v", kb_id=1)
    idle = asyncio.Event()
    idle.set()
    # The synthesizer fails on one text: every other chunk is made.
    tts = FakeTTS(fail_on="Evaporation")
    await tts.use_store(SpeechStore(tmp_path / "a"))
    progress = await _speak(tts, [tutor], idle)
    assert 0 < progress.made < progress.chunks
    assert not any("Evaporation" in t for t in tts.texts if tts.stored(t, voice="v", language="en"))
    await tts.aclose()
    # Nothing can be written: the pass ends (to be tried again), nothing is counted as made.
    full = FakeTTS()
    await full.use_store(_FullDisk(tmp_path / "b"))
    progress = await _speak(full, [tutor], idle)
    assert progress.made == 0 and len(full.texts) == 1
    await full.aclose()
