"""The notes' sentences found again in a reply the model writes (media_engine.known_sentences)."""

from __future__ import annotations

import random

from media_engine.chunking import SpeechChunker, said_chunks
from media_engine.known_sentences import HoldingChunker, SentenceIndex

ZH_NOTES = [
    "水循环是指地球上的水不断运动和变化的过程。",
    "太阳照射海洋、湖泊和河流，水受热蒸发变成水蒸气；水蒸气上升遇冷凝结成小水滴，形成云。",
    "植物叶片细胞中的叶绿体含有叶绿素，叶绿素能够吸收太阳光的能量。",
]
EN_NOTES = [
    "Photosynthesis is how green plants make their own food.",
    "In the chloroplasts of leaf cells, the green pigment chlorophyll captures energy from "
    "sunlight.",
]


def _index(sentences: list[str]) -> SentenceIndex:
    index = SentenceIndex()
    for sentence in sentences:
        index.add(sentence)
    return index


def _stream(text: str, seed: int, most: int = 3) -> list[str]:
    """`text` in pieces of 1 to `most` characters, as a model's tokens come."""
    rng = random.Random(seed)
    pieces, i = [], 0
    while i < len(text):
        n = rng.randint(1, most)
        pieces.append(text[i : i + n])
        i += n
    return pieces


def _chunks(chunker: HoldingChunker | SpeechChunker, pieces: list[str]) -> list[str]:
    out: list[str] = []
    for piece in pieces:
        out += chunker.push(piece)
    rest = chunker.flush()
    if isinstance(rest, list):
        return out + rest
    return out + ([rest] if rest else [])


def test_the_index_knows_sentences_and_their_beginnings() -> None:
    index = _index(EN_NOTES)
    assert len(index) == 2 and EN_NOTES[0] in index
    assert index.could_start("  Photosynthesis is how  green")
    assert not index.could_start("Photosynthesis is why")
    assert "Photosynthesis is how green plants" not in index


def test_a_sentence_of_the_notes_repeated_is_cut_as_its_audio_was() -> None:
    # The model's reply: a sentence of its own, then one of the notes' word for word, then its
    # own again; the notes' sentence comes out in the chunks made ahead, the rest as usual.
    own = "水循环就是水在地球上不停地运动。"
    after = "你还想知道什么吗？"
    reply = own + ZH_NOTES[1] + after
    for seed in range(20):
        chunks = _chunks(HoldingChunker(_index(ZH_NOTES)), _stream(reply, seed))
        assert "".join(chunks) == reply
        known = said_chunks(ZH_NOTES[1])
        start = next(i for i, c in enumerate(chunks) if c == known[0])
        assert chunks[start : start + len(known)] == known, seed


def test_an_english_sentence_of_the_notes_is_found_between_words() -> None:
    reply = f"Good question! {EN_NOTES[0]} {EN_NOTES[1]} Does that help?"
    pieces = [w + " " for w in reply.split(" ")]
    chunks = _chunks(HoldingChunker(_index(EN_NOTES)), pieces)
    assert " ".join(chunks) == reply
    for sentence in EN_NOTES:
        known = said_chunks(sentence)
        start = chunks.index(known[0])
        assert chunks[start : start + len(known)] == known


def test_a_sentence_that_departs_late_keeps_its_words_in_order() -> None:
    # It shares a long beginning with a notes' sentence, then goes its own way.
    reply = "植物叶片细胞中的叶绿体含有很多色素。" + ZH_NOTES[0]
    for seed in range(20):
        chunks = _chunks(HoldingChunker(_index(ZH_NOTES)), _stream(reply, seed))
        assert "".join(chunks) == reply, seed
        assert chunks[-len(said_chunks(ZH_NOTES[0])) :] == said_chunks(ZH_NOTES[0])


def test_without_known_sentences_it_cuts_as_the_chunker_does() -> None:
    reply = "水循环就是水在地球上不停地运动。太阳照射海洋，水受热蒸发。你还想知道什么吗？"
    for seed in range(10):
        pieces = _stream(reply, seed)
        live = SpeechChunker(live=True)
        assert _chunks(HoldingChunker(SentenceIndex()), pieces) == _chunks(live, pieces)


def test_a_short_first_sentence_joins_the_next_unless_that_one_is_known() -> None:
    for seed in range(20):
        # The next sentence is the model's own: the short one opens the first chunk with it.
        own = "当然可以。水就是水在地球上不停地运动。"
        chunks = _chunks(HoldingChunker(_index(ZH_NOTES)), _stream(own, seed))
        assert "".join(chunks) == own, seed
        assert chunks[0].startswith("当然可以。水"), (seed, chunks)
        # The next is one of the notes': its audio is made, so the short one is said alone.
        known = "当然可以。" + ZH_NOTES[0]
        chunks = _chunks(HoldingChunker(_index(ZH_NOTES)), _stream(known, seed))
        assert chunks == ["当然可以。", *said_chunks(ZH_NOTES[0])], (seed, chunks)


def test_an_opening_the_model_writes_is_cut_as_the_engines_own() -> None:
    from media_engine.chunking import opening_chunks

    lead = "课程资料里没有这个，不过，"
    index = _index(ZH_NOTES)
    index.add_opening(lead)
    reply = lead + "冰会浮在水面上，是因为冰的密度比水小。"
    for seed in range(20):
        chunks = _chunks(HoldingChunker(index), _stream(reply, seed))
        assert "".join(chunks) == reply, seed
        # "不过，" alone, its audio made ahead; the model's first words a short chunk after.
        opening = opening_chunks(lead)
        assert chunks[: len(opening)] == opening, (seed, chunks)
        assert chunks[len(opening)] == "冰会浮在水面上，", (seed, chunks)
    # The same as when the engine says the opening and then cuts short.
    engine = HoldingChunker(_index(ZH_NOTES))
    said = [c for p in _stream(lead, 0) for c in engine.push(p)] + engine.cut_short()
    assert said == opening_chunks(lead)
    # A reply that only starts like it goes on as usual, nothing lost.
    other = "课程很有意思。" + ZH_NOTES[0]
    for seed in range(10):
        chunks = _chunks(HoldingChunker(index), _stream(other, seed))
        assert "".join(chunks) == other and chunks[-1] == said_chunks(ZH_NOTES[0])[-1], seed


def test_an_english_opening_is_found_between_words() -> None:
    from media_engine.chunking import opening_chunks

    lead = "That's not in our course notes, but"
    index = _index(EN_NOTES)
    index.add_opening(lead)
    reply = f"{lead} bees make honey from nectar. They store it in wax cells."
    chunks = _chunks(HoldingChunker(index), [w + " " for w in reply.split(" ")])
    assert " ".join(chunks) == reply
    assert chunks[: len(opening_chunks(lead))] == opening_chunks(lead)
