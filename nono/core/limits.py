"""ChatLimits: the plain values the core is configured with."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChatLimits:
    """Plain values the core is configured with (built from Settings by the wiring)."""

    max_context_messages: int = 20
    num_ctx: int = 2048
    max_message_chars: int = 4000
    max_reply_chars: int = 16000
    session_timeout: float = 3600.0
    max_pending_per_user: int | None = None
    rate_limit_per_minute: int | None = None
    #: Rolling summaries of what leaves the window (the wiring turns them on; MEMORY_SUMMARY).
    memory_summary: bool = False
    memory_summary_tokens: int = 256
    memory_facts_tokens: int = 256
    memory_max_facts: int = 50
    #: How long this process's claim on its replies in flight lasts unrenewed (TURN_LEASE), in seconds.
    turn_lease: float = 30.0
    #: How long a turn's seat in a shared line lasts unrenewed (LOCK_LEASE), in seconds: several processes on one
    #: Redis release a dead one's conversations after this long.
    lock_lease: float = 30.0
