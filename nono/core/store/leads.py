"""Leader leases: one process at a time does a duty that must not run twice (Telegram long polling).

A lease names its holder (`owner`, unique per process) and lasts `lease` seconds unless renewed, so
a holder that dies or freezes frees it by itself. The store holds it (Redis across processes), so
there is no coordination service of Nono's own.
"""

from __future__ import annotations

from typing import Protocol


class Leads(Protocol):
    """Take, renew and give up named leader leases."""

    async def lead(self, name: str, owner: str, lease: float) -> bool:
        """Take the lead `name` for `lease` seconds if it is free or expired, or renew it if `owner` holds it.

        False, changing nothing, while another owner holds it. Raises StoreUnavailable.
        """

    async def resign(self, name: str, owner: str) -> None:
        """Give the lead up if `owner` holds it (so another can take it at once); else change nothing."""
