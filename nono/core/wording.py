"""The fixed lines Nono shows users, each written once for every adapter and backend.

Adapters render them as Markdown (Discord natively, Telegram through its renderer), so they
stay plain sentences. Texts built from values (limits, persona names) live with their errors.
"""

from __future__ import annotations

#: Anything unexpected went wrong; the details are in the log, never in the reply.
GENERIC_ERROR = "Sorry, something went wrong on my side. Please try again in a moment."
#: A person the allowlists do not admit, told once.
REFUSAL = "Sorry, I'm not available to you here. Ask the person who runs this bot for access."
#: The model finished without writing anything.
EMPTY_REPLY = "(The model returned an empty reply.)"

#: The model failed in a way with nothing more specific to say.
MODEL_UNAVAILABLE = "The model is unavailable right now. Please try again in a minute."
#: A model server that cannot be reached (refused, reset, an error status).
MODEL_SERVER_UNREACHABLE = "The model server is unavailable right now. Please try again in a minute."
#: A reply's stream that broke after it started.
MODEL_STREAM_BROKEN = "The model stopped answering partway through. Please try again in a minute."
#: A model server whose own queue is full.
MODEL_SERVER_BUSY = "The model server is busy right now. Please try again shortly."
#: No first (or next) token within the configured timeout.
TOO_SLOW = "The model took too long to answer. Please try again in a minute."
#: The store (Redis or the SQLite file) cannot be reached.
STORE_UNAVAILABLE = "My memory is temporarily unavailable. Please try again in a minute."
#: A turn that cannot run because Nono is shutting down.
RESTARTING = "I'm restarting right now. Please send that again in a minute."
#: Before the part of a reply a restart (a crash) interrupted.
RESTARTED_PARTIAL = "I was restarted while answering; here is what I had:"
#: In place of a reply a restart interrupted before it said anything.
RESTARTED_NOTHING = "I was restarted while answering, before I had written anything. Please ask again."
#: Too many replies are queued.
BUSY = "I'm busy with other messages right now. Please try again shortly."
#: Someone without a manager's rights tries to change a conversation everyone in a place shares.
MANAGERS_ONLY = (
    "Everyone here shares this conversation, so only the people who manage this place can change its persona "
    "or what it remembers. Ask one of them."
)
#: The platform could not say who manages a place, so a change to its shared conversation cannot be allowed yet.
MANAGERS_UNKNOWN = (
    "I couldn't check who manages this chat right now, so nothing was changed. Please try again in a moment."
)
#: /unlink answered with "keep".
LINK_KEPT = "Nothing changed: the accounts stay linked."
