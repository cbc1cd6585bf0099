"""ASR accuracy benchmark: the engine's Whisper models on synthesized student questions.

Each question of `answer_questions.json` is spoken by Kokoro (its voices in turn), every third also
by espeak-ng, at 16 kHz; every fifth clip gets white noise at 20 dB SNR (cached under
var/bench-audio/asr/). `WhisperASR`, built as `create_voice_factory` builds it, transcribes each
through `transcribe`, without and with hotwords (`knowledge.vocabulary` of the tutor's demo
material) and, for Chinese, with and without the initial prompt; the text before t2s is scored
too. Prints English WER / Chinese CER by voice, engine, noise and category, subject-term recall,
p50/p95 compute time and the worst clips. Run: `python bench/asr.py [--lang en|zh|both]
[--hotwords on|off|both] [--style spaces|list|both] [--prompt on|off|both] [--terms]
[--window S] [--gain G] [--json out.json]`; `--terms` asks about each hotword ("Can you
explain {term} to me?"); `--window` sets the encoder's shortest window (0: Whisper's 30 s);
`--gain` scales every clip (a quieter or louder microphone).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import re
import subprocess
import sys
import unicodedata
import wave
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cn2an
import numpy as np
import soxr
from pypinyin import Style, lazy_pinyin

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import pct  # noqa: E402
from core.paths import ModelPaths  # noqa: E402
from core.settings import VoiceSettings  # noqa: E402
from knowledge.homophones import Homophones  # noqa: E402
from knowledge.seed import DEMO_KNOWLEDGE, demo_text  # noqa: E402
from knowledge.vocabulary import as_list, hotwords  # noqa: E402
from media_engine.asr import WhisperASR, to_simplified  # noqa: E402
from media_engine.audio import ASR_RATE, OUT_RATE, Samples  # noqa: E402
from media_engine.tts import KokoroTTS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = Path(__file__).with_name("answer_questions.json")
CACHE = ROOT / "var" / "bench-audio" / "asr"
KOKORO_VOICES = {"en": ("af_heart", "am_michael", "bf_emma"), "zh": ("zf_xiaobei", "zm_yunxi")}
# espeak-ng's Mandarin dictionary lacks most characters: it reads tone-numbered pinyin instead.
ESPEAK_VOICES = {"en": "en-us", "zh": "cmn-latn-pinyin"}
ESPEAK_WPM = 150  # the tests' rate: tiny.en mishears espeak's default 175 far more often
SNR_DB = 20.0
SEED = 20240611
TERM_QUESTION = {"en": "Can you explain {} to me?", "zh": "请给我讲一讲{}。"}

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen \
fifteen sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_BRITISH = [
    (re.compile(r"\b(\w*)(met|lit|cent)re"), r"\1\2er"),
    (re.compile(r"\b(colo|vapo|behavio|favo|neighbo|flavo|humo)ur"), r"\1r"),
    (re.compile(r"\baluminium"), "aluminum"),
]


def spell_number(digits: str) -> str:
    """A numeral as English words ("2.5" → "two point five"; "1000000" digit by digit)."""
    whole, _, frac = digits.partition(".")
    words = _spell(int(whole or "0")) if len(whole) < 7 else [_ONES[int(d)] for d in whole]
    return " ".join(words + (["point", *(_ONES[int(d)] for d in frac)] if frac else []))


def _spell(n: int) -> list[str]:
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10]] + (_spell(n % 10) if n % 10 else [])
    size, word = (100, "hundred") if n < 1000 else (1000, "thousand")
    return _spell(n // size) + [word] + (_spell(n % size) if n % size else [])


def normalize_en(text: str) -> list[str]:
    """Lowercase words without punctuation; numerals spelt out, "%" read "percent", American
    spelling (tiny.en writes "meters" for "metres")."""
    text = unicodedata.normalize("NFKC", text).lower().replace("%", " percent ")
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    text = re.sub(r"\d+(?:\.\d+)?", lambda m: f" {spell_number(m.group())} ", text)
    text = re.sub(r"['’]", "", text)
    for pattern, repl in _BRITISH:
        text = pattern.sub(repl, text)
    return re.sub(r"[^\w]+", " ", text).replace("_", " ").split()


def normalize_zh(text: str) -> str:
    """Characters without spaces or punctuation; numerals as Chinese numerals (cn2an), so "3"
    and "三" match."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    text = str(cn2an.transform(text, "an2cn")) if re.search(r"\d", text) else text
    return "".join(c for c in text if c.isalnum())


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Levenshtein distance (substitutions, insertions, deletions) between two sequences."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        diag, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            diag, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diag + (r != h))
    return row[-1]


def wer(ref: str, hyp: str) -> tuple[int, int]:
    """(word errors, reference words) after `normalize_en`: summed over clips, the WER."""
    return edit_distance(r := normalize_en(ref), normalize_en(hyp)), len(r)


def cer(ref: str, hyp: str) -> tuple[int, int]:
    """(character errors, reference characters) after `normalize_zh`."""
    return edit_distance(r := normalize_zh(ref), normalize_zh(hyp)), len(r)


def term_hits(terms: list[str], ref: str, hyp: str, language: str) -> tuple[int, int]:
    """Of the `terms` the reference says, (how many the hypothesis has, how many it says)."""
    if language == "zh":
        r, h = normalize_zh(ref), normalize_zh(hyp)
        said = [t for t in terms if t in r]
        return sum(t in h for t in said), len(said)
    rw, hw = set(normalize_en(ref)), set(normalize_en(hyp))
    said = [t for t in dict.fromkeys(w for t in terms for w in normalize_en(t)) if t in rw]
    return sum(t in hw for t in said), len(said)


def add_noise(audio: Samples, snr_db: float, seed: int) -> Samples:
    """`audio` plus white noise `snr_db` below its mean power."""
    power = float(np.mean(audio.astype(np.float64) ** 2)) or 1e-8
    noise = np.random.default_rng([SEED, seed]).standard_normal(len(audio))
    noisy: Samples = (audio + noise * np.sqrt(power / 10 ** (snr_db / 10))).astype(np.float32)
    return noisy


@dataclass(frozen=True)
class Clip:
    qid: str
    lang: str
    tutor: str
    category: str
    text: str
    engine: str
    voice: str
    noisy: bool

    @property
    def path(self) -> Path:
        digest = hashlib.sha1(self.text.encode()).hexdigest()[:8]
        return CACHE / self.lang / f"{self.qid}-{self.engine}-{self.voice}-{digest}.npy"


def make_clips(questions: list[dict[str, Any]], lang: str) -> list[Clip]:
    clips: list[Clip] = []
    voices = KOKORO_VOICES[lang]
    for i, q in enumerate(x for x in questions if x["lang"] == lang):
        spoken = [("kokoro", voices[i % len(voices)])]
        if i % 3 == 0:
            spoken.append(("espeak", ESPEAK_VOICES[lang]))
        for engine, voice in spoken:
            fields = (q["id"], lang, q["tutor"], q["category"], q["q"], engine, voice)
            clips.append(Clip(*fields, noisy=len(clips) % 5 == 4))
    return clips


def espeak(text: str, voice: str) -> Samples:
    if voice == "cmn-latn-pinyin":
        text = unicodedata.normalize("NFKC", str(cn2an.transform(text, "an2cn")))
        text = " ".join(lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True))
    command = ["espeak-ng", "-v", voice, "-s", str(ESPEAK_WPM), "--stdout", text]
    wav = subprocess.run(command, capture_output=True, check=True).stdout
    with wave.open(io.BytesIO(wav)) as w:
        rate, pcm = w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), np.int16)
    audio: Samples = soxr.resample(pcm.astype(np.float32) / 32768.0, rate, ASR_RATE)
    return audio.astype(np.float32)


async def load_audio(clips: list[Clip], paths: ModelPaths) -> list[tuple[Clip, Samples]]:
    """Each clip with its 16 kHz audio (noise added where due), synthesizing what is not cached."""
    missing = [c for c in clips if not c.path.is_file()]
    tts = KokoroTTS(paths.kokoro_model, paths.kokoro_voices_dir) if missing else None
    for n, clip in enumerate(missing, 1):
        if clip.engine == "espeak":
            audio = espeak(clip.text, clip.voice)
        else:
            assert tts is not None
            speech = await tts.synthesize(clip.text, voice=clip.voice, language=clip.lang)
            pcm = speech.pcm.astype(np.float32) / 32768.0
            audio = soxr.resample(pcm, OUT_RATE, ASR_RATE).astype(np.float32)
        clip.path.parent.mkdir(parents=True, exist_ok=True)
        np.save(clip.path, audio)
        print(f"\rsynthesized {n}/{len(missing)}", end="" if missing[n:] else "\n", file=sys.stderr)
    if tts is not None:
        await tts.aclose()
    out: list[tuple[Clip, Samples]] = []
    for k, clip in enumerate(clips):
        audio = np.load(clip.path).astype(np.float32)
        out.append((clip, add_noise(audio, SNR_DB, k) if clip.noisy else audio))
    return out


class BenchWhisper(WhisperASR):
    """The engine's `WhisperASR`, built with the engine's settings, plus two knobs for the
    benchmark only: the initial prompt can be dropped, and the text before t2s is kept."""

    def __init__(self, model_dir: Path, v: VoiceSettings) -> None:
        beam, threads, compute = v.asr_beam_size, v.asr_threads, v.asr_compute_type
        super().__init__(
            model_dir,
            beam_size=beam,
            threads=threads,
            compute_type=compute,
            window_s=v.asr_window_s,
        )
        self.use_prompt = True
        self.raw = ""
        decode: Callable[..., Any] = self.model.transcribe

        def transcribe(audio: Samples, **options: Any) -> tuple[list[Any], Any]:
            if not self.use_prompt:
                options["initial_prompt"] = None
            segments, info = decode(audio, **options)
            segments = list(segments)
            self.raw = "".join(s.text for s in segments)
            return segments, info

        self.model.transcribe = transcribe


@dataclass
class Row:
    clip: Clip
    hyp: str
    errors: int
    length: int
    hits: int
    terms: int
    compute_s: float


# A pass: its name, the Chinese prompt used or not, the hotwords' style (None: no hotwords).
Variant = tuple[str, bool, str | None]


async def run_variants(
    asr: BenchWhisper,
    clips: list[tuple[Clip, Samples]],
    hw: dict[str, str],
    passes: list[Variant],
    sounds: dict[str, Homophones],
) -> dict[str, list[Row]]:
    """Every clip through every variant in turn (so a busy machine slows them alike): rows as
    the engine returns them, and for Chinese before t2s ("no-t2s") and with the course's
    homophones put right ("+sounds", as the engine's voice pipeline does). Term recall counts
    the tutor's hotwords whether or not they were passed."""
    results: dict[str, list[Row]] = {}
    score = cer if clips[0][0].lang == "zh" else wer
    for n, (clip, samples) in enumerate(clips, 1):
        print(f"\r{clip.lang}: transcribing {n}/{len(clips)}", end="", file=sys.stderr)
        for variant, asr.use_prompt, style in passes:
            words = hw.get(clip.tutor, "") if style else None  # "spaces": as `hotwords` gives
            words = as_list(words, clip.lang) if words and style == "list" else words
            transcript = await asr.transcribe(samples, language=clip.lang, hotwords=words or None)
            assert transcript is not None
            texts = {variant: transcript.text}
            if clip.lang == "zh":
                texts[f"{variant} no-t2s"] = raw = asr.raw.strip()
                assert to_simplified(raw).strip() == transcript.text, (raw, transcript.text)
                texts[f"{variant} +sounds"] = sounds[clip.tutor].correct(transcript.text)
            for name, text in texts.items():
                hits = term_hits(hw.get(clip.tutor, "").split(), clip.text, text, clip.lang)
                row = Row(clip, text, *score(clip.text, text), *hits, transcript.compute_s)
                results.setdefault(name, []).append(row)
    print(file=sys.stderr)
    return results


def rate(rows: list[Row]) -> float:
    return 100.0 * sum(r.errors for r in rows) / max(1, sum(r.length for r in rows))


def groups(rows: list[Row]) -> dict[str, list[Row]]:
    """All rows, then by voice, by engine and noise, and by question category."""
    out: dict[str, list[Row]] = {"all": rows}
    keys = [
        (f"{c.engine}/{c.voice}", f"{c.engine} {('clean', 'noisy')[c.noisy]}",
         "material" if c.category == "material" else "other questions")
        for c in (r.clip for r in rows)
    ]  # fmt: skip
    for kind in range(3):
        for r, key in zip(rows, keys, strict=True):
            out.setdefault(key[kind], []).append(r)
    return out


def report(lang: str, results: dict[str, list[Row]], limit: int) -> dict[str, Any]:
    """Print the tables, the worst clips and what hotwords changed; return the numbers."""
    metric, unit = ("CER", "characters") if lang == "zh" else ("WER", "words")
    first = next(iter(results.values()))
    count, total = len(first), sum(r.length for r in first)
    print(f"\n=== {lang}: {metric} % ({count} clips, {total} reference {unit}) ===")
    width = max(12, *(len(n) + 2 for n in results))
    table = {n: groups(rows) for n, rows in results.items()}
    hits = [[sum(r.hits for r in rows), sum(r.terms for r in rows)] for rows in results.values()]
    ms = [
        [pct([r.compute_s * 1000 for r in rows], q) for q in (50, 95)] for rows in results.values()
    ]
    print(f"{'':22}{'n':>4}" + "".join(f"{n:>{width}}" for n in results))
    for key, rows in table[next(iter(results))].items():
        print(
            f"{key:22}{len(rows):4}" + "".join(f"{rate(g[key]):{width}.1f}" for g in table.values())
        )
    print(f"{'term recall':26}" + "".join(f"{f'{h}/{t}':>{width}}" for h, t in hits))
    for i, label in enumerate(("compute p50 ms", "compute p95 ms")):
        print(f"{label:26}" + "".join(f"{v[i]:{width}.0f}" for v in ms))
    for n, rows in results.items():
        if n.endswith("no-t2s"):
            continue
        worst = sorted(rows, key=lambda r: (r.errors / max(1, r.length), r.errors))[-limit:]
        print(f"\n{lang} [{n}] worst {limit}:")
        for r in reversed(worst):
            c = r.clip
            tag = f"{c.engine}/{c.voice}{' +noise' if c.noisy else ''}"
            print(f"  {r.errors}/{r.length} {c.qid} {tag}\n    ref: {c.text}\n    hyp: {r.hyp}")
    changes(results)
    return {
        n: {"rate": {k: rate(v) for k, v in table[n].items()}, "term_recall": hit,
            "compute_ms_p50_p95": t, "rows": [asdict(r) for r in rows]}
        for (n, rows), hit, t in zip(results.items(), hits, ms, strict=True)
    }  # fmt: skip


def changes(results: dict[str, list[Row]]) -> None:
    """Clips hotwords changed, against the same pass without them (and the clips whose
    homophones were put right, against the pass before)."""
    for name, rows in results.items():
        base = name.removesuffix(" +sounds")
        plain = base if base != name else name.split(" +hw")[0]
        if plain == name or plain not in results or name.endswith("no-t2s"):
            continue
        diff = [(a, b) for a, b in zip(results[plain], rows, strict=True) if a.hyp != b.hyp]
        better = sum(b.errors < a.errors for a, b in diff)
        worse = sum(b.errors > a.errors for a, b in diff)
        print(f"\n[{name}] vs [{plain}]: {len(diff)} changed, {better} better, {worse} worse")
        for a, b in diff[:10]:
            print(f"  {a.errors}->{b.errors} {a.clip.qid}: {a.hyp!r} -> {b.hyp!r}")


def make_variants(lang: str, args: argparse.Namespace) -> list[Variant]:
    """The passes the options ask for; "engine" is what the engine does today."""
    prompts = {"on": [True], "off": [False], "both": [True, False]}[args.prompt]
    styles: list[str | None] = [None] if args.hotwords != "on" else []
    if args.hotwords != "off":
        styles += ["spaces", "list"] if args.style == "both" else [args.style]
    suffix = {None: "", "spaces": " +hw", "list": " +hw-list"}
    return [
        (("engine" if prompt else "no-prompt") + suffix[style], prompt, style)
        for prompt in ([True] if lang == "en" else prompts)
        for style in styles
    ]


async def bench_lang(lang: str, args: argparse.Namespace, data: list[dict[str, Any]]) -> Any:
    paths = ModelPaths(ROOT / "var" / "models")
    texts = {t: [demo_text(spec[2]).decode()] for t, spec in DEMO_KNOWLEDGE.items()}
    hw = {t: hotwords(tx, lang, limit=args.limit) for t, tx in texts.items()}
    if args.terms:  # a question about each subject term instead
        data = [
            {"id": f"term-{t}-{i}", "lang": lang, "tutor": t, "category": "term",
             "q": TERM_QUESTION[lang].format(term)}
            for t, words in hw.items() for i, term in enumerate(words.split())
        ]  # fmt: skip
    clips = make_clips(data, lang)[: args.clips or None]
    spoken = await load_audio(clips, paths)
    if args.gain != 1.0:  # a quieter (or louder) microphone than the synthesized voice's
        spoken = [(c, np.clip(s * args.gain, -1.0, 1.0).astype(np.float32)) for c, s in spoken]
    for tutor, words in hw.items():
        if words and any(c.tutor == tutor for c in clips):
            print(f"hotwords {tutor}: {words}")
    model = paths.whisper_base if lang == "zh" else paths.whisper_tiny_en
    window = VoiceSettings().asr_window_s if args.window is None else args.window
    asr = BenchWhisper(model, VoiceSettings(asr_window_s=window))
    noise = (np.random.default_rng(0).standard_normal(16_000) * 0.01).astype(np.float32)
    await asr.transcribe(noise, language=lang)  # warm, as the engine does
    sounds = {t: Homophones.of_texts(tx) for t, tx in texts.items()} if lang == "zh" else {}
    results = await run_variants(asr, spoken, hw, make_variants(lang, args), sounds)
    await asr.aclose()
    print(f"{lang}: encoder window {window or 30:g} s+, {asr.redone} transcripts redone in 30 s")
    return report(lang, results, 8)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lang", choices=("en", "zh", "both"), default="both")
    parser.add_argument("--hotwords", choices=("on", "off", "both"), default="both")
    parser.add_argument("--prompt", choices=("on", "off", "both"), default="on")
    parser.add_argument("--style", choices=("spaces", "list", "both"), default="spaces")
    parser.add_argument("--limit", type=int, default=40, help="hotwords per tutor")
    parser.add_argument("--clips", type=int, default=0, help="only the first N clips")
    parser.add_argument("--terms", action="store_true", help="ask about each hotword instead")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--window", type=float, help="ASR_WINDOW_SECONDS (0: Whisper's 30 s)")
    parser.add_argument("--gain", type=float, default=1.0, help="scale every clip's samples")
    args = parser.parse_args()
    data = json.loads(QUESTIONS.read_text())["questions"]
    out = {x: await bench_lang(x, args, data) for x in ("en", "zh") if args.lang in (x, "both")}
    if args.json:
        args.json.write_text(json.dumps(out, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
