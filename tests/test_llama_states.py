"""The saved prompt reads stay within their count and their bytes."""

from __future__ import annotations

from media_engine.llm.llama_states import PromptStates


def test_the_oldest_reads_go_when_the_bytes_pass_the_budget() -> None:
    states = PromptStates(capacity=8, budget=10_000)
    for n in range(4):
        states.keep((n,), bytes(3_000))
    # Four reads of 3,000 bytes do not fit in 10,000: the first one read went.
    assert states.bytes == 9_000
    assert list(states._saved) == [(1,), (2,), (3,)]


def test_a_read_used_again_is_kept_over_older_ones() -> None:
    states = PromptStates(capacity=2, budget=10_000)
    states.keep((1,), b"a")
    states.keep((2,), b"b")
    states.keep((1,), b"aa")  # read again, larger: replaced, and now the newest
    states.keep((3,), b"c")
    assert list(states._saved) == [(1,), (3,)]
    assert states.bytes == 3


def test_a_read_larger_than_the_budget_is_not_kept() -> None:
    states = PromptStates(capacity=8, budget=100)
    states.keep((1,), bytes(50))
    states.keep((2,), bytes(101))
    assert list(states._saved) == [(1,)]
    assert states.bytes == 50


def test_when_no_call_is_open_only_the_system_prompts_reads_stay() -> None:
    states = PromptStates(capacity=3, budget=10_000)
    states.keep((1,), bytes(100), lasting=True)  # a tutor's system prompt
    states.keep((1, 2), bytes(200))  # a conversation with that tutor
    states.keep((5,), bytes(300), lasting=True)
    states.keep((5, 6), bytes(400))  # pushes out (1,): its mark goes with it
    states.forget_conversations()
    assert list(states._saved) == [(5,)] and states.bytes == 300
    states.keep((1,), bytes(100))  # read again, as a conversation's start
    states.forget_conversations()
    assert list(states._saved) == [(5,)] and states.bytes == 300


def test_a_read_another_goes_on_from_is_dropped() -> None:
    states = PromptStates(capacity=8, budget=10_000)
    states.keep((1, 2), bytes(100))  # a system prompt read part way, then cut short
    states.keep((1, 2, 3, 4), bytes(200), lasting=True)  # the whole of it, read later
    assert list(states._saved) == [(1, 2, 3, 4)] and states.bytes == 200
    states.keep((1, 2, 3, 4, 5), bytes(300))  # a conversation: the system prompt's read stays
    states.keep((1, 2, 3, 4, 5, 6), bytes(400))  # the same conversation, one turn on
    states.keep((1, 7), bytes(50))  # shares a start only: both stay
    assert list(states._saved) == [(1, 2, 3, 4), (1, 2, 3, 4, 5, 6), (1, 7)]
    assert states.bytes == 650
    states.forget_conversations()
    assert list(states._saved) == [(1, 2, 3, 4)] and states.bytes == 200
