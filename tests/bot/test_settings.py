"""Settings: defaults that work with nothing configured, clear errors naming the variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from nono.bot.cli import describe_settings_error
from nono.bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def env_names() -> set[str]:
    """Every environment variable name Settings reads (field names and aliases)."""
    names = set()
    for name, field in Settings.model_fields.items():
        names.add(name.upper())
        alias = field.validation_alias
        if alias is not None:
            names.update(str(choice).upper() for choice in getattr(alias, "choices", [alias]))
    return names


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in env_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_zero_configuration_means_sqlite_and_the_local_model():
    settings = Settings()
    assert settings.store == "sqlite" and settings.llm_backend == "local"
    assert settings.redis_dsn == "redis://localhost:6379/0"
    assert (settings.sidecar_host, settings.sidecar_port) == ("127.0.0.1", 8080)
    assert settings.session_timeout == 3600 and settings.history_ttl is None


def test_seed_variables_and_aliases(monkeypatch):
    monkeypatch.setenv("REDIS_HOST", "cache")
    monkeypatch.setenv("REDIS_PORT", "6380")
    monkeypatch.setenv("FASTAPI_HOST", "0.0.0.0")
    monkeypatch.setenv("FASTAPI_PORT", "9000")
    monkeypatch.setenv("DISCORD_CHANNELS", "1, 2,3")
    settings = Settings()
    assert settings.redis_dsn == "redis://cache:6380/0"
    assert (settings.sidecar_host, settings.sidecar_port) == ("0.0.0.0", 9000)
    assert settings.discord_channels == [1, 2, 3]
    monkeypatch.setenv("REDIS_URL", "redis://:pw@elsewhere:1/2")
    assert Settings().redis_dsn == "redis://:pw@elsewhere:1/2"


def test_env_file_is_read(tmp_path):
    (tmp_path / ".env").write_text("STORE=redis\nNUM_CTX=4096\n")
    settings = Settings()
    assert settings.store == "redis" and settings.num_ctx == 4096


@pytest.mark.parametrize(
    "name, value",
    [
        ("NUM_CTX", "lots"),
        ("STORE", "mongo"),
        ("REDIS_PORT", "70000"),
        ("SESSION_TIMEOUT", "-1"),
        ("KEY_PREFIX", "a b"),
    ],
)
def test_invalid_values_fail_naming_the_variable(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as info:
        Settings()
    assert f"  {name}: " in describe_settings_error(info.value)


def test_webhook_without_secret_is_refused(monkeypatch):
    monkeypatch.setenv("TELEGRAM_WEBHOOK_URL", "https://bot.example.org/telegram/webhook")
    with pytest.raises(ValidationError, match="TELEGRAM_WEBHOOK_SECRET"):
        Settings()


def test_tokens_are_secret(monkeypatch):
    monkeypatch.setenv("DISCORD_TOKEN", "discord-secret-value")
    monkeypatch.setenv("ADMIN_TOKEN", "admin-secret-value")
    shown = repr(Settings()) + str(Settings().model_dump())
    assert "discord-secret-value" not in shown and "admin-secret-value" not in shown


def test_every_variable_in_deploy_files_and_env_example_is_a_setting():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    used = set(compose["services"]["nono"]["environment"])
    for name in ("Dockerfile", "Dockerfile.cuda"):
        runtime = (ROOT / "deploy" / name).read_text().rsplit("\nFROM ", 1)[1]  # the stage Nono runs in
        env_block = runtime.split("ENV ", 1)[1].split("\nEXPOSE", 1)[0]
        used |= set(re.findall(r"([A-Z_]+)=", env_block)) - {"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", example, re.MULTILINE))
    assert used and documented
    assert not (used | documented) - env_names(), "unknown variables"
    assert not {n for n in env_names() if n not in ("FASTAPI_HOST", "FASTAPI_PORT")} - documented, "undocumented"
