"""deploy/k8s: valid Kubernetes (checked offline against the API schemas), pinned images, placeholder secrets,
settings Nono understands, and the shipped personas."""

from __future__ import annotations

import copy
from pathlib import Path
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
from pydantic import ValidationError

from nono import __version__
from nono.bot.settings import Settings
from tests.deploy.k8s_manifests import (
    NAMESPACE,
    NONO_IMAGE,
    ROOT,
    Manifests,
    container_env,
    containers,
    is_nono,
    settings_env_names,
)

#: The oldest Kubernetes the README promises, and a recent one (APIs removed since would fail here).
KUBERNETES_VERSIONS = ("1.30", "1.33")
#: Tokens in the shipped Secret: each must be an obvious placeholder, never a real value.
TOKENS = ("DISCORD_TOKEN", "TELEGRAM_TOKEN", "ADMIN_TOKEN", "TELEGRAM_WEBHOOK_SECRET")
#: Variables the Discord start command reads to compute DISCORD_SHARD_IDS; Nono itself ignores them.
SHARD_COMMAND_VARS = {"POD_NAME", "SHARDS_PER_POD"}


def test_every_document_is_valid_kubernetes(k8s: Manifests):
    assert len(k8s.items) >= 15, "deploy/k8s/*.yaml should hold every Nono resource"
    problems = []
    for item in k8s.items:
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(item.doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                path = ".".join(str(part) for part in exc.path)
                problems.append(f"{item.label} (Kubernetes {version}): {path}: {exc.message}")
            except kubernetes_validate.SchemaNotFoundError as exc:  # an unknown kind or removed apiVersion
                problems.append(f"{item.label}: {exc.message}")
    assert not problems, "\n".join(problems)
    # Strict mode is what catches a misspelt field, which the API server would otherwise drop silently.
    broken = copy.deepcopy(k8s.get("Deployment", "nono-telegram"))
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError, match="imagePullPolcy"):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


def test_everything_lives_in_the_nono_namespace(k8s: Manifests):
    k8s.get("Namespace", NAMESPACE)
    outside = [
        item.label
        for item in k8s.items
        if item.kind != "Namespace" and item.doc["metadata"].get("namespace") != NAMESPACE
    ]
    assert not outside, f"not in namespace {NAMESPACE}: {outside}"


def test_every_image_is_pinned_and_nono_runs_this_version(k8s: Manifests):
    nono_images = set()
    for item in k8s.workloads():
        for container in containers(item.doc):
            image = container["image"]
            name, _, tag = image.rpartition(":")
            assert name and "/" not in tag, f"{item.label}: image {image} has no tag (that means :latest)"
            assert tag != "latest", f"{item.label}: image {image} moves under you; pin a version"
            if is_nono(container):
                nono_images.add(image)
    # One version across every workload: a rolling cluster must not mix two store layouts.
    assert nono_images == {f"{NONO_IMAGE}:{__version__}"}


def test_the_secret_ships_placeholders_only(k8s: Manifests):
    secret = k8s.get("Secret", "nono-secrets")
    values = secret["stringData"]
    assert "data" not in secret
    assert set(values) == {*TOKENS, "REDIS_URL"}
    for key in TOKENS:
        assert values[key].startswith("REPLACE_ME"), f"{key} must be a REPLACE_ME placeholder, not a real token"
    # The default URL is the in-cluster Redis, which has no password: nothing secret ships here.
    redis_url = urlsplit(values["REDIS_URL"])
    assert redis_url.password is None and redis_url.hostname == "redis"


def test_settings_and_secrets_name_only_real_nono_settings(k8s: Manifests):
    known = settings_env_names()
    config = set(k8s.get("ConfigMap", "nono-settings")["data"])
    secret = set(k8s.get("Secret", "nono-secrets")["stringData"])
    assert config - known == set(), "the ConfigMap sets variables Nono does not read"
    assert secret - known == set(), "the Secret holds variables Nono does not read"
    assert {"LOCK_LEASE", "TURN_LEASE", "SHUTDOWN_GRACE", "STORE"} <= config
    for item in k8s.nono_workloads():
        for container in filter(is_nono, containers(item.doc)):
            literal = {var["name"] for var in container.get("env", [])}
            assert literal - known - SHARD_COMMAND_VARS == set(), f"{item.label} sets variables Nono does not read"


@pytest.fixture
def bare_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No Nono variable from the developer's shell, no stray .env: only what a test sets."""
    for name in settings_env_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


@pytest.mark.parametrize("workload", [("Deployment", "nono-telegram"), ("StatefulSet", "nono-discord")])
def test_nono_starts_with_each_pods_environment(k8s: Manifests, bare_env: pytest.MonkeyPatch, workload):
    (container,) = filter(is_nono, containers(k8s.get(*workload)))
    for name, value in container_env(container, k8s).items():
        bare_env.setenv(name, value)
    if workload[0] == "StatefulSet":
        bare_env.setenv("DISCORD_SHARD_IDS", "0,1")  # what the start command exports in pod 0
    settings = Settings()
    assert settings.store == "redis" and settings.redis_dsn == "redis://redis:6379/0"
    assert settings.sidecar_host == "0.0.0.0" and str(settings.personas_dir) == "/app/personas"
    # Each pod runs only its own platform: Nono starts every platform whose token it is given.
    if workload[0] == "Deployment":
        assert settings.telegram_token and settings.telegram_webhook_url and not settings.discord_token
    else:
        assert settings.discord_token and settings.discord_shard_count == 4 and not settings.telegram_token
    # What enableServiceLinks: false prevents: the `redis` Service's link variables stop Nono at start-up.
    bare_env.setenv("REDIS_PORT", "tcp://10.96.0.12:6379")
    with pytest.raises(ValidationError, match="redis_port"):
        Settings()


def test_personas_configmap_holds_the_shipped_persona_files(k8s: Manifests):
    shipped = {path.name: path.read_text(encoding="utf-8") for path in sorted((ROOT / "personas").glob("*.yaml"))}
    assert shipped, "personas/*.yaml not found"
    data = k8s.get("ConfigMap", "nono-personas")["data"]
    for name in sorted(shipped.keys() | data.keys()):
        assert data.get(name) == shipped.get(name), (
            f"deploy/k8s/10-personas.yaml and personas/{name} differ: copy the file's text into the ConfigMap"
        )
