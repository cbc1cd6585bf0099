"""Splitting a streamed reply into speakable chunks."""

from __future__ import annotations

import re

from media_engine.chunking import FIRST_MAX_WORDS, SpeechChunker, first_chunk, opening_chunks


def chunk(text: str, *, piece: int = 3) -> list[str]:
    """Stream `text` in `piece`-character pieces, as tokens would arrive."""
    chunker = SpeechChunker()
    out: list[str] = []
    for i in range(0, len(text), piece):
        out += chunker.push(text[i : i + piece])
    rest = chunker.flush()
    return out + ([rest] if rest else [])


def test_first_chunk_is_a_short_clause_then_sentences() -> None:
    text = (
        "Photosynthesis is how plants make food, using sunlight, water and air. "
        "The leaves take in carbon dioxide. Do you know which gas they give off?"
    )
    assert chunk(text) == [
        "Photosynthesis is how plants make food,",
        "using sunlight, water and air.",
        "The leaves take in carbon dioxide.",
        "Do you know which gas they give off?",
    ]


def test_a_short_opening_waits_for_enough_words() -> None:
    assert chunk("Sure, plants use light, and they also need water. Next.") == [
        "Sure, plants use light,",
        "and they also need water.",
        "Next.",
    ]


def test_a_short_sentence_is_a_chunk_of_its_own() -> None:
    assert chunk("Great question! Plants need light.") == ["Great question!", "Plants need light."]


def test_decimals_and_marks_without_space_do_not_split() -> None:
    assert chunk("Well. Pi is about 3.14 and e is about 2.72 in value. Right?") == [
        "Well.",
        "Pi is about 3.14 and e is about 2.72 in value.",
        "Right?",
    ]


def test_a_long_first_sentence_is_cut_after_a_few_words() -> None:
    # The student hears nothing until the first chunk is synthesized: keep it short.
    assert chunk("Photosynthesis is how green plants make their own food from light.") == [
        "Photosynthesis is how green plants make",
        "their own food from light.",
    ]


def test_closing_quotes_stay_with_their_sentence() -> None:
    assert chunk('He said "stop." Then he left.') == ['He said "stop."', "Then he left."]


def test_chinese_punctuation() -> None:
    text = "光合作用是植物利用阳光，把水和二氧化碳变成养分的过程。你知道它会放出什么气体吗？"
    assert chunk(text, piece=2) == [
        "光合作用是植物利用阳光，",
        "把水和二氧化碳变成养分的过程。",
        "你知道它会放出什么气体吗？",
    ]


def test_chinese_with_ascii_marks() -> None:
    assert chunk("什么是光合作用?光合作用是植物制造养分的过程.") == [
        "什么是光合作用?",
        "光合作用是植物制造养分的过程.",
    ]


def test_an_unpunctuated_opening_is_cut_at_a_word() -> None:
    words = " ".join(f"w{i}" for i in range(20))
    chunks = chunk(words + ".")
    assert chunks[0] == " ".join(f"w{i}" for i in range(FIRST_MAX_WORDS))
    assert "".join(chunks).replace(" ", "") == (words + ".").replace(" ", "")


def test_a_long_sentence_is_cut_at_a_clause() -> None:
    clause = "and then the plant keeps on growing taller"
    text = "It starts small. " + ", ".join([clause] * 8) + "."
    chunks = chunk(text)
    assert chunks[0] == "It starts small."
    assert len(chunks) > 2
    assert all(len(c) <= 300 for c in chunks)  # cut at the first clause past 220


def test_nothing_is_lost() -> None:
    text = "One, two. Three; four: five! Six? 七，八。九"
    assert "".join(chunk(text, piece=1)).replace(" ", "") == text.replace(" ", "")


def test_empty_reply() -> None:
    assert chunk("") == []
    assert chunk("   ") == []


def test_an_unpunctuated_chinese_start_is_cut_after_a_whole_word() -> None:
    chunker = SpeechChunker()
    # The reply arrives in pieces; once twelve characters are in, the first chunk ends with
    # the word that completes six ("绿色植物", not "绿色植").
    assert chunker.push("光合作用是绿") == []
    assert chunker.push("色植物制造养") == ["光合作用是绿色植物"]
    assert chunker.push("料的过程。") == ["制造养料的过程。"]


def test_the_first_chunk_of_a_known_opening_is_cut_as_the_reply_will_be() -> None:
    # Fed a word at a time, as the reply is: a clause without punctuation is cut at its
    # sixth word, although the whole sentence ends in a full stop.
    opening = "Plants use sunlight water and carbon dioxide to make food."
    assert first_chunk(opening, whole=False) == "Plants use sunlight water and carbon"
    assert first_chunk("Photosynthesis is how plants make food, using light.", whole=False) == (
        "Photosynthesis is how plants make food,"
    )
    # A short opening the model goes on from: where its first chunk ends is not known yet.
    assert first_chunk("Yes, it is", whole=False) is None
    # The engine's own whole answer: its end ends the chunk.
    assert first_chunk("12 times 12 is 144.", whole=True) == "12 times 12 is 144."
    assert (
        first_chunk("光合作用是植物利用阳光制造养分的过程。", whole=True)
        == chunk("光合作用是植物利用阳光制造养分的过程。", piece=6)[0]
    )


def test_after_an_opening_the_models_first_words_are_a_short_chunk() -> None:
    chunker = SpeechChunker()
    out: list[str] = []
    for piece in ["Plants make food ", "using sunlight, ", "water and air."]:
        out += chunker.push(piece)
    # The opening's last sentence is complete: it is a chunk now, not when the model goes on.
    assert chunker.cut_short() == "water and air."
    for piece in ["The ", "leaves ", "take ", "in ", "carbon ", "dioxide ", "through ", "tiny "]:
        out += chunker.push(piece)
    assert out == ["Plants make food using sunlight,", "The leaves take in carbon dioxide"]

    # An opening that leads into the model's words ("..., but") joins its first short chunk.
    chunker = SpeechChunker()
    out = chunker.push("That's not in our course notes, ")
    out += chunker.push("but ")
    assert chunker.cut_short() is None
    for piece in ["the ", "sky ", "is ", "blue ", "because ", "of ", "light."]:
        out += chunker.push(piece)
    assert out == ["That's not in our course notes,", "but the sky is blue because"]

    # One that ends at a mark is said whole (made ahead) while the model reads its prompt.
    chunker = SpeechChunker()
    out = [c for piece in ["课程资料里没", "有这个，不过，"] for c in chunker.push(piece)]
    assert out == ["课程资料里没有这个，"]
    assert chunker.cut_short() == "不过，"
    assert opening_chunks("课程资料里没有这个，不过，") == ["课程资料里没有这个，", "不过，"]
    assert opening_chunks("That's not in our course notes, but") == [
        "That's not in our course notes,"
    ]


def test_a_long_chinese_sentence_is_cut_at_a_clause() -> None:
    text = (
        "光合作用是绿色植物制造养料的过程。"
        "温度越高、液体的表面积越大、液面上方的空气流动越快，蒸发就越快，"
        "所以湿衣服在有阳光、有风的地方干得快。"
    )
    chunks = chunk(text)
    # After the first, chunks grow: a clause ends one once it has 8 characters, then 16,
    # then 24 (the second sentence has 48), each synthesized while the one before it plays.
    assert "".join(chunks) == text
    assert chunks[1:] == [
        "制造养料的过程。",
        "温度越高、液体的表面积越大、液面上方的空气流动越快，",
        "蒸发就越快，所以湿衣服在有阳光、有风的地方干得快。",
    ]


def test_chinese_chunks_after_the_first_start_small_and_grow() -> None:
    text = "食物链表示生物之间吃与被吃的关系。食物链的起点是生产者，通常是绿色植物，" * 2
    chunks = chunk(text, piece=6)
    assert "".join(chunks) == text
    sizes = [len(c) for c in chunks[1:]]
    assert sizes[0] <= 12  # made while the first chunk plays
    assert all(size <= 2 * before + 8 for before, size in zip(sizes, sizes[1:], strict=False))


def test_a_long_first_sentence_that_comes_at_once_is_cut_as_if_streamed() -> None:
    # The notes' own sentence arrives whole; the student waits for its first chunk's audio.
    for text in [
        "光合作用是绿色植物制造养料的过程。植物需要阳光。",
        "Photosynthesis is how green plants make their own food from light. Next.",
    ]:
        assert chunk(text, piece=len(text)) == chunk(text, piece=3)
    assert chunk("光合作用是绿色植物制造养料的过程。", piece=100)[0] == "光合作用是绿色植物"
    # A short sentence stays whole.
    assert chunk("Great question! Plants need light.", piece=100)[0] == "Great question!"


def test_a_long_unpunctuated_chinese_stretch_is_cut_at_a_word() -> None:
    text = (
        "光合作用是植物制造养料的过程。"
        + "植物利用光能把从空气中吸收的二氧化碳和从根部吸收的水转变成葡萄糖等有机物" * 2
        + "。"
    )
    chunks = chunk(text, piece=3)
    assert "".join(chunks) == text
    # No chunk after the first two holds more than its size (8, 16, then 24) and a few more.
    assert all(len(c) <= 24 + 8 for c in chunks)
    assert len(chunks) >= 5


def test_live_a_long_chinese_stretch_is_cut_at_a_word_though_a_mark_follows() -> None:
    # A reply the model wrote, two characters at a time. Made ahead, the sentence after the
    # first chunk is one 16-character chunk (2.4 s of Kokoro beside the model, with 1.8 s of
    # audio ahead of it); made live, it is cut at a word past 8 characters, and each chunk
    # after is at most twice the one before less 3 (at least 11).
    text = (
        "水势循环是指地球上的水不断运动和变化的过程。"
        "太阳照射海洋、湖泊和河流，水受热蒸发变成水蒸气；降水汇入江河湖海或渗入地下，"
        "然后又开始新的循环。"
    )
    assert chunk(text, piece=2)[:2] == ["水势循环是指", "地球上的水不断运动和变化的过程。"]
    live = SpeechChunker(live=True)
    chunks = [c for i in range(0, len(text), 2) for c in live.push(text[i : i + 2])]
    rest = live.flush()
    chunks += [rest] if rest else []
    assert "".join(chunks) == text
    assert chunks[:3] == ["水势循环是指", "地球上的水不断运动", "和变化的过程。"]
    cjk = [len(re.findall(r"[\u4e00-\u9fff]", c)) for c in chunks]
    assert all(n <= max(11, 2 * before - 3) for before, n in zip(cjk, cjk[1:], strict=False))
    # The 21-character clause after a 6-character chunk (made in 3.6 s with 1.9 s of audio
    # ahead of it, heard as 1.7 s of silence) is cut.
    assert "太阳照射海洋、湖泊和河流，水受热蒸发变成水蒸气；" not in chunks


OPENING = "课程资料里没有这个，不过，"


def _live(text: str, piece: int, *, after_opening: bool = False) -> list[str]:
    chunker = SpeechChunker(live=True)
    out: list[str] = []
    if after_opening:
        out += chunker.push(OPENING)
        rest = chunker.cut_short()
        out += [rest] if rest else []
    for i in range(0, len(text), piece):
        out += chunker.push(text[i : i + piece])
    rest = chunker.flush()
    return out + ([rest] if rest else [])


def test_live_a_short_chinese_first_sentence_opens_the_first_chunk() -> None:
    # "当然可以。" alone is 1.3 s of audio; the next chunk took Kokoro 2.1 s beside the model,
    # heard as 1.9 s of silence. Live, it opens the first chunk, which is then cut as a first
    # chunk is, counted after it.
    text = "当然可以。水是由氢和氧组成的，它在地球上不停地循环。你还想知道什么吗？"
    for piece in (1, 2, 3, len(text)):
        for after_opening in (False, True):
            chunks = _live(text, piece, after_opening=after_opening)
            assert "".join(chunks).endswith(text)
            first = chunks[len(opening_chunks(OPENING))] if after_opening else chunks[0]
            assert first == "当然可以。水是由氢和氧组成的，", (piece, after_opening)
    # Made ahead (not live), a sentence is still a chunk of its own.
    assert chunk(text)[0] == "当然可以。"
    # A long unpunctuated sentence after it is cut at a word counted after the opening.
    long = "好的。植物利用光能把从空气中吸收的二氧化碳和水转变成葡萄糖。"
    assert _live(long, 2)[0] == "好的。植物利用光能"
    # A first sentence long enough, or English, is a chunk as before.
    assert _live("水是由氢和氧组成的。它不停地循环。", 2)[0] == "水是由氢和氧组成的。"
    assert _live("Sure! Plants need light to grow.", 3)[0] == "Sure!"
