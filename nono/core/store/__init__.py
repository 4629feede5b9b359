"""Storage: the Store protocol; the backends (SQLite, Redis) are built by the wiring, by name."""

from __future__ import annotations

from nono.core.store.base import Store

__all__ = ["Store"]
