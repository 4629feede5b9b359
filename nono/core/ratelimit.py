"""A per-user sliding-window rate limit, decided synchronously so it never reorders a user's messages."""

from __future__ import annotations

from nono.core.errors import RateLimited

WINDOW_SECONDS = 60.0
# Forget idle users every so many checks, so the table stays as small as the set of recent users.
_PRUNE_EVERY = 1024


class RateLimiter:
    """At most `per_minute` accepted messages per user in any 60-second window."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        # A plain list per user (at most `per_minute` stamps): ~190 bytes where a deque takes ~860,
        # which matters when thousands of users wrote in the last minute.
        self._seen: dict[str, list[float]] = {}
        self._checks = 0

    def check(self, user_id: str, now: float) -> None:
        """Count one message for `user_id` at `now`, or raise RateLimited saying when to retry."""
        self._checks += 1
        if self._checks % _PRUNE_EVERY == 0:
            self._prune(now)
        stamps = self._seen.get(user_id)
        if stamps is None:
            stamps = self._seen[user_id] = []
        expired = 0
        while expired < len(stamps) and stamps[expired] <= now - WINDOW_SECONDS:
            expired += 1
        if expired:
            del stamps[:expired]
        if len(stamps) >= self.per_minute:
            raise RateLimited(stamps[0] + WINDOW_SECONDS - now)
        stamps.append(now)

    def __len__(self) -> int:
        return len(self._seen)

    def _prune(self, now: float) -> None:
        idle = [user for user, stamps in self._seen.items() if not stamps or stamps[-1] <= now - WINDOW_SECONDS]
        for user in idle:
            del self._seen[user]
