"""What every store backend does the same way: judging expiry, and turning outages into StoreUnavailable."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from nono.core.errors import StoreUnavailable

#: Exception classes, as `except` takes them.
Errors = tuple[type[BaseException], ...]


def lower_bound(since: float, history_ttl: float | None, clock: Callable[[], float]) -> float:
    """The lowest last activity that counts from `since`: with a TTL, a session idle longer has expired.

    Reads are given no `now`, so the store's clock judges expiry; writes purge with their own `now`.
    """
    return since if history_ttl is None else max(since, clock() - history_ttl)


class OutageGuard:
    """The one place a backend's errors become StoreUnavailable; the outage and the recovery are logged once,
    naming `where` the store is (host:port, a file). At DEBUG each operation is logged with its duration."""

    def __init__(
        self, log: logging.Logger, backend: str, outages: Errors, *, bugs: Errors = (),
        on_outage: Callable[[], None] | None = None, where: str = "",
    ) -> None:  # fmt: skip
        self.down = False
        self._log = log
        self._backend = backend
        self._where = where
        self._outages = outages
        self._bugs = bugs
        self._on_outage = on_outage

    @contextmanager
    def __call__(self, op: str) -> Iterator[None]:
        """Guard one operation named `op` (for the log)."""
        # Asked per operation, answered from logging's cache: without DEBUG no clock is read, no line made.
        started = time.monotonic() if self._log.isEnabledFor(logging.DEBUG) else None
        try:
            yield
        except self._bugs:
            raise  # our bug, not an outage: let it surface as such
        except self._outages as exc:
            if not self.down:
                about = {"backend": self._backend, "where": self._where, "op": op, "error": repr(exc)}
                self._log.error("store_unavailable", extra=about)
            self.down = True
            if self._on_outage is not None:
                self._on_outage()
            raise StoreUnavailable() from exc
        finally:
            if started is not None:
                ms = round((time.monotonic() - started) * 1000, 2)
                self._log.debug("store_op", extra={"backend": self._backend, "op": op, "ms": ms})
        if self.down:
            self.down = False
            self._log.warning("store_recovered", extra={"backend": self._backend, "where": self._where, "op": op})
