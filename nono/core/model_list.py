"""/models worded once for every adapter: each backend's models, the default backend and the model answering here.

The text stays short enough for one Telegram or Discord message: a few names per backend, the rest
counted. A backend that cannot list its models says why in one line; the others are still shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nono.core.llm.backends import Listing
from nono.core.llm.base import ModelInfo
from nono.core.personas import Persona

#: Names shown per backend; a server with hundreds (OpenRouter) would not fit one message.
MAX_NAMES = 15
#: An error line is the backend's user-facing reason, cut to this length.
MAX_ERROR_CHARS = 200
CURRENT = "▶"
OTHER = "•"


@dataclass(frozen=True)
class Answering:
    """The backend and model a persona answers with: its `backend:` (else the default), its `model:` (else the
    backend's own)."""

    backend: str
    model: str | None

    @classmethod
    def of(cls, persona: Persona, listings: Sequence[Listing], default: str) -> Answering:
        backend = persona.backend or default
        own = next((listing.model for listing in listings if listing.backend == backend), None)
        return cls(backend, persona.model or own)


def format_models(listings: Sequence[Listing], default: str, persona: Persona) -> str:
    """The /models answer: the model answering in this conversation, then every backend's models."""
    answering = Answering.of(persona, listings, default)
    model = answering.model or "its default model"
    lines = [f"{persona.display_name} answers here with {model} ({answering.backend})."]
    for listing in listings:
        lines += _backend_lines(listing, default, answering)
    return "\n".join(lines)


def _backend_lines(listing: Listing, default: str, answering: Answering) -> list[str]:
    title = f"{listing.backend} (default backend)" if listing.backend == default else listing.backend
    if listing.error is not None:
        reason = " ".join(listing.error.split())[:MAX_ERROR_CHARS]
        return [f"{title}: can't list its models: {reason}"]
    if not listing.models:
        return [f"{title}: no models"]
    wanted = answering.model if answering.backend == listing.backend else None
    # The marked model comes first, so the cap never hides the one answering here.
    models = sorted(listing.models, key=lambda m: not _same_model(m.name, wanted))
    lines = [f"{title}:"]
    if wanted is not None and not any(_same_model(m.name, wanted) for m in models):
        lines.append(f"{CURRENT} {wanted} (not listed by its server)")
    for info in models[:MAX_NAMES]:
        mark = CURRENT if _same_model(info.name, wanted) else OTHER
        lines.append(f"{mark} {_describe(info)}")
    if len(models) > MAX_NAMES:
        lines.append(f"… and {len(models) - MAX_NAMES} more")
    return lines


def _same_model(listed: str, wanted: str | None) -> bool:
    """Ollama lists `llama3.2:latest` for a model asked for as `llama3.2`; every other name must match exactly."""
    return wanted is not None and listed in (wanted, f"{wanted}:latest")


def _describe(info: ModelInfo) -> str:
    details = [d for d in (_size(info.size), _context(info.context)) if d]
    return f"{info.name} ({', '.join(details)})" if details else info.name


def _size(size: int | None) -> str | None:
    """Decimal units, as Ollama and model hubs show them."""
    if not size:
        return None
    if size >= 10**9:
        return f"{size / 10**9:.1f} GB"
    return f"{max(1, round(size / 10**6))} MB"


def _context(context: int | None) -> str | None:
    if not context:
        return None
    # Servers say 128000 or 131072 and people say "128K" for both.
    for unit in (1000, 1024):
        if context % unit == 0:
            return f"{context // unit}K context"
    return f"{context:,} context"
