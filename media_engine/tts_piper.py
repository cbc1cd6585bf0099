"""Piper TTS: a small VITS voice (en-US "joe", 22.05 kHz) through piper-tts, as a `TTS` backend.

Usage, in place of `KokoroTTS` (the `TTS` base does the threads, conversion and errors)::

    paths = ModelPaths(models_dir)
    tts = PiperTTS(paths.piper_voice, paths.piper_config)
    speech = await tts.synthesize("Plants turn sunlight into food.", voice="joe", language="en")

One voice, English only: any other `voice` or `language` is a `TTSError` coded "tts_voice", the
code Kokoro gives a voice it does not have. Text with nothing to say fails like Kokoro's does.
"""

from __future__ import annotations

import ctypes
import functools
import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from media_engine.audio import Samples
from media_engine.onnx_options import session_options
from media_engine.tts import TTS, TTSError

# Piper leaves 30-70 ms of silence before a sentence and 100-300 ms after it, and now and then
# a click 50 dB down and half a second of silence before the first word. A chunk is trimmed to
# its sound: from the first 10 ms frame within 40 dB of the loudest back to where it rose out of
# silence (55 dB down), likewise at the end, with a frame to spare either side. So speech starts
# at once, as Kokoro's does (kokoro-onnx trims at 60 dB), and the base's GAP_S is the pause
# after a chunk; the pauses between the sentences of one chunk are kept.
_SOUND_DB = 40.0
_SILENCE_DB = 55.0
_FRAME_S = 0.01
# Piper scales each sentence to full scale, about 3 dB louder than Kokoro (peaks near 0.5, RMS
# near 0.08); at 0.7 the two sound alike and resampling to 48 kHz has headroom.
VOLUME = 0.7


class PiperTTS(TTS):
    """One Piper voice on its own onnxruntime session, shared by every call.

    `voice` is the name tutors choose it by (default: the voice's dataset name, "joe"); a
    tutor's voice "piper:joe" names it (`media_engine.tts.choose_tts`).

    One intra-op thread by default: on the 2-core machine, busy with the LLM and other calls, a
    chunk took about half as long on one thread as on two (240 vs 440 ms for five words at a
    load average of 5), the second thread only contending for a core.
    """

    name = "piper"

    def __init__(
        self, model_path: Path, config_path: Path, *, voice: str | None = None, threads: int = 1
    ) -> None:
        import onnxruntime as rt
        from piper import PiperVoice
        from piper.config import PiperConfig, SynthesisConfig

        super().__init__(identity=f"piper-{model_path.stat().st_size}")
        release_leaked_clauses()
        set_the_voice_once()
        config = json.loads(config_path.read_text(encoding="utf-8"))
        # PiperVoice.load makes its session with default options (every core); this is the
        # same voice on a session with our thread count.
        options = session_options(threads)
        session = rt.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self._voice = PiperVoice(session=session, config=PiperConfig.from_dict(config))
        self._options = SynthesisConfig(volume=VOLUME)
        self.sample_rate: int = self._voice.config.sample_rate
        self.language: str = str(config.get("language", {}).get("family", "en"))
        self.voices: frozenset[str] = frozenset({voice or str(config.get("dataset", "piper"))})

    async def warm_up(self) -> None:
        # As a reply's first chunk: on the thread first chunks take.
        await self.synthesize("Hello.", voice=min(self.voices), language=self.language, first=True)

    def _synthesize(self, text: str, voice: str, language: str) -> tuple[Samples, int]:
        if voice not in self.voices:
            raise TTSError(f"the tutor's voice {voice!r} is not installed", code="tts_voice")
        if language != self.language:
            raise TTSError(
                f"the voice {voice!r} speaks {self.language!r}, not {language!r}",
                code="tts_voice",
            )
        # One piece per sentence, each at the same level.
        pieces = self._voice.synthesize(text, syn_config=self._options)
        sentences = [piece.audio_float_array for piece in pieces]
        if not sentences:
            # As kokoro-onnx says it; the base turns it into a TTSError like Kokoro's.
            raise ValueError(f"Nothing to synthesize, {text!r} produced no phonemes")
        audio: Samples = np.concatenate(sentences).astype(np.float32, copy=False)
        return trim_silence(audio, self.sample_rate), self.sample_rate


@functools.cache  # once per process: the wrapper must not wrap itself
def release_leaked_clauses() -> None:
    """Make piper's phonemizer give back what it keeps of every text it reads.

    piper-tts 1.8.0's `espeakbridge.get_phonemes` appends each clause's tuple to the list it
    returns with `PyList_Append(list, Py_BuildValue(...))` and never drops its own reference,
    so every clause spoken (a tuple and its phoneme string) stays in memory for good: about
    6 objects a reply, the steady growth a long soak showed. The wrapper drops that one
    reference, and only where it is there, so a fixed piper is left alone.
    """
    from piper import espeakbridge

    original: Callable[[str], list[Any]] = espeakbridge.get_phonemes
    # A clause's references inside the loop below: the list's, the loop variable's and
    # getrefcount's argument; one more is the one the bridge forgot.
    expected = 3

    def get_phonemes(text: str) -> list[Any]:
        clauses = original(text)
        for clause in clauses:
            if sys.getrefcount(clause) == expected + 1:
                ctypes.pythonapi.Py_DecRef(ctypes.py_object(clause))
        return clauses

    espeakbridge.get_phonemes = get_phonemes


@functools.cache  # once per process, as above
def set_the_voice_once() -> None:
    """Make piper's phonemizer set espeak-ng's voice only when it changes.

    piper-tts 1.8.0 sets the voice before every text it reads, and espeak-ng's `DoVoiceChange`
    copies the voice (about 1.3 KB) onto its synthesizer's queue, which frees it only when it
    synthesizes: piper only phonemizes, so every copy stayed (under heaptrack, a 14-minute soak
    kept 877 KB over 653 texts, the C heap's steady growth). espeak-ng keeps its voice until it
    is set again or initialized, so setting the same one again changes nothing else.
    """
    from piper import espeakbridge

    set_voice: Callable[[str], None] = espeakbridge.set_voice
    initialize: Callable[[str], None] = espeakbridge.initialize
    current: list[str | None] = [None]
    lock = threading.Lock()  # readers on several threads: a voice set is one that was asked for

    def set_voice_once(voice: str) -> None:
        with lock:
            if voice != current[0]:
                set_voice(voice)
                current[0] = voice

    def initialize_again(data_dir: str) -> None:
        with lock:
            initialize(data_dir)
            current[0] = None

    espeakbridge.set_voice = set_voice_once
    espeakbridge.initialize = initialize_again


def trim_silence(audio: Samples, rate: int) -> Samples:
    """`audio` without the silence (and stray clicks in it) at its ends."""
    frame = max(1, int(rate * _FRAME_S))
    count = -(-len(audio) // frame)
    frames = np.zeros(count * frame, dtype=np.float32)
    frames[: len(audio)] = audio
    level = np.sqrt(np.mean(np.square(frames.reshape(count, frame)), axis=1))
    if count == 0 or level.max() <= 0:
        return audio
    db = 20 * np.log10(np.maximum(level / level.max(), 1e-12))
    sound = np.flatnonzero(db > -_SOUND_DB)
    silent = db <= -_SILENCE_DB
    first, last = sound[0], sound[-1]
    before = np.flatnonzero(silent[:first])
    first = before[-1] + 1 if len(before) else 0
    after = np.flatnonzero(silent[last + 1 :])
    last = last + after[0] if len(after) else count - 1
    start = max(0, first - 1) * frame
    return audio[start : min(len(audio), (last + 2) * frame)]
