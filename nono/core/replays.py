"""Platform events seen before: a replayed Telegram update or Discord message is acknowledged and ignored.

Telegram sends an update again when its webhook call or `getUpdates` was not confirmed (a crash,
a timeout, a captured call posted again) and keeps undelivered updates for 24 hours; Discord may
dispatch a message again to a resumed or another shard's session. The store remembers each event
id for that long, so a replay is recognised after a restart and in another process on the same
store. This is the one de-duplication of platform events; adapters ask before answering.
"""

from __future__ import annotations

import logging

from nono.core.errors import StoreUnavailable
from nono.core.store.base import Store

log = logging.getLogger(__name__)

#: How long an event id is remembered: as long as Telegram keeps an update it could not deliver.
REPLAY_WINDOW = 24 * 60 * 60.0


class Replays:
    """Tells a platform event seen for the first time from a replay of it, through the store."""

    def __init__(self, store: Store, window: float = REPLAY_WINDOW) -> None:
        self._store = store
        self._window = window

    async def is_replay(self, event: str) -> bool:
        """True when `event` (e.g. `telegram:update:<bot>:<update_id>`) was seen within the window; records it.

        When the store cannot answer, the event counts as new: answering twice beats never answering.
        """
        try:
            first = await self._store.first_sighting(event, self._window)
        except StoreUnavailable:
            log.warning("replay_check_skipped", extra={"event_id": event, "reason": "store_unavailable"})
            return False
        if not first:
            log.info("event_replayed", extra={"event_id": event})
        return not first
