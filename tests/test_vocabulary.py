"""The subject vocabulary picked from course material as speech-recognition hints."""

from __future__ import annotations

from knowledge.seed import demo_text
from knowledge.vocabulary import as_list, hotwords

SCIENCE = (
    "Photosynthesis happens in the chloroplasts. The chlorophyll in chloroplasts captures "
    "light, and photosynthesis makes glucose. Photosynthesis needs water. The planet Jupiter "
    "is huge; Jupiter has storms. Everything around us matters because people believe it."
)


def test_rare_long_words_most_frequent_first() -> None:
    words = hotwords([SCIENCE], "en").split()
    # 3× photosynthesis, 2× chloroplast(s), then 1× each in order of appearance.
    assert words[:2] == ["photosynthesis", "chloroplasts"]
    assert "chlorophyll" in words and "glucose" in words


def test_common_and_short_words_are_left_out() -> None:
    words = hotwords([SCIENCE], "en").split()
    for common in ("everything", "around", "because", "people", "believe", "planet", "water"):
        assert common not in words
    assert "huge" not in words  # fewer than 6 letters


def test_plural_counts_with_its_singular() -> None:
    text = "A fossil forms in rock. Fossils are old. Many fossils are bones. A magnet is here."
    assert hotwords([text], "en").split()[0] == "fossil"
    assert "fossils" not in hotwords([text], "en").split()


def test_names_keep_their_capital_sentence_starts_do_not() -> None:
    text = "Metamorphosis changes a caterpillar. We saw Neptune and Neptune again."
    words = hotwords([text], "en").split()
    assert "metamorphosis" in words and "Metamorphosis" not in words
    assert "Neptune" in words


def test_acronyms_possessives_and_curly_apostrophes() -> None:
    words = hotwords(["NASA’s telescope. The telescope's mirror. DNAPOLYMERASE."], "en").split()
    assert words == ["telescope"]


def test_limit_and_several_texts() -> None:
    texts = ["chlorophyll chlorophyll", "glucose chlorophyll photosynthesis"]
    assert hotwords(texts, "en", limit=2) == "chlorophyll glucose"
    assert hotwords(texts, "en", limit=0) == ""
    assert hotwords([], "en") == ""


def test_chinese_multi_character_rare_words() -> None:
    text = "光合作用在叶绿体里进行。叶绿体含有叶绿素。我们知道植物需要光合作用。"
    words = hotwords([text], "zh").split()
    assert {"光合作用", "叶绿体", "叶绿素"} <= set(words)
    assert words.index("光合作用") < words.index("叶绿素")  # 2× before 1×
    for common in ("我们", "知道", "需要"):
        assert common not in words
    assert all(len(w) >= 2 for w in words)


def test_chinese_ignores_latin_and_digits() -> None:
    assert hotwords(["DNA 是 123 遗传物质"], "zh").split() == ["遗传物质"]


def test_english_ignores_other_scripts() -> None:
    assert hotwords(["光合作用 photosynthesis 叶绿体"], "en") == "photosynthesis"


def test_other_languages_get_none() -> None:
    assert hotwords(["La photosynthèse se produit dans les chloroplastes."], "fr") == ""


def test_demo_material_gives_subject_terms_within_the_limit() -> None:
    science = hotwords([demo_text("science_en.md").decode()], "en").split()
    assert len(science) == 40 and len(set(science)) == 40
    assert {"photosynthesis", "friction", "metamorphosis"} <= set(science)
    maths = hotwords([demo_text("maths_zh.md").decode()], "zh", limit=10).split()
    assert len(maths) == 10 and "分母" in maths


def test_as_list_punctuates_for_whisper() -> None:
    assert as_list("fossil magnet Neptune", "en") == "Fossil, magnet, Neptune."
    assert as_list("蒸发 光合作用", "zh") == "蒸发、光合作用。"
    assert as_list("", "en") == as_list("  ", "zh") == ""
