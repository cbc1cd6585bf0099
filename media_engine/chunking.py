"""Splitting a streamed reply into chunks worth synthesizing on their own.

The first chunk is kept short (a clause of a few words) because the student hears nothing
until it is synthesized; later chunks end at sentence ends, where a pause sounds natural and
both voices' prosody is best. English and Chinese punctuation are both understood.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

# Full stops of both scripts. The ASCII ones count only before a space or a Chinese character
# (not in "3.14"), so a mark at the end of the buffer waits for the next piece to decide.
_CJK_END = "。！？…"
_ASCII_END = ".!?"
_CJK_CLAUSE = "，、；："
_ASCII_CLAUSE = ",;:"
_CLOSERS = "\"'”’)）」』】"
_CJK_CHAR = re.compile(r"[\u3400-\u9fff]")
_MARKS = _CJK_END + _CJK_CLAUSE + _ASCII_END + _ASCII_CLAUSE

# A first chunk of 4-6 words costs Piper about 200-250 ms and Kokoro about 1 s, and each word
# more is another token or two of waiting for the LLM; fewer words would cut the sentence's
# melody into fragments and leave the next chunk too little time to be ready.
FIRST_MIN_WORDS = 4
FIRST_MIN_CHARS = 25
FIRST_MIN_CJK = 6  # Chinese characters before the first comma may end the first chunk
FIRST_MAX_WORDS = 6  # a first clause with no punctuation at all is cut at a word here
FIRST_MAX_CJK = 12  # ... or, in Chinese, after this many characters
MAX_CHARS = 220  # a sentence longer than this is cut at a clause
# ... in Chinese, one of this many characters: Kokoro takes ~1 s for 12 characters on 2 cores,
# and a long sentence made in one piece leaves the one before it to run out first.
MAX_CJK = 24
# The chunks after the first grow from this many Chinese characters (a clause may end one once
# it has them), doubling each time up to MAX_CJK. Kokoro is the only Chinese voice and takes
# about half as long as its audio lasts, alone on 2 cores: a second chunk no longer than about
# twice the first is made while the first plays; a whole sentence (30 characters and more) as
# the second was heard as seconds of silence after the opening.
LATER_MIN_CJK = 8
# ... and a stretch without any mark this many characters past that size is cut at a word (38
# characters in one chunk took Kokoro 7 s beside the model, heard as 5 s of silence). Live, so
# is a stretch whose mark comes later: a 16-character second chunk that ended a sentence took
# 2.4 s beside the model, with 1.7 s of the first chunk left to play.
LATER_SLACK_CJK = 8
# Live, a chunk's size follows the one before it: at least 8 characters, else twice the one
# before less 6 (at most MAX_CJK), and it runs at most this many characters past that. Beside
# the model Kokoro took about 1 s a chunk plus 0.1 s a character, and a chunk of n characters
# plays about 0.5 + 0.21 n s, so each chunk is made while the one before plays.
LIVE_SLACK_CJK = 3


def _weight(text: str) -> tuple[int, int, int]:
    """Words, characters and Chinese characters of `text`."""
    return len(text.split()), len(text.strip()), len(_CJK_CHAR.findall(text))


class SpeechChunker:
    """Feed it text pieces as they stream; it hands back each chunk as soon as it is complete."""

    def __init__(self, *, live: bool = False) -> None:
        """`live`: the chunks are synthesized while the reply plays (not made ahead), so a
        Chinese sentence or clause that runs past a later chunk's size is cut at a word there
        even when its mark comes after (see LATER_SLACK_CJK)."""
        self._buffer = ""
        self._emitted = 0
        self._live = live
        self._last_cjk = 0  # Chinese characters of the last chunk

    def push(self, piece: str) -> list[str]:
        """Add a piece of text; return the chunks it completed (often none)."""
        self._buffer += piece
        chunks: list[str] = []
        while (cut := self._find_cut()) is not None:
            chunk, self._buffer = self._buffer[:cut].strip(), self._buffer[cut:].lstrip()
            if chunk:
                chunks.append(chunk)
                self._emitted += 1
                self._last_cjk = _cjk(chunk)
        return chunks

    def cut_short(self) -> str | None:
        """What was pushed so far is a fixed opening, and what follows is generated: a
        sentence the opening ends with is a chunk now (returned: nothing that follows can join
        it), and the next chunk is cut short, as a reply's first is (a clause of a few words).
        """
        rest = None
        # An opening that ends at a mark ("课程资料里没有这个，不过，") is said whole, its audio
        # made ahead, while the model reads its prompt; its last words no longer wait for the
        # model's first ones to make a chunk with them.
        if self._buffer.rstrip().rstrip(_CLOSERS).endswith(tuple(_MARKS)):
            rest = self.flush()
        self._emitted = 0
        return rest

    def end_sentence(self) -> str | None:
        """A sentence the engine says itself (one of the notes') ends here: what is held is a
        chunk now (returned), and the next sentence is cut as a reply's first is. So each of
        the notes' sentences is cut the same wherever it comes in a reply (`said_chunks`),
        and their audio, made ahead, is found (media_engine.course_speech)."""
        rest = self.flush()
        self._emitted = 0
        return rest

    def take_rest(self) -> str:
        """What is held and not yet a chunk, handed back (it is no longer held)."""
        rest, self._buffer = self._buffer, ""
        return rest

    def flush(self) -> str | None:
        """The text left when the reply ends."""
        rest, self._buffer = self._buffer.strip(), ""
        if not rest:
            return None
        self._emitted += 1
        return rest

    def after_opening(self) -> str | None:
        """What is held after a short first sentence kept to join the next (see
        `_opening_end`), or None if none is kept. A caller that would end the chunk at the
        sentence leaves it held when this is empty."""
        end = self._opening_end(self._buffer)
        return self._buffer[end:] if end else None

    def take_after_opening(self) -> str:
        """What `after_opening` tells, handed back (the opening stays held)."""
        end = self._opening_end(self._buffer)
        rest, self._buffer = self._buffer[end:], self._buffer[:end]
        return rest

    def _opening_end(self, text: str) -> int:
        """Where a reply's short first sentence ends ("当然可以。"), if `text` opens with one
        and is cut live; else 0. Alone, its second or so of audio plays out long before
        Kokoro, whose fixed part is over a second, has made the next chunk: heard as up to
        two seconds of silence. So it opens the first chunk instead of being it."""
        if self._emitted or not self._live:
            return 0
        for i, ch in enumerate(text):
            if ch in _CJK_END or (ch in _ASCII_END and _boundary_after(text, i)):
                head = text[: i + 1]
                if 0 < _cjk(head) < FIRST_MIN_CJK:
                    return _after_closers(text, i + 1)
                return 0
        return 0

    def _find_cut(self) -> int | None:
        """Where the next chunk ends in the buffer, or None if it is not complete yet."""
        text = self._buffer
        first = self._emitted == 0
        # A first chunk is measured after a short opening sentence it keeps.
        start = self._opening_end(text) if first else 0
        for i, ch in enumerate(text):
            if i < start:
                continue
            if ch in _CJK_END or ch in _CJK_CLAUSE:
                is_end, is_clause = ch in _CJK_END, ch in _CJK_CLAUSE
            elif ch in _ASCII_END or ch in _ASCII_CLAUSE:
                if not _boundary_after(text, i):
                    continue
                is_end, is_clause = ch in _ASCII_END, ch in _ASCII_CLAUSE
            else:
                continue
            cut = _after_closers(text, i + 1)
            if not first and self._live and _cjk(text[:cut]) > self._grown() + LIVE_SLACK_CJK:
                break  # too long to be made before the chunk ahead of it has played
            if is_end:
                # A whole first sentence that came at once (the notes' own, or a fast model's)
                # is cut where it would have been had it come a few words at a time.
                early = _unpunctuated_cut(text[start:cut]) if first else None
                return start + early if early is not None and start + early < cut else cut
            if first and _long_enough(text[start:cut]):
                return cut
            if not first and is_clause and (cut >= MAX_CHARS or _cjk(text[:cut]) >= self._grown()):
                return cut
        if first:
            early = _unpunctuated_cut(text[start:])
            return None if early is None else start + early
        # A long Chinese stretch with no mark at all is cut at a word past the chunk's size.
        slack = LIVE_SLACK_CJK if self._live else LATER_SLACK_CJK
        if _cjk(text) >= self._grown() + slack:
            return _word_end(text, self._grown())
        return None

    def _grown(self) -> int:
        """The Chinese characters a clause needs to end the next chunk (after the first)."""
        if self._live:
            return min(MAX_CJK, max(LATER_MIN_CJK, 2 * self._last_cjk - 6))
        return min(MAX_CJK, LATER_MIN_CJK << max(0, self._emitted - 1))


# A chunk cut to fit the audio ahead of it keeps at least this much on each side: a word or
# two said alone sounds clipped, and each chunk costs the synthesizer its fixed part again.
SPLIT_LEAST_CJK = 4
SPLIT_LEAST_WORDS = 2


def split_to_fit(text: str, fits: Callable[[str], bool]) -> tuple[str, str] | None:
    """`text` cut at a word into the longest head that `fits` and the rest, each keeping some
    words; None if no such cut exists (too short to cut, or no head fits)."""
    import jieba

    cjk = _cjk(text) >= SPLIT_LEAST_CJK * 2
    if cjk:
        ends = list(itertools.accumulate(len(w) for w in jieba.cut(text)))
    else:
        ends = [m.end() for m in re.finditer(r"\S+\s+", text)]
    least = SPLIT_LEAST_CJK if cjk else SPLIT_LEAST_WORDS

    def size(part: str) -> int:
        return _cjk(part) if cjk else len(part.split())

    cuts = [(text[:end].strip(), text[end:].strip()) for end in ends]
    cuts = [(h, r) for h, r in cuts if size(h) >= least and size(r) >= least]
    best = next((cut for cut in reversed(cuts) if fits(cut[0])), None)
    if best is None:
        return None
    # A clause's end nearly as far on is a better place to pause than a word's.
    clause = next(
        (
            (h, r)
            for h, r in reversed(cuts)
            if h.rstrip(_CLOSERS)[-1:] in _MARKS
            and size(h) * 5 >= size(best[0]) * 3
            and size(h) <= size(best[0])
        ),
        None,
    )
    return clause or best


def word_pieces(text: str) -> list[str]:
    """A fixed text (what the engine says itself) in pieces like a generated reply's: words
    with their spaces, or Chinese six characters at a time."""
    return re.findall(r"\S+\s*|\s+", text) if " " in text else re.findall(r".{1,6}", text)


def said_chunks(sentence: str) -> list[str]:
    """The chunks a sentence the engine says itself is spoken in, wherever it comes in the
    reply (`SpeechChunker.end_sentence`)."""
    chunker = SpeechChunker()
    chunks = [c for piece in word_pieces(sentence) for c in chunker.push(piece)]
    rest = chunker.end_sentence()
    return [*chunks, rest] if rest else chunks


def reply_chunks(text: str) -> list[str]:
    """The chunks of a whole reply the engine says itself (fed as Conversation.answer feeds
    it: in pieces, then the end)."""
    chunker = SpeechChunker()
    chunks = [c for piece in word_pieces(text) for c in chunker.push(piece)]
    rest = chunker.flush()
    return [*chunks, rest] if rest else chunks


def opening_chunks(text: str) -> list[str]:
    """The chunks of an opening the engine says itself before the model goes on (fed as a
    reply's first words, then `SpeechChunker.cut_short`): what the model adds joins none."""
    chunker = SpeechChunker()
    chunks = [c for piece in word_pieces(text) for c in chunker.push(piece)]
    rest = chunker.cut_short()
    return [*chunks, rest] if rest else chunks


def first_chunk(text: str, *, whole: bool) -> str | None:
    """The first chunk of a reply that opens with `text` (is `text`, if `whole`), cut as the
    reply's will be, its pieces fed one at a time. None if the reply goes on after `text` and
    the chunk would end in what follows. The engine makes its audio ahead (Conversation.
    prefetch)."""
    chunker = SpeechChunker()
    for piece in word_pieces(text):
        chunks = chunker.push(piece)
        if chunks:
            return chunks[0]
    return chunker.flush() if whole else None


def _cjk(text: str) -> int:
    return len(_CJK_CHAR.findall(text))


def _boundary_after(text: str, i: int) -> bool:
    """An ASCII mark ends something only before a space or a Chinese character."""
    j = _after_closers(text, i + 1)
    return j < len(text) and (text[j].isspace() or bool(_CJK_CHAR.match(text[j])))


def _after_closers(text: str, i: int) -> int:
    while i < len(text) and text[i] in _CLOSERS:
        i += 1
    return i


def _long_enough(text: str) -> bool:
    words, chars, cjk = _weight(text)
    return words >= FIRST_MIN_WORDS or chars >= FIRST_MIN_CHARS or cjk >= FIRST_MIN_CJK


def _unpunctuated_cut(text: str) -> int | None:
    """A first clause with no punctuation at all is cut after FIRST_MAX_WORDS words; in Chinese,
    once FIRST_MAX_CJK characters are in, after the first word that completes FIRST_MIN_CJK."""
    if len(_CJK_CHAR.findall(text)) >= FIRST_MAX_CJK:
        return _word_end(text, FIRST_MIN_CJK)
    matches = list(re.finditer(r"\S+\s+", text))
    if len(matches) <= FIRST_MAX_WORDS:
        return None
    return matches[FIRST_MAX_WORDS - 1].end()


def _word_end(text: str, least: int) -> int:
    """Where the first word (jieba's segmentation) that brings `text` to `least` Chinese
    characters ends: Kokoro speaks a whole word with its tones, and a shorter first chunk is
    heard sooner (about 1.1 s for 4 characters, 1.8 s for 12 on 2 cores)."""
    import jieba

    end = 0
    for word in jieba.cut(text):
        end += len(word)
        if len(_CJK_CHAR.findall(text[:end])) >= least:
            return end
    return len(text)
