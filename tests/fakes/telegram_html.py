"""Telegram's `parse_mode=HTML`, as the loopback Bot API server applies it.

Turns a message's HTML into the text the user sees plus its entities (UTF-16 offsets), and
refuses what Telegram refuses with Telegram's wording: unknown tags, unbalanced tags, a
bare `<`, and the nesting the Bot API forbids (code/pre contain nothing and sit in no
formatting; links, code, pre and quotes never contain one another; quotes never nest).
Where the Bot API's rules are ambiguous this parser takes the strict reading, so a message
it accepts is one Telegram accepts.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

# tag -> entity type (None: the tag needs a look at its attributes)
TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": None,
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": None,
    "tg-emoji": "custom_emoji",
}
FORMATTING = {"bold", "italic", "underline", "strikethrough", "spoiler"}
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+))?)*)\s*>")
_ATTR = re.compile(r"([a-zA-Z-]+)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>]+))?")
_ENTITY = re.compile(r"&(#\d{1,7}|#x[0-9a-fA-F]{1,6}|lt|gt|amp|quot);")


class EntityParseError(ValueError):
    """Telegram's "can't parse entities: ..." (the text after the colon)."""


@dataclass
class _Open:
    tag: str
    entity: dict
    start: int  # UTF-16 offset
    byte: int


@dataclass
class Parsed:
    text: str
    entities: list[dict] = field(default_factory=list)


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def parse_html(source: str) -> Parsed:
    """The visible text and entities of `source`, or EntityParseError as Telegram words it."""
    out: list[str] = []
    length = 0
    stack: list[_Open] = []
    entities: list[dict] = []
    i = 0
    while i < len(source):
        ch = source[i]
        if ch == "<":
            match = _TAG.match(source, i)
            if match is None:
                raise EntityParseError(f"Unclosed start tag at byte offset {_byte(source, i)}")
            if match.group(1):
                entities.append(_close(stack, match.group(2).lower(), length, _byte(source, i)))
            else:
                stack.append(_open(stack, match, length, _byte(source, i)))
            i = match.end()
            continue
        if ch == "&":
            match = _ENTITY.match(source, i)
            text = html.unescape(match.group(0)) if match else "&"  # Telegram keeps a lone & as it is
            i = match.end() if match else i + 1
        else:
            text, i = ch, i + 1
        out.append(text)
        length += utf16(text)
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    kept = [e for e in entities if e["length"] and e["type"] != "_pre_code"]
    return Parsed("".join(out), sorted(kept, key=lambda e: e["offset"]))


def _byte(source: str, index: int) -> int:
    return len(source[:index].encode("utf-8"))


def _open(stack: list[_Open], match: re.Match[str], offset: int, byte: int) -> _Open:
    tag = match.group(2).lower()
    attrs = {name.lower(): (value or "").strip("\"'") for name, value in _ATTR.findall(match.group(3) or "")}
    if tag not in TAGS:
        raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {byte}')
    entity = {"type": TAGS[tag]}
    if tag == "span":
        if attrs.get("class") != "tg-spoiler":
            raise EntityParseError(f'Unsupported start tag "span" at byte offset {byte}')
        entity["type"] = "spoiler"
    elif tag == "blockquote":
        entity["type"] = "expandable_blockquote" if "expandable" in attrs else "blockquote"
    elif tag == "a":
        if not attrs.get("href"):
            raise EntityParseError(f"Can't find URL for a text link at byte offset {byte}")
        entity["url"] = html.unescape(attrs["href"])
    elif tag == "code" and stack and stack[-1].tag == "pre" and stack[-1].start == offset:
        language = attrs.get("class", "")
        if language.startswith("language-"):
            stack[-1].entity["language"] = language.removeprefix("language-")
        return _Open(tag, {"type": "_pre_code"}, offset, byte)  # <pre><code> is one pre entity
    _check_nesting(stack, entity["type"], byte)
    return _Open(tag, entity, offset, byte)


def _check_nesting(stack: list[_Open], kind: str, byte: int) -> None:
    for outer in stack:
        parent = outer.entity["type"]
        if parent == "_pre_code":
            parent = "pre"
        if kind in FORMATTING and parent in FORMATTING | {"text_link", "blockquote", "expandable_blockquote"}:
            continue
        if kind in FORMATTING or parent in FORMATTING:
            if kind in ("pre", "code") or parent in ("pre", "code"):
                raise EntityParseError(f'Entity "{kind}" can\'t be nested in "{parent}" at byte offset {byte}')
            continue
        raise EntityParseError(f'Entity "{kind}" can\'t be nested in "{parent}" at byte offset {byte}')


def _close(stack: list[_Open], tag: str, offset: int, byte: int) -> dict:
    if not stack:
        raise EntityParseError(f"Unexpected end tag at byte offset {byte}")
    top = stack.pop()
    if top.tag != tag:
        raise EntityParseError(f'Unmatched end tag at byte offset {byte}, expected "</{top.tag}>", found "</{tag}>"')
    return {**top.entity, "offset": top.start, "length": offset - top.start}


def strip_entities(parsed: Parsed) -> Parsed:
    """Telegram trims surrounding whitespace from a message (moving entity offsets with it)."""
    text = parsed.text
    lead = utf16(text) - utf16(text.lstrip())
    stripped = text.strip()
    size = utf16(stripped)
    entities = []
    for entity in parsed.entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, size)
        if end > start:
            entities.append({**entity, "offset": start, "length": end - start})
    return Parsed(stripped, entities)
