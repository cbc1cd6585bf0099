"""The course material spoken ahead, so an answer from the notes is heard at once.

A spoken answer that the notes hold is their own sentences, the one that answers and the
next (media_engine.conversation), each cut into chunks the same way wherever it comes in a
reply (media_engine.chunking.said_chunks). So the audio of every chunk of every sentence of a
tutor's material can be made before any student asks, and kept on disk (media_engine.
speech_store). On 2 cores Kokoro takes 1-2.5 s for the first few words of a Chinese reply and
about half its length for the rest, which beside the model fell behind playback; with the audio
made, the reply costs no synthesis at all.

What the engine says itself, the same every time, is made too: the opening of an answer beyond
the material ("That's not in our course notes, but") and its replies to personal questions.

It runs only while no call is open, one chunk at a time (a call that opens shares the cores
with one chunk's synthesis at most, about a second), and never ahead of a reply's chunks (the
synthesizer's read-ahead queue puts it last). The first chunk of every sentence is made before
the rest: that is what a student waits for in silence. It looks again every few minutes for
tutors and material that changed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from knowledge.errors import KnowledgeError
from knowledge.prompt import dont_know, spoken_sentences
from knowledge.retriever import Retriever
from media_engine.answering import not_covered_lead, own_work, personal
from media_engine.chunking import opening_chunks, reply_chunks, said_chunks
from media_engine.runtime import EngineRuntime
from media_engine.speech_store import SpeechStore
from media_engine.store import TurnStore
from media_engine.tts import TTS, TTSError, choose_tts, sayable
from media_engine.tutor import TutorProfile
from media_engine.voice_models import VoiceModels

log = logging.getLogger(__name__)

# How often the tutors and their material are looked at again once everything is made; and
# while a tutor's material has no passages yet (being read in after a start or an upload).
REFRESH_S = 300.0
RETRY_S = 15.0
# Longer sentences are not answers a reply opens with (knowledge.prompt.LEAD_CHARS).
MAX_SENTENCE_CHARS = 400


@dataclass
class CourseSpeech:
    """How far the speaking ahead has come (in `/health`)."""

    chunks: int = 0
    """Chunks of the tutors' material, at the last look."""
    made: int = 0
    """... of which the audio is in the store."""
    looked: bool = False
    """Every tutor's material has been looked at, none of it empty."""

    def health(self) -> dict[str, int | bool]:
        return {
            "chunks": self.chunks,
            "made": self.made,
            "done": self.looked and self.made >= self.chunks,
        }


@asynccontextmanager
async def speaking_ahead(
    runtime: EngineRuntime, idle: asyncio.Event, *, after: asyncio.Task[Any]
) -> AsyncIterator[CourseSpeech]:
    """Every synthesizer looks in the speech store (SPEECH_DIR) before it makes a chunk, and
    the tutors' material is spoken ahead (SPEECH_WARM_TUTORS), once `after` (the prompts'
    reading, which is shorter and needs the same cores) is done, until the block ends."""
    progress = CourseSpeech()
    settings = runtime.settings
    if runtime.voice is None:
        progress.looked = True  # nothing to speak
        yield progress
        return
    models = runtime.voice.models
    store = SpeechStore(settings.speech_dir)
    for tts in {id(t): t for t in (models.tts, models.piper) if t is not None}.values():
        found = await tts.use_store(store)
        log.info("speech store: %d pieces for %s", found, tts.identity)
    task: asyncio.Task[None] | None = None
    if runtime.retriever is not None and settings.speech_warm_tutors > 0:
        speaking = speak_course_material(
            runtime.store,
            runtime.retriever,
            models,
            limit=settings.speech_warm_tutors,
            idle=idle,
            progress=progress,
            after=after,
        )
        task = asyncio.create_task(speaking, name="course-speech")
    else:
        progress.looked = True
    try:
        yield progress
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


@dataclass(frozen=True)
class _Job:
    tts: TTS
    voice: str
    language: str
    text: str


async def speak_course_material(
    store: TurnStore,
    retriever: Retriever,
    models: VoiceModels,
    *,
    limit: int,
    idle: asyncio.Event,
    progress: CourseSpeech,
    after: asyncio.Task[Any] | None = None,
) -> None:
    """Make the audio of up to `limit` tutors' material (most recently called first) while
    `idle` is set (no call open), and again as it changes; runs until cancelled."""
    if after is not None:
        await asyncio.wait([after])
    while True:
        jobs, sentences, complete = await _jobs(store, retriever, models, limit)
        progress.chunks = len(jobs)
        progress.made = sum(_made(job) for job in jobs)
        progress.looked = complete
        _know(sentences)
        failed: set[tuple[int, str]] = set()
        for job in jobs:
            if _made(job) or (id(job.tts), job.voice) in failed:
                continue
            await idle.wait()
            try:
                await job.tts.store(job.text, voice=job.voice, language=job.language)
            except TTSError as exc:
                # A voice that is not installed: said once, its other chunks skipped.
                log.warning("course speech in voice %s not made: %s", job.voice, exc)
                failed.add((id(job.tts), job.voice))
                continue
            except OSError as exc:
                # The store cannot be written (a full disk): tried again at the next look.
                log.warning("course speech not kept: %s", exc)
                break
            except Exception:
                # One text the synthesizer fails on must not stop the rest.
                log.exception("course speech for %r not made", job.text[:40])
                continue
            progress.made += 1
        _know(sentences)
        if jobs:
            log.info("course speech: %d of %d chunks made", progress.made, len(jobs))
        await asyncio.sleep(REFRESH_S if complete else RETRY_S)


def _made(job: _Job) -> bool:
    return job.tts.stored(job.text, voice=job.voice, language=job.language)


def _know(sentences: list[tuple[_Job, list[str]]]) -> None:
    """Tell each synthesizer the sentences whose every chunk it has made (media_engine.
    known_sentences finds them in replies the model writes)."""
    for job, chunks in sentences:
        if all(_made(replace(job, text=chunk)) for chunk in chunks):
            known = job.tts.known_sentences(job.voice, job.language)
            if job.text == not_covered_lead(job.language):
                known.add_opening(job.text)  # the model may write it itself
            else:
                known.add(job.text)


async def _jobs(
    store: TurnStore, retriever: Retriever, models: VoiceModels, limit: int
) -> tuple[list[_Job], list[tuple[_Job, list[str]]], bool]:
    """Every chunk to make, first chunks first, each once; each sentence (as a job) with its
    chunks; and whether every tutor's material had passages."""
    try:
        tutors = await store.tutors_in_use(limit)
    except (SQLAlchemyError, OSError) as exc:
        log.warning("no course speech made: %s", type(exc).__name__)
        return [], [], False
    ranked: dict[_Job, int] = {}
    sentences: list[tuple[_Job, list[str]]] = []
    complete = True
    for tutor in tutors:
        tts, voice = choose_tts(tutor.voice, models.tts, models.piper)
        for text in _fixed_chunks(tutor):
            ranked[_Job(tts, voice, tutor.language, text)] = 0
        lead = not_covered_lead(tutor.language)
        sentences.append((_Job(tts, voice, tutor.language, lead), opening_chunks(lead)))
        if tutor.kb_id is None:
            continue
        try:
            texts = await retriever.texts(tutor.kb_id)
        except (KnowledgeError, SQLAlchemyError, OSError) as exc:
            log.warning("tutor %s: material not read: %s", tutor.id, type(exc).__name__)
            complete = False
            continue
        complete = complete and bool(texts)
        chunked = await asyncio.to_thread(_chunked, tuple(texts))
        for sentence, chunks in chunked:
            sentences.append((_Job(tts, voice, tutor.language, sentence), chunks))
            for rank, text in enumerate(chunks):
                job = _Job(tts, voice, tutor.language, text)
                ranked[job] = min(rank, ranked.get(job, rank))
    return sorted(ranked, key=ranked.__getitem__), sentences, complete


def _fixed_chunks(tutor: TutorProfile) -> list[str]:
    """The chunks of what the engine says itself, the same every time (media_engine.
    answering): the opening of an answer beyond the material (the model goes on after it),
    and whole replies to personal questions and, for a course_only tutor, to
    questions the material does not cover."""
    language = tutor.language
    opening = opening_chunks(not_covered_lead(language))
    said = [personal(language, tutor.subject), own_work(language)]
    if tutor.answer_policy == "course_only":
        said.append(dont_know(language, tutor.subject))
    return [c for c in opening if sayable(c)] + [
        c for text in said for c in reply_chunks(text) if sayable(c)
    ]


@functools.lru_cache(maxsize=16)
def _chunked(texts: tuple[str, ...]) -> list[tuple[str, list[str]]]:
    """Each sentence of `texts` (once), and the chunks a reply speaks it in."""
    seen: set[str] = set()
    out: list[tuple[str, list[str]]] = []
    for text in texts:
        for sentence in spoken_sentences(text):
            if sentence in seen or len(sentence) > MAX_SENTENCE_CHARS or not sayable(sentence):
                continue
            seen.add(sentence)
            out.append((sentence, [c for c in said_chunks(sentence) if sayable(c)]))
    return out
