"""At start-up the log says how Nono is configured (secrets redacted) and warns about variables that look like a
misspelt setting, which pydantic would otherwise ignore without a word."""

from __future__ import annotations

from pathlib import Path

import pytest

from nono.bot.config_report import report_configuration, unknown_settings
from nono.bot.logging_setup import REDACTED
from tests.support.json_log import json_log
from tests.support.settings import make_settings

ADMIN = "admin-token-do-not-log-0123456789"
TELEGRAM = "7012345678:AAH-telegram-token-not-logged"
REDIS_PASSWORD = "redis-password-not-logged"


def test_near_misses_of_setting_names_are_caught_with_the_setting_meant() -> None:
    found = unknown_settings(["TELEGRAM_TOKNE", "LLM_BACKED", "log_levle", "DISCORDTOKEN", "OLLAMA_HOTS"])
    assert {name: hint.rsplit(" ", 1)[-1] for name, hint in found.items()} == {
        "TELEGRAM_TOKNE": "TELEGRAM_TOKEN?", "LLM_BACKED": "LLM_BACKEND?", "log_levle": "LOG_LEVEL?",
        "DISCORDTOKEN": "DISCORD_TOKEN?", "OLLAMA_HOTS": "OLLAMA_HOST?",
    }  # fmt: skip


def test_settings_their_aliases_and_secret_files_are_known_and_other_programs_variables_ignored() -> None:
    assert not unknown_settings([
        "TELEGRAM_TOKEN", "LLM_BACKEND", "FASTAPI_PORT", "SIDECAR_HOST",  # settings and their old aliases
        "TELEGRAM_TOKEN_FILE", "ADMIN_TOKEN_FILE", "REDIS_URL_FILE",  # Docker and Kubernetes secrets
        "PATH", "HOME", "HOSTNAME", "PYTHONPATH", "LANG", "TERM", "VIRTUAL_ENV",  # the shell's
        "REDIS_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "OLLAMA_MODELS", "OLLAMA_HOST_PORT",  # neighbours'
    ])  # fmt: skip


def test_a_file_variant_is_for_secrets_only_and_a_misspelt_one_is_caught() -> None:
    found = unknown_settings(["MODEL_NAME_FILE", "TELEGRAM_TOKNE_FILE"])
    assert found["MODEL_NAME_FILE"] == "only secret settings are read from a file; set MODEL_NAME itself"
    assert found["TELEGRAM_TOKNE_FILE"].endswith("did you mean TELEGRAM_TOKEN_FILE?")


def test_the_configuration_line_shows_every_setting_with_secrets_redacted(tmp_path: Path) -> None:
    redis_url = f"redis://:{REDIS_PASSWORD}@redis.internal:6380/0"
    settings = make_settings(
        tmp_path, admin_token=ADMIN, telegram_token=TELEGRAM, redis_url=redis_url, store="redis", num_ctx=4096
    )
    with json_log("INFO") as log:  # no secrets handed to the formatter: the line itself must not carry them
        report_configuration(settings, environ={"PATH": "/usr/bin", "LLM_BACKED": "ollama"})
    [line] = log.events("configuration")
    shown = line["settings"]
    assert shown["STORE"] == "redis" and shown["NUM_CTX"] == 4096 and shown["DATA_DIR"] == str(tmp_path / "data")
    assert shown["ADMIN_TOKEN"] == REDACTED and shown["TELEGRAM_TOKEN"] == REDACTED
    assert shown["REDIS_URL"] == f"redis://:{REDACTED}@redis.internal:6380/0", "host and port stay readable"
    assert shown["DISCORD_TOKEN"] is None, "an unset secret shows as unset"
    assert "LOG_MESSAGE_TEXT" in shown
    for secret in (ADMIN, TELEGRAM, REDIS_PASSWORD):
        assert secret not in log.text
    [warning] = log.events("setting_unknown")
    assert warning["level"] == "WARNING" and warning["variable"] == "LLM_BACKED"
    assert "LLM_BACKEND" in warning["hint"]


def test_a_misspelt_name_in_the_env_file_is_caught_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("# settings\nLOG_LEVEL=DEBUG\nTELEGRAM_TOKNE=123:abc\n")
    with json_log("INFO") as log:
        report_configuration(make_settings(tmp_path), environ={})
    assert [w["variable"] for w in log.events("setting_unknown")] == ["TELEGRAM_TOKNE"]
    assert "123:abc" not in log.text
