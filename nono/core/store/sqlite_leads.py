"""The SQLite store's leader leases: there is nobody to lead.

A SQLite file serves one process (several processes need STORE=redis), so the one process that
opened it is the only candidate for any duty and always leads; nothing is written.
"""

from __future__ import annotations


class SQLiteLeads:
    """Every lead is this process's."""

    async def lead(self, name: str, owner: str, lease: float) -> bool:
        """Always True: no other process shares the file."""
        return True

    async def resign(self, name: str, owner: str) -> None:
        """Nothing to free."""
