"""The embedded llama.cpp backend: prompts read ahead, and what they must not change."""

from __future__ import annotations

from typing import cast

from media_engine import cores
from media_engine.llm.base import LLM, ChatMessage, GenerationOptions
from media_engine.llm.llama_backend import LlamaCppLLM

SYSTEM: ChatMessage = {"role": "system", "content": "You are a physics tutor. Be brief."}
MATERIAL = (
    "<<<SOURCE 1: Forces>>>\nWithout air resistance, heavy and light objects fall "
    "at the same rate, about 9.8 metres per second squared.\n<<<END SOURCE 1>>>"
)
FINAL: list[ChatMessage] = [
    SYSTEM,
    {"role": "user", "content": f"{MATERIAL}\n\nDo heavy things fall faster than light ones?"},
]
DRAFT: list[ChatMessage] = [
    SYSTEM,
    {"role": "user", "content": f"{MATERIAL}\n\nDo heavy things fall faster"},
]
OTHER: list[ChatMessage] = [{"role": "system", "content": "Something else entirely."}]
GREEDY = GenerationOptions(max_tokens=24, temperature=0.0)


async def _reply(llm: LLM, messages: list[ChatMessage]) -> str:
    return "".join([piece async for piece in llm.stream(messages, GREEDY)])


async def test_a_prompt_read_ahead_is_kept_and_gives_the_same_reply(real_llm: LLM) -> None:
    llm = cast(LlamaCppLLM, real_llm)
    await llm.prefill(OTHER)
    cold = await _reply(llm, FINAL)
    assert cold.strip()

    await llm.prefill(OTHER)
    await llm.prefill(DRAFT)
    model = llm._model
    draft_tokens = llm._tokens(DRAFT)
    # The whole draft is in the cache, so the turn reads only the words that changed...
    assert model.n_tokens == len(draft_tokens)
    assert list(model._input_ids) == draft_tokens
    final_tokens = llm._tokens(FINAL)
    pairs = zip(draft_tokens, final_tokens, strict=False)
    common = next(i for i, (a, b) in enumerate(pairs) if a != b)
    assert common > 0.8 * len(final_tokens)
    # ...and the reply starts as a cold model's does (greedy decoding). Only its start: llama.cpp
    # sums a prompt read in other batch sizes in another order, so near-ties may later go
    # another way; a cache out of step with its tokens would be wrong from the first word.
    warm = await _reply(llm, FINAL)
    assert warm.split()[:5] == cold.split()[:5]


async def test_reading_the_same_prompt_again_reads_nothing(real_llm: LLM) -> None:
    llm = cast(LlamaCppLLM, real_llm)
    await llm.prefill(DRAFT)
    model = llm._model
    before = (model.n_tokens, list(model._input_ids))
    assert llm._keep_common_prefix(model, llm._tokens(DRAFT)) == len(llm._tokens(DRAFT))
    assert (model.n_tokens, list(model._input_ids)) == before


async def test_a_waiting_generation_stops_a_prefill(real_llm: LLM) -> None:
    llm = cast(LlamaCppLLM, real_llm)
    await llm.prefill(OTHER)
    long_prompt: list[ChatMessage] = [
        SYSTEM,
        {"role": "user", "content": " ".join(["Gravity pulls on every mass."] * 60)},
    ]
    llm._active += 1  # as `stream` does when a reply is asked for
    try:
        await llm.prefill(long_prompt)
    finally:
        llm._active -= 1
    # Nothing was read: a reply waiting for the model always goes first.
    assert llm._model.n_tokens < len(llm._tokens(long_prompt))


TUTOR_A: ChatMessage = {
    "role": "system",
    "content": "You are Ada, a friendly science tutor for school students. "
    "Answer in one or two short sentences, in simple words, and never invent facts. " * 3,
}
TUTOR_B: ChatMessage = {
    "role": "system",
    "content": "You are Max, a patient maths tutor. Give hints before answers, "
    "and check that the student understood each step. " * 3,
}
ASK_A: list[ChatMessage] = [TUTOR_A, {"role": "user", "content": "Why is the sky blue?"}]


async def test_a_prompt_read_before_another_is_loaded_not_read_again(real_llm: LLM) -> None:
    from media_engine.llm.llama_states import PromptStates

    llm = cast(LlamaCppLLM, real_llm)
    llm.states = PromptStates()
    await llm.prefill(OTHER)
    cold = await _reply(llm, ASK_A)  # read from the start
    assert llm.states.loads == 0
    # Two tutors' calls: each system prompt read once, the model left holding the second.
    llm.states = PromptStates()
    await llm.prefill([TUTOR_A])
    await llm.prefill([TUTOR_B])
    assert llm._model.n_tokens == len(llm._tokens([TUTOR_B]))
    # A question to the first tutor loads its read instead of reading it again.
    warm = await _reply(llm, ASK_A)
    assert llm.states.loads == 1
    assert warm.split()[:5] == cold.split()[:5]
    asked = llm._tokens(ASK_A)
    assert list(llm._model._input_ids[: len(asked)]) == asked


async def test_a_reply_start_is_continued_not_repeated(real_llm: LLM) -> None:
    llm = cast(LlamaCppLLM, real_llm)
    start = "Without air resistance, heavy and light objects fall at the same rate."
    begun: list[ChatMessage] = [*FINAL, {"role": "assistant", "content": start}]
    # The prompt is the question's, then the start's words: a prompt read ahead for the
    # question still serves.
    question = llm._tokens(FINAL)
    assert llm._tokens(begun)[: len(question)] == question
    assert len(llm._tokens(begun)) > len(question) + 8
    rest = await _reply(llm, begun)
    assert not rest.strip().startswith("Without air resistance")


async def test_the_model_takes_one_thread_while_speech_is_synthesized(real_llm: LLM) -> None:
    # media_engine.cores: on 2 cores, the model beside a synthesis on both threads slowed both.
    llm = cast(LlamaCppLLM, real_llm)
    options = GenerationOptions(max_tokens=2, temperature=0.0)
    messages: list[ChatMessage] = [{"role": "user", "content": "Name a colour."}]
    with cores.synthesizing():
        assert cores.synthesis_running()
        async for _ in llm.stream(messages, options):
            pass
        assert llm._threads_now == 1
    assert not cores.synthesis_running()
    async for _ in llm.stream(messages, options):
        pass
    assert llm._threads_now == llm._n_threads == 2


async def test_a_prompt_read_ahead_waits_while_a_students_turn_is_worked_out(
    real_llm: LLM,
) -> None:
    # media_engine.cores: the final transcript and the end-of-turn model are what the student
    # waits for; a read ahead beside them doubled their time.
    import asyncio
    import threading

    llm = cast(LlamaCppLLM, real_llm)
    await llm.prefill(OTHER)
    long_prompt: list[ChatMessage] = [
        SYSTEM,
        {"role": "user", "content": " ".join(["Light travels faster than sound."] * 20)},
    ]
    hearing_over = threading.Event()

    def hear() -> None:
        with cores.hearing():
            hearing_over.wait(30)

    hearer = asyncio.get_running_loop().run_in_executor(None, hear)
    await asyncio.sleep(0.05)
    assert cores.hearing_running()
    reading = asyncio.create_task(llm.prefill(long_prompt))
    await asyncio.sleep(1.0)
    read_meanwhile = llm._model.n_tokens
    assert not reading.done()
    hearing_over.set()
    await hearer
    await asyncio.wait_for(reading, 60)
    # While the turn was being worked out nothing was read beyond what OTHER had left, nor did
    # the read give up: it read everything once the turn's work was done.
    assert read_meanwhile <= len(llm._tokens(OTHER))
    assert llm._model.n_tokens == len(llm._tokens(long_prompt))


async def test_with_no_call_open_only_the_system_prompts_reads_are_kept(real_llm: LLM) -> None:
    from media_engine.llm.llama_states import PromptStates

    llm = cast(LlamaCppLLM, real_llm)
    llm.states = PromptStates()
    await llm.prefill([SYSTEM])  # a tutor's prompt, read at start or as a call connects
    await llm.prefill(FINAL)  # a conversation's, read ahead of its next turn
    assert len(llm.states._saved) == 2
    await llm.forget_conversations()
    assert list(llm.states._saved) == [tuple(llm._tokens([SYSTEM]))]
    assert llm.cached_bytes() == len(llm.states._saved[tuple(llm._tokens([SYSTEM]))])


async def test_a_system_prompt_read_cut_short_goes_with_the_calls(real_llm: LLM) -> None:
    from media_engine.llm.llama_states import PromptStates

    llm = cast(LlamaCppLLM, real_llm)
    llm.states = PromptStates()
    model = llm._load()
    evaluate = model.eval

    def one_step_then_stop(tokens: list[int]) -> None:
        evaluate(tokens)
        llm.stop_reading_ahead()  # as a reply asked for meanwhile does

    model.eval = one_step_then_stop  # type: ignore[method-assign]
    try:
        await llm.prefill([TUTOR_A])
    finally:
        del model.eval
    cut = tuple(model.input_ids[: model.n_tokens])
    assert 0 < len(cut) < len(llm._tokens([TUTOR_A]))
    assert list(llm.states._saved) == [cut]
    await llm.forget_conversations()
    assert not llm.states._saved  # kept as a system prompt's, it would have stayed for good

    await llm.prefill([TUTOR_A])  # read whole: this one stays
    await llm.forget_conversations()
    assert list(llm.states._saved) == [tuple(llm._tokens([TUTOR_A]))]


HISTORY: list[ChatMessage] = []
for _question, _answer in (
    ("What is photosynthesis?", "It is how plants make food from light, water and air."),
    ("Why is the sky blue?", "Air scatters blue sunlight the most, so the sky looks blue."),
    ("What is gravity?", "Gravity is the pull between masses. It keeps us on the ground."),
    ("What is evaporation?", "It is a liquid turning into a gas, like water in the sun."),
    ("How do bees make honey?", "They collect nectar and fan it until it thickens."),
    ("What is a food chain?", "It shows who eats whom, from plants to animals."),
):
    HISTORY += [{"role": "user", "content": _question}, {"role": "assistant", "content": _answer}]
RAINBOW: ChatMessage = {"role": "user", "content": "How is a rainbow made?"}


async def test_a_history_that_drops_its_oldest_messages_is_not_read_again(
    real_llm: LLM,
) -> None:
    llm = cast(LlamaCppLLM, real_llm)
    moved = [TUTOR_A, *HISTORY[6:], RAINBOW]  # the call's prompt once its window moved on
    await llm.prefill(OTHER)
    cold = await _reply(llm, moved)

    await llm.prefill([TUTOR_A, *HISTORY])  # read after the last reply, before the window moved
    model = llm._model
    read: list[int] = []
    evaluate = model.eval

    def counting(tokens: list[int]) -> None:
        read.extend(tokens)
        evaluate(tokens)

    model.eval = counting  # type: ignore[method-assign]
    try:
        warm = await _reply(llm, moved)
    finally:
        del model.eval
    # The six messages left out are taken out of the cache and the rest moved up: only the
    # new question is read, not the whole history again.
    # (Each word the model writes is read too: at most GREEDY's 24.)
    question = len(llm._tokens(moved)) - len(llm._tokens([TUTOR_A, *HISTORY[6:]]))
    assert len(read) <= question + GREEDY.max_tokens + 1
    assert len(llm._tokens(moved)) - question > 100  # the history it did not read again
    # A cache moved up is not exactly a fresh read, but the model answers the same way.
    assert warm.split()[:3] == cold.split()[:3]
