"""Login throttling: per account and per address, exponential, bounded for accounts."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from signaling.throttle import LoginThrottle
from tests.conftest import ADMIN, STUDENT, MakeClient


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_backoff_doubles_after_the_free_failures_and_is_capped_per_account() -> None:
    clock = Clock()
    throttle = LoginThrottle(free_failures=3, account_max_s=8, address_max_s=600, clock=clock)
    waits = []
    for i in range(8):
        throttle.failed("Ann@x.org", f"10.0.0.{i}")  # a new address each time
        waits.append(throttle.retry_after("ann@x.org", "10.9.9.9"))
    assert waits == [0, 0, 1, 2, 4, 8, 8, 8]  # the account's wait never passes its cap
    clock.now += 9
    assert throttle.retry_after("ann@x.org", "10.9.9.9") == 0


def test_address_backoff_grows_past_the_account_cap_and_success_clears() -> None:
    clock = Clock()
    throttle = LoginThrottle(free_failures=2, account_max_s=4, address_max_s=600, clock=clock)
    for i in range(12):
        throttle.failed(f"user{i}@x.org", "10.0.0.1")  # one address, many accounts
    assert throttle.retry_after("someone@x.org", "10.0.0.1") == 600
    assert throttle.retry_after("someone@x.org", "10.0.0.2") == 0
    throttle.succeeded("someone@x.org", "10.0.0.1")
    assert throttle.retry_after("someone@x.org", "10.0.0.1") == 0


def test_old_failures_are_forgotten_and_memory_is_bounded() -> None:
    clock = Clock()
    throttle = LoginThrottle(free_failures=1, forget_after_s=60, max_records=10, clock=clock)
    for i in range(100):
        throttle.failed(f"u{i}@x.org", f"a{i}")
    assert len(throttle._records) == 10
    clock.now += 61
    assert throttle.retry_after("u99@x.org", "a99") == 0


async def test_login_is_throttled_with_429_and_retry_after_then_recovers(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client(
        LOGIN_FREE_FAILURES="3",
        LOGIN_ACCOUNT_BACKOFF_MAX_SECONDS="2",
        LOGIN_ADDRESS_BACKOFF_MAX_SECONDS="3",
    )
    caplog.set_level(logging.WARNING, logger="signaling.routes.auth")

    async def attempt(password: str, email: str = STUDENT[0]) -> Any:
        return await client.post("/api/auth/login", json={"email": email, "password": password})

    statuses = [(await attempt("wrong-guess-123")).status for _ in range(3)]
    assert statuses == [401, 401, 401]
    # From now on each failure backs off: a guess soon meets a 429 (however slow the machine).
    for _ in range(10):
        refused = await attempt("wrong-guess-123")
        if refused.status == 429:
            break
        assert refused.status == 401
    assert refused.status == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 3
    assert (await refused.json())["error"]["code"] == "too_many_logins"
    # The waits are capped: the real student gets in once the short back-off has passed.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while (ok := await attempt(STUDENT[1])).status == 429:
        assert loop.time() < deadline, "the account stayed locked"
        await asyncio.sleep(int(ok.headers["Retry-After"]))
    assert ok.status == 200, await ok.text()
    assert (await attempt(ADMIN[1], ADMIN[0])).status == 200
    lines = [r.getMessage() for r in caplog.records]
    assert any("failed login for user" in line for line in lines)
    assert not any("wrong-guess-123" in line for line in lines)
