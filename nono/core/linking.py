"""/link: one person across platforms. Codes, proposals both accounts confirm, joining and splitting histories.

1. `code(speaker)`: a one-time code, valid 10 minutes, stored only as its SHA-256 (never logged).
2. `propose(speaker, code)`, typed in a private chat on another platform: uses the code up and
   stores a proposal naming both accounts. Nothing is joined yet.
3. `confirm(speaker, id)` by **both** accounts (a button on each platform): the second
   confirmation joins their private conversations into one, histories merged in time order.
`unlink(person)` splits the private history back by who spoke each turn. Wrong codes are limited
per person (5 an hour) and bot-wide, so many throwaway accounts cannot guess together either.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from nono.core.errors import InvalidInput, RateLimited
from nono.core.link_plan import joined_session, merged, owned_by, session_copy, split
from nono.core.people import Speaker
from nono.core.store.base import PersonRecord, Rewrite, Store
from nono.core.users import platform_of, validate_person_id

log = logging.getLogger(__name__)

CODE_TTL = 600.0
CODE_LENGTH = 10  # base32: 50 bits from the system's CSPRNG
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
WRONG_PER_PERSON = 5
WRONG_BOT_WIDE = 100
WRONG_WINDOW = 3600.0
#: Enough for any history a person could have; histories are read whole only when linking.
_ALL = 10**9

PLATFORM_NAMES = {"discord": "Discord", "telegram": "Telegram", "terminal": "terminal", "rest": "REST"}


@dataclass(frozen=True)
class Proposal:
    """A link one account proposed with another's code; it joins once both have confirmed."""

    id: str
    issuer: Speaker  # who asked for the code
    proposer: Speaker  # who typed it
    confirmed: tuple[str, ...] = ()

    def other(self, person: str) -> Speaker:
        """The account `person` would be linked with."""
        return self.proposer if person == self.issuer.person else self.issuer

    def party(self, person: str) -> bool:
        return person in (self.issuer.person, self.proposer.person)

    def to_json(self) -> str:
        return json.dumps({
            "id": self.id, "issuer": [self.issuer.person, self.issuer.name],
            "proposer": [self.proposer.person, self.proposer.name], "confirmed": list(self.confirmed),
        })  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> Proposal:
        data = json.loads(text)
        return cls(data["id"], Speaker(*data["issuer"]), Speaker(*data["proposer"]), tuple(data["confirmed"]))


def account(speaker: Speaker) -> str:
    """How an account is named to the other one: `Discord account “alice” (discord:1001)`."""
    platform = platform_of(speaker.person)
    return f"{PLATFORM_NAMES.get(platform, platform)} account “{speaker.name}” ({speaker.person})"


def normalized(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def _digest(code: str) -> str:
    return hashlib.sha256(normalized(code).encode()).hexdigest()


class Linker:
    """The /link flow on top of the store; every step is also what the REST API's override uses."""

    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock
        self._wrong: dict[str, list[float]] = {}  # person → times of wrong codes; "" is the bot-wide count

    # -- codes and proposals ---------------------------------------------------------------

    async def code(self, speaker: Speaker) -> str:
        """A new one-time code for `speaker` to type on their other platform, shown as `ABCDE-FGHIJ`."""
        code = "".join(secrets.choice(_ALPHABET) for _ in range(CODE_LENGTH))
        issuer = json.dumps([speaker.person, speaker.name])
        until = self._clock() + CODE_TTL
        await self._store.put_token(f"code:{_digest(code)}", issuer, until)
        # Which code a person holds, so erasing them (/forget_me) can find it: the code's key is a hash.
        await self._store.put_token(f"issued:{speaker.person}", _digest(code), until)
        log.info("link_code_issued", extra={"person": speaker.person})
        return f"{code[:5]}-{code[5:]}"

    async def propose(self, speaker: Speaker, code: str) -> Proposal:
        """Use `code` up and propose linking its issuer with `speaker`; both must then confirm."""
        now = self._clock()
        self._check_tries(speaker.person, now)
        taken = await self._store.take_token(f"code:{_digest(code)}", now) if normalized(code) else None
        if taken is None:
            self._count_wrong(speaker.person, now)
            log.info("link_code_wrong", extra={"person": speaker.person})
            raise InvalidInput(
                "That code is wrong, used or expired. Ask for a new one with /link on your other account."
            )
        issuer = Speaker(*json.loads(taken))
        if platform_of(issuer.person) == platform_of(speaker.person):
            raise InvalidInput(
                "That code comes from this platform. Type it in a private chat with me on the other one."
            )
        record = await self._store.person(speaker.person)
        if record is not None and issuer.person in record.people:
            raise InvalidInput("These two accounts are already linked.")
        proposal = Proposal(secrets.token_urlsafe(12), issuer, speaker)
        await self._save(proposal, now)
        log.info("link_proposed", extra={"person": speaker.person, "other": issuer.person})
        return proposal

    async def pending(self, person: str) -> Proposal | None:
        """The proposal waiting for `person`'s confirmation, if any."""
        now = self._clock()
        proposal_id = await self._store.get_token(f"pending:{person}", now)
        proposal = await self._proposal(proposal_id, now) if proposal_id else None
        return proposal if proposal is not None and person not in proposal.confirmed else None

    async def confirm(self, person: str, proposal_id: str) -> tuple[Proposal, bool]:
        """`person` confirms; the proposal and whether the accounts are now linked (after both confirmed)."""
        now = self._clock()
        proposal = await self._proposal(proposal_id, now)
        if proposal is None or not proposal.party(person):
            raise InvalidInput("That link request has expired. Start again with /link.")
        # Each side's confirmation is its own token, so two confirmations at once cannot overwrite each other.
        await self._store.put_token(f"confirmed:{proposal.id}:{person}", "1", now + CODE_TTL)
        other = proposal.other(person).person
        if await self._store.get_token(f"confirmed:{proposal.id}:{other}", now) is None:
            proposal = Proposal(proposal.id, proposal.issuer, proposal.proposer, (*proposal.confirmed, person))
            await self._save(proposal, now)
            return proposal, False
        # Both confirmed: whoever takes the proposal first joins; the other finds it done.
        if await self._store.take_token(f"proposal:{proposal.id}", now) is not None:
            await self.join(proposal.issuer.person, proposal.proposer.person)
        return proposal, True

    async def cancel(self, person: str, proposal_id: str) -> bool:
        """Drop a proposal `person` is part of; True if there was one."""
        now = self._clock()
        proposal = await self._proposal(proposal_id, now)
        if proposal is None or not proposal.party(person):
            return False
        await self._store.take_token(f"proposal:{proposal.id}", now)
        log.info("link_cancelled", extra={"person": person})
        return True

    async def forget(self, person: str) -> None:
        """Drop every token naming `person`: an unused code, a proposal and its confirmations (erasure)."""
        now = self._clock()
        digest = await self._store.take_token(f"issued:{person}", now)
        if digest is not None:
            await self._store.take_token(f"code:{digest}", now)
        proposal_id = await self._store.take_token(f"pending:{person}", now)
        proposal = await self._proposal(proposal_id, now) if proposal_id else None
        if proposal_id:
            await self._store.take_token(f"proposal:{proposal_id}", now)
        if proposal is not None:
            for party in (proposal.issuer.person, proposal.proposer.person):
                await self._store.take_token(f"confirmed:{proposal.id}:{party}", now)
                await self._store.take_token(f"pending:{party}", now)

    async def _save(self, proposal: Proposal, now: float) -> None:
        until = now + CODE_TTL
        await self._store.put_token(f"proposal:{proposal.id}", proposal.to_json(), until)
        for party in (proposal.issuer, proposal.proposer):
            await self._store.put_token(f"pending:{party.person}", proposal.id, until)

    async def _proposal(self, proposal_id: str, now: float) -> Proposal | None:
        text = await self._store.get_token(f"proposal:{proposal_id}", now)
        return None if text is None else Proposal.from_json(text)

    def _check_tries(self, person: str, now: float) -> None:
        for key, limit in ((person, WRONG_PER_PERSON), ("", WRONG_BOT_WIDE)):
            recent = [t for t in self._wrong.get(key, ()) if t > now - WRONG_WINDOW]
            self._wrong[key] = recent
            if len(recent) >= limit:
                raise RateLimited(recent[0] + WRONG_WINDOW - now)

    def _count_wrong(self, person: str, now: float) -> None:
        for key in (person, ""):
            self._wrong.setdefault(key, []).append(now)

    # -- joining and splitting --------------------------------------------------------------

    async def linked(self, person: str) -> tuple[str, ...]:
        """Everyone linked with `person` (themselves included), or just them."""
        record = await self._store.person(validate_person_id(person))
        return record.people if record is not None else (person,)

    async def conversation(self, person: str) -> str:
        """The id of `person`'s private conversation (their own id until linked)."""
        record = await self._store.person(validate_person_id(person))
        return record.conversation if record is not None else person

    async def join(self, first: str, second: str) -> str:
        """Link two people now (both confirmed, or an operator said so); their private conversation's id.

        Both private histories are kept, merged in time order; the first's persona wins when both chose one.
        """
        first, second = validate_person_id(first), validate_person_id(second)
        if first == second:
            raise InvalidInput("A person cannot be linked with themselves.")
        records = [await self._store.person(p) for p in (first, second)]
        groups = [r.people if r else (p,) for r, p in zip(records, (first, second), strict=True)]
        ids = [r.conversation if r else p for r, p in zip(records, (first, second), strict=True)]
        if ids[0] == ids[1]:
            return ids[0]
        histories, sessions = [], []
        for conversation_id, group in zip(ids, groups, strict=True):
            messages = await self._store.history(conversation_id, _ALL)
            histories.append(owned_by(messages, group[0]) if len(group) == 1 else messages)
            sessions.append(await self._store.get_session(conversation_id))
        history = merged(*histories)
        people = tuple(dict.fromkeys((*groups[0], *groups[1])))
        change = Rewrite(people={p: PersonRecord(p, ids[0], people) for p in people})
        session = joined_session(ids[0], sessions[0], sessions[1], len(history))
        change.conversations[ids[1]] = None
        if session is not None:
            change.conversations[ids[0]] = (session, history)
        await self._store.rewrite(change, self._clock())
        log.info("people_linked", extra={"people": list(people), "conversation_id": ids[0], "messages": len(history)})
        return ids[0]

    async def unlink(self, person: str) -> bool:
        """Split `person` from everyone they are linked with; each keeps their own turns. False if not linked."""
        person = validate_person_id(person)
        record = await self._store.person(person)
        if record is None:
            return False
        rest = [p for p in record.people if p != person]
        session = await self._store.get_session(record.conversation)
        theirs, others = split(await self._store.history(record.conversation, _ALL), person)
        keeper = record.conversation if record.conversation != person and len(rest) > 1 else rest[0]
        change = Rewrite(conversations={record.conversation: None})
        if session is not None:
            change.conversations[person] = (session_copy(person, session, len(theirs)), theirs)
            change.conversations[keeper] = (session_copy(keeper, session, len(others)), others)
        change.people[person] = None
        for other in rest:
            change.people[other] = PersonRecord(other, keeper, tuple(rest)) if len(rest) > 1 else None
        await self._store.rewrite(change, self._clock())
        log.info("people_unlinked", extra={"person": person, "others": rest})
        return True
