"""How a question is answered (media_engine.answering) and the wrong-fact guard: unit tests on
their own, with a scripted model stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

from knowledge.index import Passage
from media_engine.answering import (
    NOT_COVERED,
    follows_up,
    in_material,
    is_personal,
    opening,
    plan,
    vocabulary_of,
)
from media_engine.fact_guard import FactGuard, at_most_sentences, clauses, guarded, numbers
from media_engine.lexicon import unknown_words
from media_engine.named_concepts import unknown_named
from media_engine.tutor import TutorProfile

ADA = TutorProfile(id=1, name="Ada", subject="Science", kb_id=1)
STRICT = TutorProfile(id=1, name="Ada", subject="Science", kb_id=1, answer_policy="course_only")
LI = TutorProfile(id=2, name="李老师", subject="科学", language="zh", kb_id=2)

ORBIT = Passage(
    chunk_id=1,
    document_id=1,
    kb_id=1,
    title="science_en.md",
    location="The solar system",
    text=(
        "There are eight planets: Mercury, Venus, Earth, Mars, Jupiter, Saturn, Uranus and "
        "Neptune. The Earth takes about 365 days to orbit the Sun, which is one year, and "
        "spins once on its axis every 24 hours, which gives us day and night."
    ),
    score=0.8,
    relevance=0.8,
)


def unknown(question: str, language: str) -> list[str]:
    return [w for w in ("zorbium", "佐比") if w in question.lower()]


def test_arithmetic_is_computed_not_asked() -> None:
    decided = plan("What is 17 times 23?", ADA, relevant=[])
    assert decided.route == "calculated" and decided.said and "391" in decided.said
    decided = plan("十二乘以三等于多少？", LI, relevant=[])
    assert decided.route == "calculated" and decided.said and "36" in decided.said


def test_personal_questions_are_answered_honestly_by_the_engine() -> None:
    for question, tutor in [
        ("What did I eat for breakfast?", ADA),
        ("What is my teacher's phone number?", ADA),
        ("我今天早饭吃了什么？", LI),
        ("我们科学老师的电话号码是多少？", LI),
    ]:
        decided = plan(question, tutor, relevant=[])
        assert decided.route == "personal" and decided.said, question
    assert not is_personal("What do plants need to grow?", "en")
    assert not is_personal("我们为什么需要睡觉？", "zh")


def test_the_students_own_papers_and_marks_are_not_guessed() -> None:
    for question, tutor in [
        ("What's the answer to question 7 on my homework sheet?", ADA),
        ("What mark did I get in my last maths test?", ADA),
        ("How did I do in my spelling test?", ADA),
        ("我作业本上第七题的答案是什么？", LI),
        ("我上次数学考试考了多少分？", LI),
    ]:
        decided = plan(question, tutor, relevant=[])
        assert decided.route == "personal" and decided.said, question
        assert any(w in decided.said for w in ("can't see", "看不到")), decided.said
    # Asking for help with schoolwork is what a tutor is for.
    for question, language in [
        ("Can you help me with my homework on fractions?", "en"),
        ("How do I revise for my science test?", "en"),
        ("What should I study for my exam?", "en"),
        ("What is the answer to 7 times 8?", "en"),
        ("我明天有数学考试，怎么复习？", "zh"),
        ("你能帮我做作业吗？", "zh"),
    ]:
        assert not is_personal(question, language), question
    assert is_personal("How old is my maths teacher?", "en")


def test_a_word_no_dictionary_knows_is_asked_about() -> None:
    decided = plan("What is the atomic number of zorbium?", ADA, relevant=[], unknown=unknown)
    assert decided.route == "unknown_term" and decided.said and "zorbium" in decided.said
    # A word of the course material is known even when no dictionary has it.
    decided = plan("What is zorbium?", ADA, relevant=[], unknown=unknown, vocabulary={"zorbium"})
    assert decided.route == "general"
    decided = plan("佐比元素的原子序数是多少？", LI, relevant=[], unknown=unknown)
    assert decided.route == "unknown_term" and decided.said and "佐比" in decided.said
    # Chinese material has no spaces: its vocabulary pieces are clauses that contain the word.
    material = {"佐比元素是这门课编出来的例子，"}
    decided = plan("佐比是什么？", LI, relevant=[], unknown=unknown, vocabulary=material)
    assert decided.route == "general"


def test_the_dictionaries_find_words_nobody_uses() -> None:
    assert unknown_words("What is the atomic number of zorbium?", "en") == ["zorbium"]
    assert unknown_words("How does photosynthesis work?", "en") == []
    assert unknown_words("佐比元素的原子序数是多少？", "zh") == ["佐比"]
    # Real terms, and a real word jieba glues to a function word ("商是"), are not flagged.
    for question in [
        "光合作用需要什么？",
        "阿基米德原理是什么？",
        "二十五除以四，商是多少？",
        "没有括号的算式，先算乘除还是加减？",
        "直角三角形里最长的边叫什么？",
    ]:
        assert unknown_words(question, "zh") == [], question


def test_a_named_rule_or_kind_no_school_teaches_is_asked_about() -> None:
    # Made of real words, so the dictionaries know every part; no school teaches them.
    assert unknown_named("What is the Hendricks rule for fractions?", "en") == ["Hendricks rule"]
    assert unknown_named("数学里的蓝莓定理是什么？", "zh") == ["蓝莓定理"]
    assert unknown_named("闪光虫有几条腿？", "zh") == ["闪光虫"]
    # The ones schools teach, named after people or things, and names as common as everyday
    # words, are left alone.
    for question, language in [
        ("What is Hooke's law?", "en"),
        ("Explain Newton's first law of motion.", "en"),
        ("What is the Pythagorean theorem?", "en"),
        ("What does the Hardy-Weinberg principle say?", "en"),
        ("What is the Golden Rule?", "en"),
        ("正弦定理是什么？", "zh"),
        ("牛顿第一定律是什么？", "zh"),
        ("阿基米德原理是什么？", "zh"),
        ("光的折射定律是什么？", "zh"),
        ("萤火虫为什么会发光？", "zh"),
    ]:
        assert unknown_named(question, language) == [], question


def test_a_made_up_name_is_asked_about_even_beside_material() -> None:
    # Notes found for its other words ("orbit") do not answer a question about a made-up rule.
    question = "What is the Hendricks rule for orbits?"
    decided = plan(question, ADA, relevant=[ORBIT], unknown=unknown_words)
    assert decided.route == "unknown_term" and decided.said and "Hendricks rule" in decided.said
    # A single word no dictionary has, beside material, is taken for a slip: the notes answer.
    decided = plan("What is photosinthesis?", ADA, relevant=[ORBIT], unknown=unknown_words)
    assert decided.route == "material"
    # Unless the material names it.
    words = {"the", "hendricks", "rule", "says"}
    assert plan(question, ADA, relevant=[ORBIT], unknown=unknown_words, vocabulary=words).route == (
        "material"
    )


def test_policies_beyond_the_material() -> None:
    question = "Which planet is closest to the Sun?"
    assert plan(question, ADA, relevant=[ORBIT]).route == "material"
    general = plan(question, ADA, relevant=[])
    assert general.route == "general" and general.context == NOT_COVERED["en"]
    strict = plan(question, STRICT, relevant=[])
    assert strict.route == "not_covered" and strict.said and "don't know" in strict.said
    # Small talk is not a question: the model answers it whatever the policy.
    assert plan("Hello, nice to meet you.", STRICT, relevant=[]).route == "chat"


def test_numbers_in_words_digits_and_chinese() -> None:
    assert {"365", "24"} <= numbers("about 365 days and twenty-four hours")
    assert "365" in numbers("三百六十五天")
    assert "9.8" in numbers("about 9.8 metres")


def test_guard_catches_a_changed_number_and_lets_other_facts_pass() -> None:
    guard = FactGuard([ORBIT], "How long does the Earth take to orbit the Sun?")
    assert guard.contradicts("The Earth takes about 265 days to orbit the Sun.")
    assert not guard.contradicts("The Earth takes about 365 days to orbit the Sun.")
    # A number the material is silent on is the model's own knowledge, not a contradiction.
    assert not guard.contradicts("Your heart has four chambers.")
    assert guard.contradicts("The Earth spins on its axis every 12 hours.")


def test_guard_lets_a_worked_example_use_the_students_numbers() -> None:
    area = replace(
        ORBIT,
        text="The area of a rectangle is length × width, so a rectangle 5 cm by 3 cm has an "
        "area of 15 cm².",
    )
    guard = FactGuard([area], "So what's the area if it's 6 cm by 4 cm?")
    assert not guard.contradicts("A rectangle 6 cm by 4 cm has an area of 24 cm².")
    assert guard.contradicts("A rectangle 6 cm by 4 cm has an area of 25 cm².")
    assert guard.contradicts("A rectangle 5 cm by 3 cm has an area of 18 cm².")


async def _stream(*pieces: str) -> AsyncIterator[str]:
    for piece in pieces:
        yield piece


async def test_a_contradiction_is_replaced_by_the_material_and_the_reply_ends() -> None:
    guard = FactGuard([ORBIT], "How long does the Earth take to orbit the Sun?")
    pieces = _stream(
        "Great question! ", "The Earth takes 2", "65 days to orbit ", "the Sun. ", "More"
    )
    out = [p async for p in guarded(pieces, guard)]
    assert "".join(out).startswith("Great question! ") and len(out) > 2
    assert "365 days" in out[-1] and "265" not in "".join(out)
    assert guard.corrections == 1 and "So" not in "".join(out)


async def test_clauses_regroup_pieces_at_punctuation() -> None:
    out = [c async for c in clauses(_stream("Hi", " there, how", " are you? Fine", "."))]
    assert out == ["Hi there, ", "how are you? ", "Fine."]
    out = [c async for c in clauses(_stream("光合作用", "需要光，", "也需要水。"))]
    assert out == ["光合作用需要光，", "也需要水。"]


async def test_a_reply_stops_after_its_sentences() -> None:
    pieces = _stream("One. Two", "! Three? Four.", " Five.")
    assert "".join([p async for p in at_most_sentences(pieces, 3)]) == "One. Two! Three?"
    pieces = _stream("一。", "二！三？四。")
    assert "".join([p async for p in at_most_sentences(pieces, 2)]) == "一。二！"
    # A decimal point or an abbreviation's dot inside a word does not end a sentence.
    pieces = _stream("It is 9", ".", "8 m/s", ".", " Yes", ".", " No.")
    assert "".join([p async for p in at_most_sentences(pieces, 2)]) == "It is 9.8 m/s. Yes."


def test_follow_up_questions_are_told_from_standalone_ones() -> None:
    for question in [
        "And which gas do they give off?",
        "Why is that?",
        "那为什么呢？",
        "它有什么用？",
    ]:
        assert follows_up(question), question
    for question in ["Why is the sky blue?", "What is photosynthesis?", "为什么天空是蓝色的？"]:
        assert not follows_up(question), question


async def test_words_before_a_number_or_name_go_out_before_their_clause_ends() -> None:
    guard = FactGuard([ORBIT], "How long does the Earth take to orbit the Sun?")
    asked: list[str] = []

    async def model() -> AsyncIterator[str]:
        for piece in ("It takes ", "about ", "365 days", " to orbit", " the Sun."):
            asked.append(piece)
            yield piece

    out: list[tuple[str, int]] = [(w, len(asked)) async for w in guarded(model(), guard)]
    # "It takes about " is out while the model is still on the clause's number ...
    assert [w for w, n in out if n <= 2] == ["It ", "takes ", "about "]
    # ... which, like the rest of its clause, waits for the clause to be checked.
    assert all(n == 5 for w, n in out if w.startswith("365"))
    assert "".join(w for w, _ in out) == "It takes about 365 days to orbit the Sun."
    assert guard.corrections == 0


async def test_a_wrong_number_is_held_back_even_when_its_clause_started_out() -> None:
    guard = FactGuard([ORBIT], "How long does the Earth take to orbit the Sun?")
    pieces = _stream("It ", "takes our planet ", "265 days", " to orbit the Sun.", " Then")
    out = "".join([p async for p in guarded(pieces, guard)])
    assert out.startswith("It takes our planet ") and "265" not in out
    assert "365" in out and guard.corrections == 1 and "Then" not in out


async def test_chinese_waits_at_numerals_and_releases_the_rest() -> None:
    guard = FactGuard([ORBIT], "地球绕太阳一圈要多久？")
    asked: list[str] = []

    async def model() -> AsyncIterator[str]:
        for piece in ("光合作用", "需要阳光", "和水。"):
            asked.append(piece)
            yield piece

    out = [(w, len(asked)) async for w in guarded(model(), guard)]
    # The last character waits: it may begin a numeral.
    assert "".join(w for w, n in out if n == 1) == "光合作"
    assert "".join(w for w, _ in out) == "光合作用需要阳光和水。"


def test_a_question_taken_for_a_follow_up_opens_with_its_own_answer() -> None:
    # A question with a pronoun is searched together with the one before it, so the plan's
    # question holds both; their terms together are too many for any one sentence. The
    # opening is found from the student's own words.
    combined = "What are the eight planets? How many days does the Earth take to orbit the Sun?"
    decided = plan(combined, ADA, relevant=[ORBIT])
    own = "How many days does the Earth take to orbit the Sun?"
    lead = opening(decided, own, "en", said="")
    assert lead is not None and lead.startswith("The Earth takes about 365 days")
    # A real follow-up has too few words of its own: both questions find the sentence.
    decided = plan("How long is a year on Earth? And why?", ADA, relevant=[ORBIT])
    assert opening(decided, "And why?", "en", said="") == opening(
        decided, decided.question, "en", said=""
    )


def test_the_material_s_words_are_looked_up_without_punctuation() -> None:
    words = vocabulary_of(["Work it out in BIDMAS order (Brackets, Indices, then the rest)."])
    assert in_material("BIDMAS", words, "en") and in_material("brackets", words, "en")
    decided = plan("What does BIDMAS stand for?", ADA, relevant=[], unknown=unknown_words)
    assert decided.route == "unknown_term"
    decided = plan(
        "What does BIDMAS stand for?", ADA, relevant=[], unknown=unknown_words, vocabulary=words
    )
    assert decided.route == "general"
