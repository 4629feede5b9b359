"""User text made safe to store and tokenize."""

from __future__ import annotations

from nono.core.errors import EmptyMessage, MessageTooLong


def accepted_text(text: object, max_chars: int) -> str:
    """`text` cleaned, or EmptyMessage / MessageTooLong: what a turn accepts from a person."""
    if not isinstance(text, str) or not text.strip():
        raise EmptyMessage()
    text = clean_text(text)
    if len(text) > max_chars:
        raise MessageTooLong(len(text), max_chars)
    if not text.strip():
        raise EmptyMessage()
    return text


def clean_text(text: str) -> str:
    """Make user text safe to store and tokenize: drop NUL bytes, replace lone surrogates."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text.encode("utf-8", "replace").decode("utf-8") if _has_surrogates(text) else text


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
