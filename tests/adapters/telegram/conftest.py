"""Every Telegram test opts in to PTB's timedelta values; the fixtures live in tests/support/telegram.py."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _ptb_timedelta(ptb_timedelta: None) -> None:
    """PTB 22 warns whenever it builds a RetryAfter unless the opt-in is set (warnings are errors here)."""
