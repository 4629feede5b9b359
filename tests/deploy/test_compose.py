"""docker-compose.yml and its GPU and dev overrides. Compose cannot run here (no engine, no compose plugin), so these
check what an operator would meet: the README's quick start (`cp .env.example .env`, two lines, `up`) yields settings
Nono accepts, a missing ADMIN_TOKEN stops compose naming it (and Nono itself exits once, naming it), pinned images,
the model pulled before Nono starts, and overrides that do what they say."""

from __future__ import annotations

import re
import stat
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from nono.adapters.http import check_exposure
from nono.bot.options import http_options
from nono.bot.settings import Settings
from tests.deploy.k8s_manifests import settings_env_names
from tests.support.nono_process import nono_env, run_nono
from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "0123456789abcdef0123456789abcdef"  # the shape of `openssl rand -hex 32`'s output
TELEGRAM = "7012345678:AAH-quick-start-token"
#: Compose's variable syntax: $$, ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, $NAME.
VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?:(:?)([-?])([^}]*))?\}|\$(\w+)")
SHUTDOWN_GRACE = Settings.model_fields["shutdown_grace"].default


class MissingVariable(Exception):
    """What `docker compose` prints, and stops on, when a `${NAME:?error}` variable has no value."""


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Substitute variables as compose does before it starts anything (`env`: the shell and `.env`)."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, colon, kind, word, bare = match.groups()
        name = name or bare
        present = name in env and (env[name] != "" or not colon)
        if kind == "?" and not present:
            raise MissingVariable(f"required variable {name} is missing a value: {word}")
        if kind == "-" and not present:
            return word
        return env.get(name, "")

    return VARIABLE.sub(substitute, value)


def parse_dotenv(text: str) -> dict[str, str]:
    """KEY=VALUE lines (compose's env_file and its `.env`); comments and blank lines skipped."""
    values = {}
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip("'\"")
    return values


def quick_start_dotenv() -> dict[str, str]:
    """`cp .env.example .env`, then the two lines the README names: ADMIN_TOKEN and a platform token."""
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    for name, value in (("ADMIN_TOKEN", TOKEN), ("TELEGRAM_TOKEN", TELEGRAM)):
        text, edits = re.subn(rf"(?m)^#?\s*{name}=.*$", f"{name}={value}", text)
        assert edits == 1, f".env.example should have one {name}= line to edit, found {edits}"
    return parse_dotenv(text)


def nono_environment(dotenv: dict[str, str], *files: str) -> dict[str, str]:
    """What the Nono container's process sees: the env_file (.env), then `environment`, which wins."""
    service: dict[str, Any] = {}
    for name in ("docker-compose.yml", *files):
        override = interpolate(load(name), dotenv)["services"].get("nono", {})
        service["environment"] = {**service.get("environment", {}), **override.get("environment", {})}
    return {**dotenv, **{key: str(value) for key, value in service["environment"].items()}}


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in settings_env_names():
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)


def seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)s", duration)
    assert match, f"write {duration!r} in seconds, e.g. 30s"
    return float(match.group(1))


def test_the_quick_start_gives_settings_nono_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from(nono_environment(quick_start_dotenv()), monkeypatch)
    check_exposure(http_options(settings), webhook=settings.telegram_webhook_url is not None)  # what `nono run` does
    assert settings.admin_token is not None and settings.admin_token.get_secret_value() == TOKEN
    assert settings.telegram_token is not None and settings.telegram_token.get_secret_value() == TELEGRAM
    # .env.example's own STORE, LLM_BACKEND, hosts and paths (right outside a container) are overridden.
    assert (settings.store, settings.redis_dsn) == ("redis", "redis://redis:6379/0")
    assert (settings.backend_names, settings.ollama_host) == (["ollama"], "http://ollama:11434")
    assert (settings.sidecar_host, settings.sidecar_port) == ("0.0.0.0", 8080)
    assert (settings.data_dir, settings.personas_dir) == (Path("/app/data"), Path("/app/personas"))


@pytest.mark.parametrize("line", ["# ADMIN_TOKEN=", "ADMIN_TOKEN="])
def test_without_admin_token_compose_stops_before_starting_anything_naming_it(line: str) -> None:
    dotenv = quick_start_dotenv()
    dotenv.pop("ADMIN_TOKEN")
    dotenv.update(parse_dotenv(line))
    with pytest.raises(MissingVariable, match=r"^required variable ADMIN_TOKEN is missing a value: set ADMIN_TOKEN"):
        nono_environment(dotenv)


def test_without_an_env_file_the_shell_environment_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load("docker-compose.yml")["services"]["nono"]["env_file"] == [{"path": ".env", "required": False}]
    settings = settings_from(nono_environment({"ADMIN_TOKEN": TOKEN}), monkeypatch)
    check_exposure(http_options(settings))
    assert settings.model_name == Settings.model_fields["model_name"].default


@pytest.mark.slow
async def test_nono_itself_without_admin_token_exits_once_with_one_line_naming_it(tmp_path: Path) -> None:
    container = nono_environment({"ADMIN_TOKEN": TOKEN})
    del container["ADMIN_TOKEN"]  # as if the guard above were edited away
    # The container's addresses and paths, made local; SIDECAR_HOST stays 0.0.0.0, as in the container.
    local = {"STORE": "sqlite", "DATA_DIR": str(tmp_path / "data"), "PERSONAS_DIR": str(ROOT / "personas"),
             "OLLAMA_HOST": "http://127.0.0.1:9", "SIDECAR_PORT": str(free_port())}  # fmt: skip
    env = nono_env(tmp_path, **{**container, **local})
    env.pop("ADMIN_TOKEN", None)
    run = await run_nono(tmp_path, env, "run")
    assert run.code == 2, run.output
    said = [line for line in run.stderr.splitlines() if not line.startswith("{")]  # JSON lines are the logs
    assert len(said) == 1 and said[0].startswith("nono: configuration error: ") and "ADMIN_TOKEN" in said[0], said


def test_every_variable_nono_is_given_is_a_setting() -> None:
    known = settings_env_names() | {"PYTHONPATH"}
    for name in ("docker-compose.yml", "docker-compose.dev.yml"):
        given = set(load(name)["services"]["nono"].get("environment", {}))
        assert given <= known, f"{name}: Nono has no setting {sorted(given - known)}"


def test_images_are_pinned_and_nono_is_built_from_the_dockerfile() -> None:
    services = load("docker-compose.yml")["services"]
    for name, service in services.items():
        if "image" in service:
            _, _, tag = service["image"].rpartition(":")
            assert re.match(r"\d", tag), f"{name}: {service['image']} moves under you; pin a version"
    assert services["ollama"]["image"] == services["ollama-pull"]["image"]
    assert services["nono"]["build"] == {"context": ".", "dockerfile": "deploy/Dockerfile"}


def test_nono_starts_once_redis_ollama_and_the_model_are_ready() -> None:
    services = load("docker-compose.yml")["services"]
    assert services["nono"]["depends_on"] == {
        "redis": {"condition": "service_healthy"},
        "ollama": {"condition": "service_healthy"},
        "ollama-pull": {"condition": "service_completed_successfully"},
    }
    assert services["ollama-pull"]["depends_on"] == {"ollama": {"condition": "service_healthy"}}
    assert services["ollama-pull"]["restart"] == "no"  # one-shot: it must not pull again and again


@pytest.mark.parametrize("dotenv", [{}, {"MODEL_NAME": "llama3.2:3b"}], ids=["default", "MODEL_NAME set"])
def test_the_model_pulled_is_the_model_nono_asks_for(dotenv: dict[str, str]) -> None:
    compose = interpolate(load("docker-compose.yml"), {"ADMIN_TOKEN": TOKEN, **dotenv})
    pulled = compose["services"]["ollama-pull"]["environment"]["MODEL_NAME"]
    assert pulled == nono_environment({"ADMIN_TOKEN": TOKEN, **dotenv})["MODEL_NAME"]
    assert pulled == dotenv.get("MODEL_NAME", Settings.model_fields["model_name"].default)


FAKE_OLLAMA = """#!/bin/sh
echo "$OLLAMA_HOST $*" >> "$CALLS"
case "$1" in show) exit "$SHOW_STATUS" ;; pull) exit "$PULL_STATUS" ;; esac
exit 64
"""


@pytest.mark.parametrize(
    ("show", "pull", "calls", "ok"),
    [(0, 1, ["show"], True), (1, 0, ["show", "pull"], True), (1, 1, ["show", "pull"], False)],
    ids=["model there: no pull", "model missing: pulled", "pull fails: nono never starts"],
)
def test_the_pull_service_pulls_a_missing_model_and_fails_when_the_pull_does(
    tmp_path: Path, show: int, pull: int, calls: list[str], ok: bool
) -> None:
    service = interpolate(load("docker-compose.yml"), {"ADMIN_TOKEN": TOKEN})["services"]["ollama-pull"]
    ollama = tmp_path / "ollama"  # the image's CLI, replaced by a script that records its calls
    ollama.write_text(FAKE_OLLAMA)
    ollama.chmod(ollama.stat().st_mode | stat.S_IXUSR)
    env = {**service["environment"], "PATH": f"{tmp_path}:/usr/bin:/bin", "CALLS": str(tmp_path / "calls"),
           "SHOW_STATUS": str(show), "PULL_STATUS": str(pull)}  # fmt: skip
    run = subprocess.run([*service["entrypoint"], *service["command"]], env=env, check=False)
    assert (run.returncode == 0) == ok
    made = (tmp_path / "calls").read_text().splitlines()
    assert made == [f"http://ollama:11434 {verb} smollm2:135m" for verb in calls]


def test_nono_answers_on_the_hosts_loopback_only_and_stops_gracefully() -> None:
    nono = load("docker-compose.yml")["services"]["nono"]
    assert nono["ports"] == ["127.0.0.1:8080:8080"]
    assert seconds(nono["stop_grace_period"]) >= 2 * SHUTDOWN_GRACE
    # A crash or a reboot brings it back; a config error (exit 2) is retried with Docker's growing pauses.
    assert nono["restart"] == "unless-stopped"


def test_the_gpu_override_gives_ollama_the_nvidia_gpus() -> None:
    services = load("docker-compose.gpu.yml")["services"]
    assert set(services) == {"ollama"}
    (device,) = services["ollama"]["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"] and device["count"] == "all"


def test_the_dev_override_runs_the_mounted_source_and_restarts_nono_when_it_changes() -> None:
    dev = load("docker-compose.dev.yml")["services"]["nono"]
    assert dev["volumes"] == ["./nono:/app/nono:ro", "./personas:/app/personas:ro"]
    assert dev["environment"]["PYTHONPATH"] == "/app"  # before site-packages: the mounted code is what runs
    command = dev["command"]
    assert command[0] == "watchfiles" and "nono run" in command
    assert command[command.index("nono run") + 1 :] == ["/app/nono", "/app/personas"]
    sigint = next(arg for arg in command if arg.startswith("--sigint-timeout="))
    assert float(sigint.partition("=")[2]) > SHUTDOWN_GRACE
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    extra = dev["build"]["args"]["EXTRAS"]
    assert any(dep.startswith("watchfiles") for dep in extras[extra])
    assert not any(dep.startswith("watchfiles") for dep in extras["local"] + extras["dev"])  # the dev image's only
