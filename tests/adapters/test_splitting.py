"""The shared Markdown splitter: parts fit the limit as sent, code fences stay balanced, nothing is lost.

The fence checker below is written independently of the splitter (CommonMark's rule: a fence
opens with three or more backticks and an optional info string, and is closed by a bare fence
of at least as many backticks), so the property does not trust the code it checks.
"""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from nono.adapters.splitting import Part, split_message, split_parts, utf16_len

FENCE_LINE = re.compile(r"^ {0,3}(`{3,})([^\n]*)$")


def open_block(text: str) -> tuple[str | None, str]:
    """The backticks and language tag of the code block still open at the end of `text` (None, "" if none)."""
    open_ticks: str | None = None
    tag = ""
    for line in text.split("\n"):
        match = FENCE_LINE.match(line)
        if match is None:
            continue
        ticks, info = match.groups()
        if open_ticks is None:
            open_ticks, tag = ticks, (info.split() or [""])[0]
        elif not info.strip() and len(ticks) >= len(open_ticks):
            open_ticks, tag = None, ""
    return open_ticks, tag


def open_fence(text: str) -> str | None:
    """The backticks of the code block still open at the end of `text`, or None."""
    return open_block(text)[0]


def open_tag(text: str) -> str:
    """The language tag (first word of the info string) of the code block open at the end of `text`."""
    return open_block(text)[1]


words = st.sampled_from(
    ["Nono", "code", "a", "the", "explains", "é", "naïve", "日本語", "🙂", "👩‍💻", "x" * 70, "`x`", "``", "@here"]
)
fence = st.builds(
    lambda ticks, tag, junk: "`" * ticks + tag + junk,
    st.integers(3, 5),
    st.sampled_from(["", "python", "js", "c++", "objective-c", "a" * 40]),
    st.sampled_from(["", " title=x", " " + "y" * 60]),
)
separator = st.sampled_from([" ", " ", " ", "\n", "\n\n", "\n\n\n", "  \n"])
piece = st.one_of(words, fence.map(lambda f: "\n" + f + "\n"), separator, st.text(max_size=8))
markdown = st.lists(piece, max_size=400).map("".join)


def check(text: str, limit: int, length=len) -> list[Part]:
    parts = split_parts(text, limit, length)
    assert [p.text for p in parts] == split_message(text, limit, length)
    # Nothing lost or repeated: without the fences the splitter added, the parts are the original.
    assert "".join(p.body for p in parts) == text
    for index, part in enumerate(parts):
        assert length(part.text) <= limit, "a part is longer than the platform accepts"
        assert part.body, "an empty part"
        # Each message renders on its own: no code block is left open in it.
        assert open_fence(part.text) is None, f"part {index} leaves a code block open"
        shown = part.reopen + part.body
        if part.close:
            # Closed only because its block goes on: the next part reopens it, same fence and language.
            ticks = open_fence(shown)
            assert ticks is not None and part.close.lstrip("\n") == ticks
            assert (shown + part.close).endswith("\n" + ticks)  # on a line of its own
            if index + 1 < len(parts):
                assert parts[index + 1].reopen == ticks + open_tag(shown)[:16] + "\n"
        else:
            assert open_fence(shown) is None
        assert bool(part.reopen) == (index > 0 and bool(parts[index - 1].close))
    return parts


@settings(max_examples=300, deadline=None)
@given(markdown, st.sampled_from([32, 50, 80, 200, 2000]))
@example("```python\nprint(1)\n", 2000)
@example("```\n" + "x" * 5000 + "\n```", 2000)
@example("a" * 4500, 2000)
def test_parts_fit_stay_balanced_and_join_back_to_the_original(text: str, limit: int):
    check(text, limit)


@settings(max_examples=150, deadline=None)
@given(markdown, st.sampled_from([32, 64, 4096]))
def test_telegram_lengths_count_utf16_units(text: str, limit: int):
    check(text, limit, utf16_len)


def test_cuts_fall_on_paragraph_boundaries_first():
    paragraph = "word " * 60 + "end."
    text = "\n\n".join([paragraph] * 10)

    parts = split_message(text, 2000)

    assert len(parts) == 2
    assert all(part.endswith("end.\n\n") or part.endswith("end.") for part in parts)


def test_a_code_block_cut_in_two_is_closed_and_reopened_with_its_language():
    code = "```python\n" + "\n".join(f"print({i})" for i in range(400)) + "\n```"

    parts = split_message(code, 2000)

    assert len(parts) >= 2
    assert all(p.startswith("```python\n") and p.endswith("\n```") for p in parts)


def test_a_short_reply_with_an_unclosed_block_stays_one_message():
    assert split_message("Here:\n```python\nprint(1)\n", 2000) == ["Here:\n```python\nprint(1)\n```"]


def test_text_that_fits_is_returned_as_is():
    assert split_message("Hello **world**\n\n```\ncode\n```", 2000) == ["Hello **world**\n\n```\ncode\n```"]
    assert split_message("", 2000) == []
