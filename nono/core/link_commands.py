"""The words of /link and /unlink, once for every platform; adapters add buttons where they have them.

Each step returns the text to show and, when the person has something to confirm, the proposal
(its id goes into the platform's button). Platforms without buttons (the terminal) confirm with
`/link yes` and `/unlink yes`.
"""

from __future__ import annotations

from typing import NamedTuple

from nono.core.errors import InvalidInput
from nono.core.linking import CODE_TTL, Linker, Proposal, account
from nono.core.people import Speaker

PRIVATE_ONLY = "Linking works in a private chat with me only, so nobody else sees your code."
NOT_LINKED = "This account is not linked with any other."


class LinkAnswer(NamedTuple):
    """What to show, and the proposal the person can confirm or cancel (None when there is nothing to confirm)."""

    text: str
    proposal: Proposal | None = None


class LinkCommands:
    """/link, /link CODE, confirming, cancelling and /unlink, on top of a Linker."""

    def __init__(self, linker: Linker) -> None:
        self.linker = linker

    async def link(self, speaker: Speaker, code: str | None = None) -> LinkAnswer:
        """/link alone: the proposal waiting for this person, or a new code. /link CODE: propose."""
        if code and code.strip():
            proposal = await self.linker.propose(speaker, code)
            return LinkAnswer(self._question(proposal, speaker.person), proposal)
        pending = await self.linker.pending(speaker.person)
        if pending is not None:
            return LinkAnswer(self._question(pending, speaker.person), pending)
        code = await self.linker.code(speaker)
        minutes = int(CODE_TTL // 60)
        return LinkAnswer(
            f"Your link code: {code}\nWithin {minutes} minutes, send /link {code} to me in a private chat on "
            "your other platform. Both accounts then confirm, and your private chats with me become one "
            "conversation. Never share this code: whoever types it can ask to join your private chats."
        )

    async def confirm(self, speaker: Speaker, proposal_id: str) -> str:
        """A press of the confirm button (or `/link yes`)."""
        proposal, linked = await self.linker.confirm(speaker.person, proposal_id)
        other = account(proposal.other(speaker.person))
        if linked:
            return f"Linked with {other}. Your private chats with me there and here are now one conversation."
        return f"Confirmed on this side. Now confirm on the {other}: send /link to me there."

    async def cancel(self, speaker: Speaker, proposal_id: str) -> str:
        if await self.linker.cancel(speaker.person, proposal_id):
            return "Cancelled: nothing was linked."
        return "There was no link request to cancel."

    async def answer(self, speaker: Speaker, word: str) -> str:
        """`/link yes` or `/link no` where there are no buttons."""
        pending = await self.linker.pending(speaker.person)
        if pending is None:
            return "There is no link request waiting for you. Send /link to get a code."
        if word == "yes":
            return await self.confirm(speaker, pending.id)
        return await self.cancel(speaker, pending.id)

    async def unlink_question(self, speaker: Speaker) -> str | None:
        """What /unlink asks before it acts, or None when there is nothing to unlink."""
        people = [p for p in await self.linker.linked(speaker.person) if p != speaker.person]
        if not people:
            return None
        return (
            f"Unlink this account from {', '.join(people)}? Your private conversation is split back: "
            "each account keeps the messages it sent and their answers."
        )

    async def unlink(self, speaker: Speaker) -> str:
        """The confirmed /unlink."""
        if not await self.linker.unlink(speaker.person):
            return NOT_LINKED
        return "Unlinked. Each account has its own private conversation with me again."

    @staticmethod
    def _question(proposal: Proposal, person: str) -> str:
        other = account(proposal.other(person))
        if person in proposal.confirmed:
            return f"You confirmed linking with {other}; waiting for that account to confirm (send /link there)."
        return f"Link this account with {other}? Only confirm if that account is yours."


def code_word(arg: str) -> str | None:
    """`yes`/`no` typed after /link (the terminal's buttons), else None."""
    word = arg.strip().lower()
    return word if word in ("yes", "no") else None


def require_private(private: bool, why: str = PRIVATE_ONLY) -> None:
    if not private:
        raise InvalidInput(why)
