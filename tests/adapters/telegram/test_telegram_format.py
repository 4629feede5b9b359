"""Markdown → Telegram HTML: whatever the model writes, Telegram accepts it and shows all of it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nono.adapters.telegram.format import CONTINUED, plan_parts, preview, render
from tests.fakes.telegram_html import parse_html, strip_entities, utf16

# Markdown's special characters, HTML's, and text wide in UTF-16, mixed with plain words.
MARKDOWNISH = st.lists(
    st.sampled_from(
        [
            "**",
            "*",
            "_",
            "__",
            "~~",
            "`",
            "```",
            "```py",
            "\n",
            "\n\n",
            "# ",
            "- ",
            "1. ",
            "> ",
            "    ",
            "[",
            "](",
            ")",
            "https://example.org/a?b=1&c=2",
            "<b>",
            "</i>",
            "&amp;",
            "&",
            "<",
            ">",
            '"',
            "'",
            "|",
            "\\",
            "—",
            "🚀",
            "é",
            "word",
            "two words",
            "tg://user?id=1",
            "javascript:alert(1)",
            "![",
            "---",
        ]
    ),
    max_size=60,
).map("".join)


def shown(html: str) -> str:
    """What Telegram displays for this HTML (raises like Telegram when it would refuse it)."""
    return strip_entities(parse_html(html)).text


def test_untrusted_html_in_model_output_is_escaped_not_obeyed():
    rendered = render('<b>hi</b> <a href="https://evil">x</a> & <script>')
    assert shown(rendered.html) == '<b>hi</b> <a href="https://evil">x</a> & <script>'
    assert parse_html(rendered.html).entities == []


def test_markdown_becomes_telegram_entities():
    parsed = parse_html(render("# Title\n**bold** _it_ ~~gone~~ `code` [site](https://example.org)").html)
    kinds = [(e["type"], e.get("url")) for e in parsed.entities]
    assert parsed.text == "Title\nbold it gone code site"
    assert kinds == [
        ("bold", None),
        ("bold", None),
        ("italic", None),
        ("strikethrough", None),
        ("code", None),
        ("text_link", "https://example.org"),
    ]


def test_formatting_is_nested_only_where_telegram_allows_it():
    # Code inside bold, a link inside a quote, a quote inside a quote: Telegram forbids each nesting,
    # so the inner part is shown as text instead of being refused.
    for markdown in ("**bold `code`**", "> see [docs](https://example.org)", "> > deep", "> ```\ncode\n```"):
        assert shown(render(markdown).html), markdown


def test_links_with_unsafe_schemes_are_not_made_clickable():
    parsed = parse_html(render("[click](javascript:alert(1)) [rel](docs/page)").html)
    assert [e["type"] for e in parsed.entities] == []
    assert "click" in parsed.text and "rel (docs/page)" in parsed.text


def test_an_unfinished_code_block_is_closed_while_streaming():
    text = "Look:\n```python\nprint('hi')"
    assert shown(render(preview(text)).html) == "Look:\nprint('hi')"
    assert preview("no code here") == "no code here"


@settings(max_examples=300, deadline=None)
@given(MARKDOWNISH)
def test_any_model_output_renders_to_html_telegram_accepts(markdown: str):
    rendered = render(markdown)
    parsed = parse_html(rendered.html)  # raises EntityParseError when Telegram would refuse it
    assert parsed.text == rendered.plain


@settings(max_examples=150, deadline=None)
@given(st.lists(MARKDOWNISH, min_size=1, max_size=12).map("\n".join))
def test_long_output_splits_into_parts_that_each_fit(markdown: str):
    limit = 80
    for part in plan_parts(markdown, limit=limit):
        assert utf16(shown(part.html)) <= limit, "the formatted message fits"
        assert utf16(part.source) <= limit, "so does its plain-text fallback"
        assert shown(part.html).strip(), "Telegram refuses empty messages"


def test_continued_code_keeps_its_indentation():
    code = "\n".join(f"    line_{i} = {i}" for i in range(40))
    parts = plan_parts(f"```python\n{code}\n```", limit=200)
    assert len(parts) > 1
    for part in parts[1:]:
        assert part.plain.startswith(CONTINUED + "    line_")
    assert "\n".join(p.plain.removeprefix(CONTINUED) for p in parts) == code
