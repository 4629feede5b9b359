"""Adapters depend on the core, never on the wiring: the bot builds their options and hands them in."""

from __future__ import annotations

from pathlib import Path

import nono.adapters
from tests.support.imports import imported_names

ADAPTERS = Path(nono.adapters.__file__).resolve().parent


def test_no_adapter_module_imports_the_wiring() -> None:
    modules = sorted(ADAPTERS.rglob("*.py"))
    assert len(modules) > 30, f"found only {len(modules)} modules under {ADAPTERS}"
    reaching_back = {}
    for path in modules:
        wiring = sorted(name for name in imported_names(path) if name.split(".")[:2] == ["nono", "bot"])
        if wiring:
            reaching_back[str(path.relative_to(ADAPTERS))] = wiring
    assert reaching_back == {}


def test_each_adapter_package_exposes_running_and_its_options() -> None:
    from nono.adapters import discord, http, telegram, terminal

    expected = {
        discord: "DiscordOptions",
        http: "HttpOptions",
        telegram: "TelegramOptions",
        terminal: "TerminalOptions",
    }
    for adapter, options in expected.items():
        assert callable(adapter.running), adapter.__name__
        assert hasattr(adapter, options), adapter.__name__
