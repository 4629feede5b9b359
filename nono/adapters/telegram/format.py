"""Markdown (what the model writes) → Telegram HTML (what Telegram renders), safely.

The model's output is untrusted text: every character is escaped, and tags only come from
this renderer, built from a CommonMark syntax tree (markdown-it-py), so they are always
balanced and follow Telegram's nesting rules (bold/italic/underline/strikethrough may nest;
code, pre, links and quotes never contain one another; quotes are never nested).
Markdown that does not parse as formatting (a lone `**`, a cut-off link) stays literal text.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

from nono.adapters.splitting import fence_state, split_message, utf16_len

#: Telegram's limit for one message, counted in UTF-16 units after entity parsing.
MESSAGE_LIMIT = 4096
#: Starts a message whose text would otherwise start with (trimmed) indentation.
CONTINUED = "…\n"
_SAFE_LINK = re.compile(r"^(https?://|tg://|mailto:)", re.IGNORECASE)
_LANGUAGE = re.compile(r"^[\w#+.-]{1,32}$")
_FORMAT_TAGS = {"strong": "b", "em": "i", "s": "s"}


@dataclass(frozen=True)
class Rendered:
    """One message: the Markdown it came from, its HTML, and the text Telegram will show."""

    source: str
    html: str
    plain: str


@dataclass(frozen=True)
class _Ctx:
    formatted: bool = False  # inside b/i/s: no code, pre or quote may start here
    quoted: bool = False  # inside a blockquote: no nested quote, code, pre or link
    linked: bool = False  # inside a link: no nested link, code or pre
    depth: int = 0  # list nesting

    @property
    def bare(self) -> bool:
        return not (self.formatted or self.quoted or self.linked)


class _Out:
    def __init__(self) -> None:
        self.html: list[str] = []
        self.plain: list[str] = []

    def text(self, text: str) -> None:
        self.html.append(html.escape(text, quote=False))
        self.plain.append(text)

    def tag(self, markup: str) -> None:
        self.html.append(markup)


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("strikethrough")


@lru_cache(maxsize=256)
def render(markdown: str) -> Rendered:
    """Telegram HTML for one message's worth of Markdown."""
    out = _Out()
    root = SyntaxTreeNode(_parser().parse(markdown))
    _blocks(root.children, out, _Ctx(), markdown.split("\n"))
    return Rendered(markdown, "".join(out.html), "".join(out.plain))


def _blocks(nodes: list[SyntaxTreeNode], out: _Out, ctx: _Ctx, lines: list[str]) -> None:
    for i, node in enumerate(nodes):
        if i:
            # Keep the author's spacing: a blank line in the source stays a blank line.
            start = node.map[0] if node.map else 0
            blank = start > 0 and not lines[start - 1].strip().lstrip(">").strip()
            out.text("\n\n" if blank else "\n")
        _block(node, out, ctx, lines)


def _block(node: SyntaxTreeNode, out: _Out, ctx: _Ctx, lines: list[str]) -> None:
    kind = node.type
    if kind in ("paragraph", "inline"):
        _inlines(node.children if kind == "paragraph" and node.children else [node], out, ctx)
    elif kind == "heading":
        _wrap("b", node.children, out, ctx)
    elif kind in ("bullet_list", "ordered_list"):
        _list(node, out, ctx, lines)
    elif kind == "blockquote":
        if ctx.quoted:
            _blocks(node.children, out, ctx, lines)
        else:
            out.tag("<blockquote>")
            _blocks(node.children, out, _Ctx(quoted=True, depth=ctx.depth), lines)
            out.tag("</blockquote>")
    elif kind in ("fence", "code_block"):
        _code_block(node, out, ctx)
    elif kind == "hr":
        out.text("———")
    else:  # anything this renderer does not know is shown as its text
        _blocks(node.children, out, ctx, lines) if node.children else out.text(node.content)


def _list(node: SyntaxTreeNode, out: _Out, ctx: _Ctx, lines: list[str]) -> None:
    number = int(node.attrs.get("start", 1) or 1)
    inner = _Ctx(ctx.formatted, ctx.quoted, ctx.linked, ctx.depth + 1)
    for i, item in enumerate(node.children):
        if i:
            out.text("\n")
        marker = f"{number + i}. " if node.type == "ordered_list" else "• "
        out.text("  " * ctx.depth + marker)
        _blocks(item.children, out, inner, lines)


def _code_block(node: SyntaxTreeNode, out: _Out, ctx: _Ctx) -> None:
    code = node.content[:-1] if node.content.endswith("\n") else node.content
    if not ctx.bare:
        out.text(code)
        return
    language = (node.info or "").split(maxsplit=1)[0] if node.type == "fence" and node.info else ""
    attr = f' class="language-{language}"' if _LANGUAGE.match(language) else ""
    out.tag(f"<pre><code{attr}>")
    out.text(code)
    out.tag("</code></pre>")


def _inlines(nodes: list[SyntaxTreeNode], out: _Out, ctx: _Ctx) -> None:
    for node in nodes:
        kind = node.type
        if kind == "inline":
            _inlines(node.children, out, ctx)
        elif kind == "text":
            out.text(node.content)
        elif kind in ("softbreak", "hardbreak"):
            out.text("\n")
        elif kind == "code_inline":
            _inline_code(node.content, out, ctx)
        elif kind in _FORMAT_TAGS:
            _wrap(_FORMAT_TAGS[kind], node.children, out, ctx)
        elif kind in ("link", "image"):
            _link(node, out, ctx)
        else:
            _inlines(node.children, out, ctx) if node.children else out.text(node.content)


def _inline_code(code: str, out: _Out, ctx: _Ctx) -> None:
    if ctx.bare:
        out.tag("<code>")
        out.text(code)
        out.tag("</code>")
    else:
        out.text(code)


def _wrap(tag: str, children: list[SyntaxTreeNode], out: _Out, ctx: _Ctx) -> None:
    out.tag(f"<{tag}>")
    _inlines(children, out, _Ctx(True, ctx.quoted, ctx.linked, ctx.depth))
    out.tag(f"</{tag}>")


def _link(node: SyntaxTreeNode, out: _Out, ctx: _Ctx) -> None:
    href = str(node.attrs.get("href") or node.attrs.get("src") or "")
    label = _Ctx(ctx.formatted, ctx.quoted, True, ctx.depth)
    if not _SAFE_LINK.match(href) or ctx.linked or ctx.quoted:
        _inlines(node.children, out, label)
        if href:
            out.text(f" ({href})")
        return
    out.tag(f'<a href="{html.escape(href, quote=True)}">')
    if node.children:
        _inlines(node.children, out, label)
    else:
        out.text(href)
    out.tag("</a>")


def telegram_length(markdown: str) -> int:
    """The larger of a part's size as Markdown (its plain-text fallback) and as rendered text."""
    return max(utf16_len(markdown), utf16_len(render(markdown).plain))


def plan_parts(markdown: str, limit: int = MESSAGE_LIMIT) -> list[Rendered]:
    """The messages a reply becomes: each ≤ limit UTF-16 units as HTML-rendered text and as plain Markdown."""
    if not markdown.strip():
        return []
    room = limit - utf16_len(CONTINUED)
    sources = split_message(markdown, room, utf16_len) if utf16_len(markdown) > room else [markdown]
    parts: list[Rendered] = []
    for source in sources:
        rendered = render(source)
        if utf16_len(rendered.plain) > room:  # rendering never lengthens text in practice; stay safe anyway
            parts += [_deliverable(render(s)) for s in split_message(source, room, telegram_length) if s.strip()]
        elif source.strip():
            parts.append(_deliverable(rendered))
    return parts


def _deliverable(part: Rendered) -> Rendered:
    """A part Telegram will show as written.

    Markup alone (an empty code block) renders to nothing, which Telegram refuses: show its
    Markdown instead. Telegram trims whitespace at the start of a message, which would eat the
    indentation of a code block continued from the previous message: start with a mark.
    """
    if not part.plain.strip():
        return Rendered(part.source, html.escape(part.source, quote=False), part.source)
    if part.plain[:1].isspace():
        return Rendered(part.source, CONTINUED + part.html, CONTINUED + part.plain)
    return part


def preview(markdown: str) -> str:
    """A reply still streaming, made renderable: an open code block is closed for now."""
    opener = fence_state(markdown)
    if opener is None:
        return markdown
    ticks = opener[: len(opener) - len(opener.lstrip("`"))]
    return markdown + ("" if markdown.endswith("\n") else "\n") + ticks
