"""Sentences whose audio is made, found again in a reply the model writes.

The model, given the notes, often repeats their sentences word for word. Their audio was made
ahead (media_engine.course_speech), but only as the chunks a sentence is cut into on its own
(media_engine.chunking.said_chunks), while a model's reply is cut by its own schedule, so none
would be found. So a sentence of the reply that begins like one of the known sentences is held
back until it is all written: if it is that sentence, its chunks are the known ones, heard
without synthesis; as soon as it departs from every known sentence it goes on as usual. The
model writes several times faster than the tutor speaks, so holding a sentence costs little.
"""

from __future__ import annotations

import bisect
import re

from media_engine.chunking import SpeechChunker, said_chunks

_END = re.compile(r"[。！？…]|[.!?](?=\s|$)")
_CLOSERS = "\"'”’)）」』】"


def _plain(text: str) -> str:
    return " ".join(text.split())


class SentenceIndex:
    """Known sentences, as the course's material says them; prefix look-ups in O(log n)."""

    def __init__(self) -> None:
        self._sorted: list[str] = []
        self._set: set[str] = set()
        self.openings: list[str] = []
        """Fixed openings of a reply ("课程资料里没有这个，不过，") whose chunks are made: the
        model may write one itself, or the engine say it in the stream."""

    def add(self, sentence: str) -> None:
        sentence = _plain(sentence)
        if sentence and sentence not in self._set:
            self._set.add(sentence)
            bisect.insort(self._sorted, sentence)

    def __len__(self) -> int:
        return len(self._set)

    def add_opening(self, opening: str) -> None:
        opening = _plain(opening)
        if opening and opening not in self.openings:
            self.openings.append(opening)

    def __contains__(self, sentence: str) -> bool:
        return _plain(sentence) in self._set

    def could_start(self, text: str) -> bool:
        """Whether some known sentence begins with `text`."""
        text = _plain(text)
        i = bisect.bisect_left(self._sorted, text)
        return i < len(self._sorted) and self._sorted[i].startswith(text)


def _opening_end(text: str, opening: str) -> int:
    """Where `opening` (spaces made single) ends in `text`, which starts with it."""
    seen = 0
    for i, ch in enumerate(text):
        if seen == len(opening):
            return i
        if ch.isspace() and (i == 0 or text[i - 1].isspace()):
            continue
        seen += 1
    return len(text)


class HoldingChunker:
    """A `SpeechChunker` that holds back a sentence beginning like a known one (see above).

    The chunker's calls, each returning the chunks completed (a list); `known` may grow while
    it is used.
    """

    def __init__(self, known: SentenceIndex) -> None:
        # Text that is not a known sentence is synthesized while the reply plays.
        self._chunker = SpeechChunker(live=True)
        self._known = known
        self._held = ""
        self._holding = len(known) > 0  # the reply's start is a sentence's start
        self._start: str | None = "" if known.openings else None  # held: may be an opening

    def push(self, piece: str) -> list[str]:
        if self._start is None:
            return self._push(piece)
        self._start += piece
        start = _plain(self._start).lstrip()
        opening = next((o for o in self._known.openings if start.startswith(o)), None)
        if opening is None and any(o.startswith(start) for o in self._known.openings):
            return []  # still like an opening: wait for more
        held, self._start = self._start.lstrip(), None
        if opening is None:
            return self._push(held)
        # Cut as the engine's own opening is (`cut_short`): its chunks are made, and the
        # model's first words after it are a short chunk of their own.
        end = _opening_end(held, opening)
        chunks = self._push(held[:end]) + self.cut_short()
        return chunks + self._push(held[end:])

    def _push(self, piece: str) -> list[str]:
        if self._holding:
            self._held += piece
            return self._settle()
        chunks = self._chunker.push(piece)
        if chunks and self._ends_sentence(chunks[-1]):
            # The next sentence has begun: it may be a known one.
            self._held, self._holding = self._chunker.take_rest(), True
            chunks += self._settle()
        elif (after := self._chunker.after_opening()) is not None and self._known.could_start(
            after
        ):
            # The chunker keeps a short first sentence to open the first chunk; the sentence
            # after it may be a known one (then the short one is said alone, before it).
            self._held, self._holding = self._chunker.take_after_opening(), True
            chunks += self._settle()
        return chunks

    def _settle(self) -> list[str]:
        """Known sentences held whole become their known chunks; one that departs from every
        known sentence goes on to the chunker (to its end, if it has one: what follows may be
        a known sentence again)."""
        chunks: list[str] = []
        while self._holding and self._held.strip():
            end = self._sentence_end(self._held)
            if end is not None and self._held[:end] in self._known:
                chunks += self._flushed() + said_chunks(_plain(self._held[:end]))
                self._held = self._held[end:]
            elif end is None and self._known.could_start(self._held):
                break  # still like a known sentence: wait for more
            elif end is None:
                rest, self._held, self._holding = self._held, "", False
                chunks += self._chunker.push(rest)
            else:
                sentence, self._held = self._held[:end], self._held[end:]
                chunks += self._chunker.push(sentence)
                # A whole sentence: nothing joins it, unless it is a short opening the
                # chunker keeps for the first chunk.
                if self._chunker.after_opening() != "":
                    chunks += self._flushed()
        return chunks

    def _flushed(self) -> list[str]:
        """What the chunker holds, as a chunk now (before a known sentence's chunks)."""
        rest = self._chunker.flush()
        return [rest] if rest else []

    @staticmethod
    def _sentence_end(text: str) -> int | None:
        match = _END.search(text)
        if match is None:
            return None
        end = match.end()
        while end < len(text) and text[end] in _CLOSERS:
            end += 1
        return end

    def _ends_sentence(self, chunk: str) -> bool:
        chunk = chunk.rstrip()
        return len(self._known) > 0 and self._sentence_end(chunk) == len(chunk)

    def _released(self) -> list[str]:
        """What was held as maybe an opening, pushed on as it is."""
        held, self._start = self._start, None
        return self._push(held) if held else []

    def end_sentence(self) -> list[str]:
        """`SpeechChunker.end_sentence`: the next sentence starts afresh (and may be known)."""
        chunks = self._released() + self._settle_all()
        rest = self._chunker.end_sentence()
        self._holding = len(self._known) > 0
        return [*chunks, rest] if rest else chunks

    def cut_short(self) -> list[str]:
        """`SpeechChunker.cut_short`."""
        chunks = self._released() + self._settle_all()
        rest = self._chunker.cut_short()
        return [*chunks, rest] if rest else chunks

    def flush(self) -> list[str]:
        """`SpeechChunker.flush`: the reply's end."""
        chunks = self._released() + self._settle_all()
        rest = self._chunker.flush()
        return [*chunks, rest] if rest else chunks

    def _settle_all(self) -> list[str]:
        """Whatever is held: known chunks if it is a known sentence, else the chunker's."""
        rest, self._held, self._holding = self._held, "", False
        if rest.strip() and rest in self._known:
            return self._flushed() + said_chunks(_plain(rest))
        return self._chunker.push(rest) if rest else []
