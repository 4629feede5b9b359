"""Hardening fixtures: the two durable stores, per-user limits raised for flood tests, waiting on conditions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from nono.core.chat import ChatLimits

# The fault and abuse tests' fixtures (loopback Telegram, a refusing port), shared by their modules.
from tests.hardening.fault_fixtures import closed_port  # noqa: F401

#: Fifty messages from one person plus slack: the flood tests lift the per-user limits on purpose.
FLOOD = 50
FLOOD_LIMITS = ChatLimits(max_pending_per_user=FLOOD + 10, rate_limit_per_minute=None)


@pytest.fixture(params=["sqlite_store", "redis_store"])
def durable_store(request: pytest.FixtureRequest) -> Any:
    """SQLite and the real Redis on 6379 (random key prefix): the stores operators run."""
    return request.getfixturevalue(request.param)


async def until(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Wait until `predicate()` is truthy, polling; fail the test (not hang) when it never is."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)
    return value


def conversation(n: int) -> list[str]:
    """The first `n` turns of the flood, as stored: message k, then reply k."""
    return [text for k in range(n) for text in (f"message {k}", f"reply {k}")]
