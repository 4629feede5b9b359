"""One worker process of P4W: `nono run` put together as the runner does it, with P4's paced model.

    python -m bench.p4_worker TOKENS RATE      (configured by the environment, as `nono run` is)

Everything but the model is production: settings read from the environment, JSON logs with secrets
redacted, `open_services`, the runner's `start_parts` (here the Telegram adapter in webhook mode and
the sidecar serving /telegram/webhook), SIGTERM to stop. The model is `bench.parts.PacedLLM`, the one
P4's one-process rows use, because no setting selects it.
"""

from __future__ import annotations

import asyncio
import sys
from contextlib import AsyncExitStack

from bench.parts import PacedLLM
from nono.bot.logging_setup import secret_values, setup_logging
from nono.bot.runner import start_parts, wait_for_stop_signal
from nono.bot.services import open_services
from nono.bot.settings import Settings
from nono.core.llm import LLM


async def serve(settings: Settings, llm: LLM) -> None:
    """`runner.run_bots` with the model given instead of built from LLM_BACKEND."""
    async with open_services(settings, llm=llm) as services, AsyncExitStack() as stack:
        await start_parts(services, stack)
        await wait_for_stop_signal()
        await services.chat.shutdown(settings.shutdown_grace)


def main(argv: list[str]) -> int:
    tokens, rate = int(argv[0]), float(argv[1])
    settings = Settings(_env_file=None)
    setup_logging(settings.log_level, secrets=secret_values(settings))
    asyncio.run(serve(settings, PacedLLM(tokens, rate)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
