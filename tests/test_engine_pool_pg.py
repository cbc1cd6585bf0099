"""Placing sessions on a pool of engines from two signaling processes at once, on PostgreSQL:
the choice and the count are one transaction (FOR UPDATE SKIP LOCKED), so no engine is given
more sessions than it has slots, and none is left with a free slot while placements fail."""

from __future__ import annotations

import asyncio
from collections import Counter

from storage import Database
from storage import engines as registry
from tests.test_postgres import pg_url, postgres

__all__ = ["pg_url", "postgres"]


async def test_two_processes_placing_at_once_never_overfill_an_engine(pg_url: str) -> None:
    setup = Database(pg_url)
    await setup.migrate()
    capacity = {"http://engine-a:8001": 3, "http://engine-b:8001": 2, "http://engine-c:8001": 4}
    for url, slots in capacity.items():
        await registry.register(
            setup, url=url, capacity=slots, languages=("en", "zh"), models="llm=off"
        )
    await registry.register(
        setup, url="http://engine-fr:8001", capacity=5, languages=("fr",), models="llm=off"
    )
    # Two signaling processes: two connection pools of their own.
    first, second = Database(pg_url), Database(pg_url)
    try:
        asks = [
            registry.place(db, language="en", stale_s=60)
            for db in (first, second)
            for _ in range(10)
        ]
        placed = await asyncio.gather(*asks)
        got = Counter(url for url in placed if url is not None)
        assert got == Counter(capacity), got  # every slot filled, none twice, French left out
        assert placed.count(None) == 20 - sum(capacity.values())
        counts = {e.url: e.in_use for e in await registry.engines(setup)}
        assert counts == {**capacity, "http://engine-fr:8001": 0}
    finally:
        for db in (first, second, setup):
            await db.close()
