"""The `nono` command: chat in the terminal, run the bots, serve the sidecar, check personas."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from nono import __version__
from nono.bot.config_report import report_configuration
from nono.bot.logging_setup import secret_values, setup_logging
from nono.bot.redacted_output import redacted_output
from nono.bot.settings import Settings
from nono.core.errors import ConfigError, PersonaConfigError
from nono.core.persona_files import PERSONA_MAX_BYTES
from nono.core.personas import load_personas

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nono", description="Nono: a chat bot that remembers.")
    parser.add_argument("--version", action="version", version=f"nono {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    chat = sub.add_parser("chat", help="chat in the terminal (reads stdin; one message per line)")
    chat.add_argument("--user", help="user name (default: your login name)")
    sub.add_parser("run", help="run the configured Discord/Telegram bots and the sidecar")
    sub.add_parser("sidecar", help="serve only the HTTP sidecar (health, metrics, REST, WebSocket chat)")
    personas = sub.add_parser("personas", help="persona files")
    personas_sub = personas.add_subparsers(dest="personas_command", required=True)
    check = personas_sub.add_parser("check", help="validate persona files and print every problem")
    check.add_argument("directory", nargs="?", help="directory of *.yaml files (default: PERSONAS_DIR)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(describe_settings_error(exc), file=sys.stderr)
        return 2
    secrets = secret_values(settings)
    # From here on whatever the process prints (error lines, tracebacks, a library's output) is redacted.
    with redacted_output(secrets):
        # In the terminal chat, routine INFO lines would interleave with the conversation.
        quiet = args.command == "chat" and "LOG_LEVEL" not in os.environ
        level = "WARNING" if quiet else settings.log_level
        setup_logging(level, secrets=secrets, message_text=settings.log_message_text)
        return _dispatch(args, settings)


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    """Run the command; a configuration problem is one line on stderr and exit code 2."""
    try:
        if args.command == "personas":
            directory = Path(args.directory) if args.directory else settings.personas_dir
            return check_personas(directory, settings.persona_max_bytes)
        report_configuration(settings)
        return asyncio.run(_run_command(args, settings))
    except ConfigError as exc:
        print(f"nono: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


async def _run_command(args: argparse.Namespace, settings: Settings) -> int:
    from nono.bot import runner  # imported here: `nono personas check` needs none of it

    if args.command == "chat":
        await runner.run_chat(settings, f"terminal:{args.user or login_name()}")
    elif args.command == "sidecar":
        await runner.run_sidecar(settings)
    else:
        await runner.run_bots(settings)
    return 0


def check_personas(directory: Path, max_bytes: int = PERSONA_MAX_BYTES) -> int:
    """Validate persona files; print each problem with file and line."""
    try:
        personas = load_personas(directory, max_bytes)
    except PersonaConfigError as exc:
        for problem in exc.problems:
            print(problem)
        print(f"{len(exc.problems)} problem(s) found", file=sys.stderr)
        return 1
    print(f"{len(personas)} personas OK: {', '.join(sorted(personas))}")
    return 0


def describe_settings_error(exc: ValidationError) -> str:
    """Name each invalid environment variable and say what is wrong with it."""
    lines = ["nono: invalid configuration:"]
    for err in exc.errors():
        name = "_".join(str(part) for part in err["loc"]).upper() or "(settings)"
        lines.append(f"  {name}: {err['msg']}")
    return "\n".join(lines)


def login_name() -> str:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # containers often run with a uid that has no passwd entry
        return "user"
    # A person id is URL-safe (it names their private conversation in the REST API): keep only those characters.
    return "".join(ch for ch in name if ch.isascii() and (ch.isalnum() or ch in "._~-")) or "user"
