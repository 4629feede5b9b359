"""P4: 1,000 Telegram users write at the same moment; how long until every one of them has a complete reply.

The bot is the real thing, built the way `nono run` builds it: `open_services` (Redis store under a
random prefix) and `nono.adapters.telegram.running` (python-telegram-bot, long polling, concurrent updates),
with a fake model that streams 100 tokens at 20 tokens/s (5 s per reply, on a schedule). Telegram
is the project's loopback Bot API in a separate process (`bench.telegram_platform`), which queues
one message from each user at once and stops the clock when the last chat shows its complete reply.

(a) Global flood limits off, the bot's (TELEGRAM_GLOBAL_RATE=0) and Telegram's: wall time vs the
    ideal, one reply's 5 s (a single user's wall time is measured in the same run, alternating).
(b) The bot keeps to Telegram's documented global rate, 30 messages/s, and the loopback Telegram
    enforces it (sendMessage, edits and drafts; 429 + retry_after beyond it): wall time vs the
    messages it accepted ÷ 30/s, and how many 429s the bot provoked.
Every run checks that each user got exactly one message, the complete reply to their own message.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import AsyncIterator

from bench.harness import Context, Row, log, logged_events, median, ms
from bench.parts import PERSONAS_DIR, PacedLLM, delete_prefix, new_prefix
from bench.telegram_platform import TOKEN, Platform

REPLY_TOKENS, TOKEN_RATE = 100, 20.0
IDEAL = REPLY_TOKENS / TOKEN_RATE
GLOBAL_RATE = 30.0
GOAL = 1.10


async def run(ctx: Context) -> list[Row]:
    os.environ["PTB_TIMEDELTA"] = "true"  # PTB 22 otherwise warns each time it builds a RetryAfter
    from nono.adapters import telegram
    from nono.bot.options import telegram_options
    from nono.bot.services import open_services
    from nono.bot.settings import Settings

    rounds, limited_users = ctx.pick((1, 300), (2, 1000))
    platform = await Platform.start()
    prefix = new_prefix()
    settings = Settings(
        _env_file=None,
        telegram_token=TOKEN,
        telegram_base_url=platform.base_url,
        store="redis",
        redis_url=ctx.redis_url,
        key_prefix=prefix,
        personas_dir=PERSONAS_DIR,
        data_dir=ctx.workdir,
    )

    @contextlib.asynccontextmanager
    async def bot(global_rate: float) -> AsyncIterator[None]:
        """The bot as `nono run` builds it, with the benchmark's paced model and TELEGRAM_GLOBAL_RATE."""
        configured = settings.model_copy(update={"telegram_global_rate": global_rate})
        async with (
            open_services(configured, llm=PacedLLM(REPLY_TOKENS, TOKEN_RATE)) as services,
            telegram.running(services.chat, telegram_options(configured)),
        ):
            yield

    singles, crowds, limited = [], [], []
    try:
        # (a) the bot's own bot-wide limiter off (TELEGRAM_GLOBAL_RATE=0), Telegram's off too.
        async with bot(0):
            for i in range(rounds):
                order = [(1, singles), (1000, crowds)] if i % 2 == 0 else [(1000, crowds), (1, singles)]
                for users, results in order:
                    log(f"(a) {users} user(s), no global limit")
                    results.append(await platform.crowd(users, 0, timeout=60))
        # (b) both at Telegram's documented rate: the bot keeps to it, Telegram enforces it.
        async with bot(GLOBAL_RATE):
            log(f"(b) {limited_users} users, global limit {GLOBAL_RATE:.0f} messages/s")
            limited.append(await platform.crowd(limited_users, GLOBAL_RATE, timeout=100))
    finally:
        await platform.stop()
        await delete_prefix(ctx.redis_url, prefix)
    return report(singles, crowds, limited, logged_events(ctx.workdir))


def report(singles: list[dict], crowds: list[dict], limited: list[dict], events: Counter[str]) -> list[Row]:
    wall_a = median([c["wall"] for c in crowds])
    ratio_a = wall_a / IDEAL
    b = limited[0]
    ideal_b = b["calls"].get("limited_ok", 0) / GLOBAL_RATE
    ratio_b = b["wall"] / ideal_b if ideal_b else float("nan")
    runs = singles + crowds + limited
    lost = sum(r["lost"] for r in runs)
    wrong = sum(r["wrong_or_extra"] for r in runs)
    delivered = sum(r["users"] for r in runs)
    ok_all = lost == 0 and wrong == 0 and not any(r["unexpected"] for r in runs)
    return [
        Row(
            "P4",
            f"(a) {crowds[0]['users']:,} Telegram users at once, no global flood limit: wall time",
            f"≤ {GOAL:.2f}× ideal",
            ms(wall_a, 0),
            f"{ms(IDEAL, 0)} ideal (1 user alone: {ms(median([s['wall'] for s in singles]), 0)})",
            ratio_a,
            ratio_a <= GOAL and crowds[0]["lost"] == 0,
            f"(a) {len(crowds)} runs of 1,000 users alternating with 1-user runs; Redis store. Calls seen by "
            f"Telegram in the last 1,000-user run: {calls_seen(crowds[-1])}.",
        ),
        Row(
            "P4",
            f"(b) {b['users']:,} users, Telegram's global limit at {GLOBAL_RATE:.0f} messages/s: wall time",
            f"≤ {GOAL:.2f}× ideal",
            ms(b["wall"], 0),
            f"{ms(ideal_b, 0)} ideal ({b['calls'].get('limited_ok', 0)} messages accepted ÷ {GLOBAL_RATE:.0f}/s)",
            ratio_b,
            ratio_b <= GOAL and b["lost"] == 0,
            f"(b) one run; messages = sendMessage, editMessageText and sendMessageDraft calls Telegram accepted; "
            f"429s answered: {b['calls'].get('429', 0)}. Calls: {calls_seen(b)}.",
        ),
        Row(
            "P4",
            "replies lost or wrong (every user exactly one message: the complete reply to their own text)",
            "0 lost",
            f"{lost} lost, {wrong} wrong/extra of {delivered:,}",
            ok=ok_all,
            note="Per-user order: each user sent one message here, so order is the right reply in the right chat; "
            "the adapter's tests cover several messages per user. The bot's warnings and errors over the whole "
            f"benchmark: {', '.join(f'{k} {v}' for k, v in events.most_common()) or 'none'}.",
        ),
    ]


def calls_seen(result: dict) -> str:
    """The Bot API calls a run provoked, by method (the flood-limit counters left out)."""
    calls = {k: v for k, v in result["calls"].items() if k not in ("limited_ok", "429")}
    return ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))
