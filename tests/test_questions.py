"""Grouping students' questions by topic, with the knowledge bases' real embedding model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from knowledge.questions import Asked, clusters, group_questions
from tests.test_knowledge_api import shared_embedder

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


def asked(text: str, *, covered: bool = True, minutes_ago: int = 0) -> Asked:
    return Asked(text, NOW - timedelta(minutes=minutes_ago), "s1", covered)


def test_clusters_merge_by_average_similarity() -> None:
    # 0 and 1 are close; 2 is close to 1 but not to 0: on average it stays out.
    similarity = np.array([[1.0, 0.95, 0.70], [0.95, 1.0, 0.92], [0.70, 0.92, 1.0]])
    assert clusters(similarity, 0.9) == [[0, 1], [2]]
    assert clusters(similarity, 0.8) == [[0, 1, 2]]
    assert clusters(similarity, 0.99) == [[0], [1], [2]]


def test_english_and_chinese_questions_group_by_meaning() -> None:
    questions = [
        asked("What is photosynthesis?"),
        asked("What does photosynthesis produce?"),
        asked("What are the three types of rock?", covered=False),
        asked("What is sedimentary rock?", covered=False, minutes_ago=5),
        asked("Who won the World Cup in 1998?", covered=False),
        asked("Which country won the football World Cup?", covered=False),
        asked("岩石有哪几种？"),
        asked("火成岩是怎么形成的？"),
    ]
    topics = group_questions(questions, shared_embedder())
    groups = {frozenset(q.text for q in t.questions) for t in topics}
    assert frozenset({"What is photosynthesis?", "What does photosynthesis produce?"}) in groups
    assert (
        frozenset({"Who won the World Cup in 1998?", "Which country won the football World Cup?"})
        in groups
    )
    assert frozenset({"岩石有哪几种？", "火成岩是怎么形成的？"}) in groups
    rocks = next(t for t in topics if "What is sedimentary rock?" in {q.text for q in t.questions})
    assert "What are the three types of rock?" in {q.text for q in rocks.questions}
    # Photosynthesis and rocks never share a topic.
    for topic in topics:
        texts = " ".join(q.text for q in topic.questions)
        assert not ("photosynthesis" in texts and "rock" in texts), texts
    # Uncovered topics come first; each is named by one of its own questions.
    flags = [t.covered for t in topics]
    assert flags == sorted(flags), flags
    assert not topics[0].covered and topics[-1].covered
    for topic in topics:
        assert topic.label in {q.text for q in topic.questions}
    # Within a topic, the newest question first.
    assert rocks.questions[-1].text == "What is sedimentary rock?"


def test_a_topic_is_covered_only_when_all_its_questions_were() -> None:
    questions = [asked("What is photosynthesis?"), asked("What is photosynthesis?", covered=False)]
    (topic,) = group_questions(questions, shared_embedder())
    assert len(topic.questions) == 2 and topic.uncovered == 1 and not topic.covered


def test_without_embeddings_only_the_same_words_group() -> None:
    questions = [
        asked("What is photosynthesis?"),
        asked("what is PHOTOSYNTHESIS"),
        asked("How do plants make food?", covered=False),
    ]
    topics = group_questions(questions, None)
    assert [len(t.questions) for t in topics] == [1, 2]
    assert topics[0].label == "How do plants make food?"
    assert group_questions([], shared_embedder()) == []
