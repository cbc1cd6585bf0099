"""The TTS stage: one chunk of reply text in, 48 kHz speech out, on a model shared by every call.

A backend implements only `_synthesize`, a blocking call returning float audio at its own rate;
the base runs it on the model's own thread (never on the event loop), converts it for the
outbound track and turns any failure into a `TTSError` for the turn. Each engine's audio starts
with its first word (kokoro-onnx trims the silence before it; `PiperTTS` does its own), since
the student waits through any silence there. `choose_tts` picks the engine a tutor's voice
names: "piper:<name>" is a Piper voice, anything else one of Kokoro's.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from media_engine import cores
from media_engine.audio import OUT_RATE, Samples, to_output_pcm
from media_engine.deadlines import DeadlineWorker
from media_engine.errors import StageError
from media_engine.known_sentences import SentenceIndex
from media_engine.onnx_options import session_options
from media_engine.speech_store import SpeechStore, speech_name
from media_engine.synthesis_cost import SynthesisCost

log = logging.getLogger(__name__)

# A short breath after each chunk, since Kokoro trims the silence a sentence ends with.
GAP_S = 0.12
# A tutor's voice "piper:joe" is Piper's voice "joe"; any other name is a Kokoro voice.
PIPER_PREFIX = "piper:"
# Markdown a small model sometimes writes despite the prompt; it must not be read aloud.
_MARKUP = re.compile(r"[*_#`~|<>\[\]{}]")
_SAYABLE = re.compile(r"\w")

# espeak-ng's names for the languages Kokoro has voices for; English takes its accent from the
# voice (British voices' names start with "b").
_ESPEAK_LANG = {"es": "es", "fr": "fr-fr", "hi": "hi", "it": "it", "pt": "pt-br", "ja": "ja"}


def espeak_language(language: str, voice: str) -> str:
    """The espeak-ng language that pronounces `language` text for `voice`."""
    if language == "en":
        return "en-gb" if voice.startswith("b") else "en-us"
    return _ESPEAK_LANG.get(language, language)


class TTSError(StageError):
    """Synthesis failed for one chunk of a reply."""

    code = "tts_error"


# Short phrases whose audio is kept (about 100 KB a second of audio each).
KEEP_CHARS = 40
KEEP_PHRASES = 64
# Audio made for the store (media_engine.course_speech) waits behind every reply's chunks.
STORE_DEADLINE_S = 1e6


@dataclass(frozen=True)
class Speech:
    """Synthesized audio ready for the outbound track."""

    pcm: NDArray[np.int16]
    """48 kHz mono s16."""
    ready_made: bool = False
    """Made before it was asked for (prepared ahead, or a phrase kept from before)."""


def clean_for_speech(text: str) -> str:
    """Text as it should be read: markup dropped, whitespace collapsed."""
    return " ".join(_MARKUP.sub(" ", text).split())


def sayable(text: str) -> bool:
    """False for text with nothing to pronounce (punctuation, an emoji)."""
    return bool(_SAYABLE.search(text))


class TTS(abc.ABC):
    """A speech synthesizer shared by every call."""

    name = "tts"

    def __init__(self, identity: str = "") -> None:
        # Names the synthesizer's build in the speech store: other weights, other audio.
        self.identity = identity or self.name
        self._store: SpeechStore | None = None
        # A reply's first chunk is what a student waits for in silence; the rest is synthesized
        # ahead while it plays. So first chunks get a thread of their own and never queue
        # behind another call's read-ahead; everything else shares the second thread, the
        # chunk whose call will run out of audio soonest first.
        self._first = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.name}-first")
        self._ahead = DeadlineWorker(f"{self.name}-ahead")
        self._said: OrderedDict[tuple[str, str, str], NDArray[np.int16]] = OrderedDict()
        # Sentences whose every chunk is in the store, by voice (media_engine.known_sentences).
        self._known: dict[tuple[str, str], SentenceIndex] = {}
        # Audio being made now, by its words: a second request for them waits for the first.
        self._making: dict[tuple[str, str, str], asyncio.Future[NDArray[np.int16]]] = {}
        # What live chunks cost, by language (not the store's: it runs with the cores free).
        self._costs: dict[str, SynthesisCost] = {}

    async def synthesize(
        self,
        text: str,
        *,
        voice: str,
        language: str,
        first: bool = False,
        needed_in: float = 0.0,
    ) -> Speech:
        """Speak `text` in `voice`; `language` is the tutor's, which decides pronunciation.

        `first` marks the first chunk of a reply, which goes ahead of read-ahead work; among
        read-ahead chunks, the one `needed_in` the fewest seconds (its call's audio still
        queued) goes first. Audio already made (a kept phrase, or one `prepare`d or still
        being made for the same words) is not made again.
        """
        key = (clean_for_speech(text), voice, language)
        pcm, ready_made = await self._pcm(key, first=first, needed_in=needed_in)
        self._keep(key, pcm)
        gap = np.zeros(int(GAP_S * OUT_RATE), dtype=np.int16)
        return Speech(pcm=np.concatenate([pcm, gap]), ready_made=ready_made)

    async def prepare(self, text: str, *, voice: str, language: str) -> None:
        """Make and keep the audio of `text` now, as a reply's first chunk: the words a reply
        will most likely open with, made while the student is still speaking, so that the
        reply's first chunk costs nothing once they stop."""
        key = (clean_for_speech(text), voice, language)
        # On the read-ahead thread: if the guess is wrong, the reply's real first chunk does
        # not queue behind it on the first-chunk thread.
        pcm, _ = await self._pcm(key, first=False, needed_in=0.0)
        self._keep(key, pcm, always=True)

    async def use_store(self, store: SpeechStore) -> int:
        """Look for each chunk's audio in `store` before making it; returns how many pieces
        it holds for this synthesizer."""
        count = await asyncio.to_thread(store.scan, self.identity)
        self._store = store
        return count

    def stored(self, text: str, *, voice: str, language: str) -> bool:
        """Whether the audio of `text` is in the store."""
        return self._store_name((clean_for_speech(text), voice, language)) is not None

    async def store(self, text: str, *, voice: str, language: str) -> bool:
        """Make the audio of `text` and keep it in the store, behind every reply's chunks;
        False if it was there already (or there is no store)."""
        store = self._store
        key = (clean_for_speech(text), voice, language)
        if store is None or self._store_name(key) is not None:
            return False
        name = speech_name(self.identity, voice, language, key[0])

        def make() -> None:
            store.save(self.identity, name, self._output_pcm(*key))

        deadline = time.monotonic() + STORE_DEADLINE_S
        await asyncio.wrap_future(self._ahead.submit(deadline, make))
        return True

    def ready(self, text: str, *, voice: str, language: str) -> bool:
        """Whether the audio of `text` is made or being made: kept, stored or under way."""
        key = (clean_for_speech(text), voice, language)
        made = key in self._said or key in self._making
        return made or self.stored(text, voice=voice, language=language)

    def forget_kept(self) -> None:
        """No call is open: drop the kept phrases (their words were a reply's, or its likely
        opening; the engine's own openings are in the store, read back in a few ms)."""
        self._said.clear()

    def kept_bytes(self) -> int:
        """Memory the kept phrases' audio takes (bounded by KEEP_PHRASES)."""
        return sum(pcm.nbytes for pcm in list(self._said.values()))

    def estimate_s(self, text: str, *, language: str) -> float | None:
        """Seconds that making `text` would take now, learnt from the last live chunks; None
        until a few were made."""
        costs = self.costs(language)
        return None if costs is None else costs(text)

    def costs(self, language: str) -> Callable[[str], float] | None:
        """`estimate_s` for texts in `language`, fitted once for several texts (the cuts
        of one chunk); None until a few chunks were made."""
        cost = self._costs.get(language)
        line = None if cost is None else cost.line()
        if line is None:
            return None
        return lambda text: line(len(clean_for_speech(text)))

    def known_sentences(self, voice: str, language: str) -> SentenceIndex:
        """The sentences in `voice` whose audio is all in the store (course_speech adds them)."""
        return self._known.setdefault((voice, language), SentenceIndex())

    def _store_name(self, key: tuple[str, str, str]) -> str | None:
        """The name of `key`'s audio in the store, if the store holds it."""
        if self._store is None:
            return None
        text, voice, language = key
        name = speech_name(self.identity, voice, language, text)
        return name if (self.identity, name) in self._store else None

    async def _pcm(
        self, key: tuple[str, str, str], *, first: bool, needed_in: float
    ) -> tuple[NDArray[np.int16], bool]:
        """The audio of `key`, and whether it was made before it was asked for: kept, in the
        store (read off the loop), being made for another request, or made now."""
        pcm = self._said.get(key)
        if pcm is not None:
            self._said.move_to_end(key)
            return pcm, True
        if self._store is not None and (name := self._store_name(key)) is not None:
            stored = await asyncio.to_thread(self._store.load, self.identity, name)
            if stored is not None:  # else unreadable, and forgotten: made again below
                return stored, True
        making = self._making.get(key)
        ready_made = making is not None
        if making is None:
            if first:
                loop = asyncio.get_running_loop()
                making = loop.run_in_executor(self._first, self._live_pcm, *key)
            else:
                job = self._ahead.submit(time.monotonic() + needed_in, self._live_pcm, *key)
                making = asyncio.wrap_future(job)
            self._making[key] = making
            making.add_done_callback(lambda _: self._making.pop(key, None))
        try:
            # Shielded: one waiter given up (a barge-in) must not cancel it for the others.
            return await asyncio.shield(making), ready_made
        except TTSError:
            raise
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("%s failed", self.name)
            raise TTSError(f"speech synthesis failed ({type(exc).__name__})") from exc

    def _keep(
        self, key: tuple[str, str, str], pcm: NDArray[np.int16], always: bool = False
    ) -> None:
        """Keep the audio of short phrases: replies open with the same few words ("That's
        not in our course notes, but"), which then cost no synthesis. `always`: a prepared
        first chunk, kept whatever its length until it is used or pushed out."""
        if len(key[0]) > KEEP_CHARS and not always:
            return
        self._said[key] = pcm
        self._said.move_to_end(key)
        while len(self._said) > KEEP_PHRASES:
            self._said.popitem(last=False)

    async def warm_up(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Synthesize once in each language it speaks: first inferences allocate and are
        several times slower."""

    def _live_pcm(self, text: str, voice: str, language: str) -> NDArray[np.int16]:
        """`_output_pcm` for a reply, its cost noted."""
        started = time.perf_counter()
        pcm = self._output_pcm(text, voice, language)
        cost = self._costs.setdefault(language, SynthesisCost())
        cost.add(len(text), time.perf_counter() - started)
        return pcm

    def _output_pcm(self, text: str, voice: str, language: str) -> NDArray[np.int16]:
        with cores.synthesizing():
            audio, rate = self._synthesize(text, voice, language)
        return to_output_pcm(audio, rate)

    @abc.abstractmethod
    def _synthesize(self, text: str, voice: str, language: str) -> tuple[Samples, int]:
        """Blocking synthesis: float32 mono audio and its sample rate."""

    async def aclose(self) -> None:
        self._first.shutdown(wait=False, cancel_futures=True)
        self._ahead.shutdown()


class KokoroTTS(TTS):
    """Kokoro-82M through kokoro-onnx; Mandarin through misaki's G2P, the rest through espeak-ng."""

    name = "kokoro"

    def __init__(self, model_path: Path, voices_dir: Path, *, threads: int = 2) -> None:
        import onnxruntime as rt
        from kokoro_onnx import Kokoro
        from misaki import zh

        super().__init__(identity=f"kokoro-{model_path.stat().st_size}")
        options = session_options(threads)
        session = rt.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self._kokoro = Kokoro.from_session(session, str(voices_npz(voices_dir)))
        self._zh = zh.ZHG2P()  # the legacy G2P: the one Kokoro v1.0's Chinese voices learned
        self.voices: frozenset[str] = frozenset(self._kokoro.get_voices())

    async def warm_up(self) -> None:
        await self.synthesize("Hello.", voice="af_heart", language="en")
        await self.synthesize("你好。", voice="zf_xiaobei", language="zh")

    def _synthesize(self, text: str, voice: str, language: str) -> tuple[Samples, int]:
        if voice not in self.voices:
            raise TTSError(f"the tutor's voice {voice!r} is not installed", code="tts_voice")
        kwargs: dict[str, Any]
        if language == "zh":
            phonemes, _ = self._zh(text)
            kwargs = {"is_phonemes": True}
            text = phonemes
        else:
            kwargs = {"lang": espeak_language(language, voice)}
        audio, rate = self._kokoro.create(text, voice, **kwargs)
        return np.asarray(audio, dtype=np.float32), int(rate)


def voices_npz(voices_dir: Path) -> Path:
    """kokoro-onnx loads voices from one .npz; build it once from the voices' .bin files.

    Each .bin is raw float32, one 256-wide style vector per phoneme count (510 of them).
    """
    target = voices_dir.parent / "voices.npz"
    sources = sorted(voices_dir.glob("*.bin"))
    if not sources:
        raise FileNotFoundError(f"no Kokoro voices in {voices_dir}: run `virtual-tutor models`")
    newest = max(p.stat().st_mtime for p in sources)
    if target.is_file() and target.stat().st_mtime >= newest:
        return target
    voices = {p.stem: np.fromfile(p, dtype=np.float32).reshape(-1, 1, 256) for p in sources}
    partial = target.with_name("voices.partial.npz")
    np.savez(partial, **voices)  # type: ignore[arg-type]
    partial.replace(target)
    return target


def choose_tts(voice: str, kokoro: TTS, piper: TTS | None) -> tuple[TTS, str]:
    """The engine that speaks a tutor's `voice`, and the voice's name in that engine.

    Without Piper loaded, a Piper voice goes to Kokoro under its full name, where it fails as any
    voice that is not installed does (a "tts_voice" error event), not with a crash.
    """
    if voice.startswith(PIPER_PREFIX) and piper is not None:
        return piper, voice.removeprefix(PIPER_PREFIX)
    return kokoro, voice
