"""Login throttling: failed logins back off exponentially, per account and per client address.

A few failures are free (typos). After that, each failure doubles the wait before the next
attempt is even checked. An address's wait grows to `address_max_s`; an account's only to
`account_max_s`, so that someone who guesses from many addresses can slow a real student down
for seconds at a time, never lock them out. A success clears the account and the address; a
quiet period forgets them.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Record:
    failures: int = 0
    blocked_until: float = 0.0
    last_failure: float = 0.0


class LoginThrottle:
    """In-memory counts of recent failures; one per API process."""

    def __init__(
        self,
        *,
        free_failures: int = 5,
        base_s: float = 1.0,
        account_max_s: float = 30.0,
        address_max_s: float = 900.0,
        forget_after_s: float = 900.0,
        max_records: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._free = free_failures
        self._base = base_s
        self._max = {"account": account_max_s, "address": address_max_s}
        self._forget = forget_after_s
        self._limit = max_records
        self._clock = clock
        self._records: OrderedDict[tuple[str, str], _Record] = OrderedDict()

    @staticmethod
    def _keys(email: str, address: str) -> list[tuple[str, str]]:
        return [("account", email.strip().lower()), ("address", address)]

    def retry_after(self, email: str, address: str) -> float:
        """Seconds to wait before this login may be checked; 0 when it may be now."""
        now = self._clock()
        wait = 0.0
        for key in self._keys(email, address):
            record = self._records.get(key)
            if record is None:
                continue
            if now - record.last_failure > self._forget:
                del self._records[key]
                continue
            wait = max(wait, record.blocked_until - now)
        return wait

    def failed(self, email: str, address: str) -> None:
        now = self._clock()
        for key in self._keys(email, address):
            record = self._records.pop(key, None) or _Record()
            self._records[key] = record  # most recent last: the oldest are dropped first
            record.failures += 1
            record.last_failure = now
            over = record.failures - self._free
            if over >= 0:
                backoff = min(self._base * 2 ** min(over, 30), self._max[key[0]])
                record.blocked_until = now + backoff
        while len(self._records) > self._limit:
            self._records.popitem(last=False)

    def succeeded(self, email: str, address: str) -> None:
        for key in self._keys(email, address):
            self._records.pop(key, None)


def retry_after_header(wait_s: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(wait_s)))}
