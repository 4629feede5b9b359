"""Fixtures of the core's contract tests for what processes share (replays, leads, duties)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.reopened import OpenStore, reopening


@pytest.fixture
async def open_store(
    backend: tuple[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[OpenStore]:
    """`open_store()`: a new store of the test module's `backend` over the same data each call, as another
    process (or a restart) would open it; all closed afterwards."""
    async with reopening(backend, tmp_path / "shared.sqlite3", request) as open_one:
        yield open_one
