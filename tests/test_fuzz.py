"""Fuzzing in CI: a fixed seed and a small budget (bench/fuzz.py runs a larger one). Hostile
data-channel messages on a live call, mutated SDP offers, and requests drawn from the OpenAPI
description: no 5xx, errors as JSON, no dead calls, no leaked slots."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.calls import in_use, plain_tutor
from tests.fuzzing import (
    Request,
    call_survives,
    channel_messages,
    fuzz_offers_on,
    fuzz_rest_on,
    offer_mutations,
    rest_requests,
)


def test_inputs_are_the_same_every_run() -> None:
    assert channel_messages(20) == channel_messages(20)
    assert rest_requests(20) == rest_requests(20)


# Drawn before the server starts (drawing blocks: the loop guard would see it as a stall).
@pytest.fixture
def messages() -> list[str | bytes]:
    return channel_messages(60)


@pytest.fixture
def mutations() -> list[tuple[int, int]]:
    return offer_mutations(40)


@pytest.fixture
def requests() -> list[Request]:
    return rest_requests(150)


async def test_fuzzed_channel_messages_never_kill_the_call(
    messages: list[str | bytes], client: TestClient[Any, Any]
) -> None:
    assert await call_survives(client, messages, tutor_id=await plain_tutor(client))
    assert await in_use(client) == 0


async def test_mutated_offers_get_4xx_json_and_leak_nothing(
    mutations: list[tuple[int, int]], client: TestClient[Any, Any]
) -> None:
    tally = await fuzz_offers_on(client, mutations)
    assert tally.server_errors == [] and tally.not_json == [], tally
    assert tally.inputs == len(mutations)
    assert await in_use(client) == 0


async def test_requests_from_the_openapi_description_never_5xx(
    requests: list[Request], client: TestClient[Any, Any]
) -> None:
    tally = await fuzz_rest_on(client, requests)
    # The test server loads no voice models: the voices answer their documented 503 (counted
    # apart, in `unavailable`); any other 5xx is a failure.
    assert tally.server_errors == [] and tally.not_json == [], tally
    assert len(tally.by_status) > 3, tally.by_status  # the inputs reach past the first check
    assert await in_use(client) == 0


def test_other_seeds_draw_other_inputs() -> None:
    assert rest_requests(20, seed=1) == rest_requests(20, seed=1)
    assert rest_requests(20, seed=1) != rest_requests(20, seed=2)
