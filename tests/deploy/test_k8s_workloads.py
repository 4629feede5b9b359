"""deploy/k8s workloads: webhook workers that scale, Discord shard groups that split the shards, Nono pods that are
probed, stop gracefully and run unprivileged, Redis and Ollama reachable only from Nono."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.deploy.k8s_manifests import (
    Doc,
    Manifests,
    container_env,
    containers,
    is_nono,
    pod_labels,
    pod_spec,
    selects,
)


def nono_container(workload: Doc) -> Doc:
    (container,) = filter(is_nono, containers(workload))
    return container


def test_webhook_workers_run_two_or_more_and_scale_on_cpu(k8s: Manifests):
    deployment = k8s.get("Deployment", "nono-telegram")
    assert deployment["spec"]["replicas"] >= 2
    assert nono_container(deployment)["command"] == ["nono", "run"]
    hpa = k8s.get("HorizontalPodAutoscaler", "nono-telegram")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "nono-telegram"}
    assert hpa["minReplicas"] >= 2 and hpa["maxReplicas"] > hpa["minReplicas"]
    assert [m["resource"]["name"] for m in hpa["metrics"] if m["type"] == "Resource"] == ["cpu"]
    # Utilization is a share of the CPU request: without one the HPA cannot scale.
    assert nono_container(deployment)["resources"]["requests"]["cpu"]


def test_telegram_reaches_the_workers_at_the_webhook_url(k8s: Manifests):
    deployment = k8s.get("Deployment", "nono-telegram")
    url = urlsplit(container_env(nono_container(deployment), k8s)["TELEGRAM_WEBHOOK_URL"])
    assert url.scheme == "https" and url.path == "/telegram/webhook"
    service = k8s.get("Service", "nono-telegram")
    assert selects({"matchLabels": service["spec"]["selector"]}, pod_labels(deployment))
    (rule,) = k8s.get("Ingress", "nono-telegram")["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    # Only the webhook path is public; the admin API stays inside the cluster.
    assert (rule["host"], path["path"], path["pathType"]) == (url.hostname, url.path, "Exact")
    assert path["backend"]["service"]["name"] == "nono-telegram"


def test_every_nono_pod_is_probed_stops_gracefully_and_runs_unprivileged(k8s: Manifests):
    settings = k8s.get("ConfigMap", "nono-settings")["data"]
    workloads = k8s.nono_workloads()
    assert {item.name for item in workloads} == {"nono-telegram", "nono-discord"}
    for item in workloads:
        spec, container = pod_spec(item.doc), nono_container(item.doc)
        # Otherwise the `redis` Service injects REDIS_PORT=tcp://..., which Nono's settings reject.
        assert spec["enableServiceLinks"] is False, item.label
        assert spec["terminationGracePeriodSeconds"] > float(settings["SHUTDOWN_GRACE"]), item.label
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        for probe, path in (("livenessProbe", "/health"), ("readinessProbe", "/ready"), ("startupProbe", "/health")):
            get = container[probe]["httpGet"]
            assert get["path"] == path, f"{item.label} {probe}"
            assert ports.get(get["port"], get["port"]) == int(settings["SIDECAR_PORT"]), f"{item.label} {probe}"
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] == 10001
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        resources = container["resources"]
        assert {"cpu", "memory"} <= resources["requests"].keys() and "memory" in resources["limits"], item.label
        volumes = {volume["name"]: volume for volume in spec["volumes"]}
        mounts = {mount["mountPath"]: volumes[mount["name"]] for mount in container["volumeMounts"]}
        # A read-only root filesystem: DATA_DIR must be writable scratch space.
        assert "emptyDir" in mounts[settings["DATA_DIR"]], item.label
        assert mounts[settings["PERSONAS_DIR"]]["configMap"]["name"] == "nono-personas", item.label


def test_every_nono_workload_has_a_disruption_budget(k8s: Manifests):
    budgets = k8s.of_kind("PodDisruptionBudget")
    for item in k8s.nono_workloads():
        covering = [pdb.name for pdb in budgets if selects(pdb.doc["spec"]["selector"], pod_labels(item.doc))]
        assert len(covering) == 1, f"{item.label} is covered by {covering}"


def start_pod(command: list[str], env: dict[str, str], pod: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run the Discord container's start command as pod `pod`, with a `nono` that reports its shards."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "nono"
    fake.write_text('#!/bin/sh\necho "nono $* DISCORD_SHARD_IDS=$DISCORD_SHARD_IDS"\n')
    fake.chmod(0o755)
    run_env = {**env, "POD_NAME": pod, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(command, env=run_env, capture_output=True, text=True, timeout=10, check=False)


def shards_of_pods(command: list[str], env: dict[str, str], pods: int, tmp_path: Path) -> list[list[int]]:
    """The shard ids `nono run` is started with in pods nono-discord-0 .. nono-discord-(pods-1)."""
    groups = []
    for ordinal in range(pods):
        result = start_pod(command, env, f"nono-discord-{ordinal}", tmp_path)
        assert result.returncode == 0, result.stderr
        last = result.stdout.strip().splitlines()[-1]
        assert last.startswith("nono run DISCORD_SHARD_IDS="), last
        groups.append([int(part) for part in last.partition("=")[2].split(",")])
    return groups


def test_discord_pods_split_the_shards_between_them(k8s: Manifests, tmp_path: Path):
    statefulset = k8s.get("StatefulSet", "nono-discord")
    container = nono_container(statefulset)
    env = {var["name"]: var["value"] for var in container["env"] if "value" in var}
    count, replicas = int(env["DISCORD_SHARD_COUNT"]), statefulset["spec"]["replicas"]
    assert replicas >= 2 and replicas * int(env["SHARDS_PER_POD"]) == count
    assert shards_of_pods(container["command"], env, replicas, tmp_path) == [[0, 1], [2, 3]]
    # A pod added without raising DISCORD_SHARD_COUNT refuses to start instead of connecting no shard.
    extra = start_pod(container["command"], env, f"nono-discord-{replicas}", tmp_path)
    assert extra.returncode != 0 and f"needs {replicas} replicas" in extra.stderr


@pytest.mark.parametrize(("count", "per_pod", "pods"), [(8, 2, 4), (5, 2, 3), (1, 1, 1)])
def test_shard_groups_cover_every_shard_once(k8s: Manifests, tmp_path: Path, count: int, per_pod: int, pods: int):
    container = nono_container(k8s.get("StatefulSet", "nono-discord"))
    env = {"DISCORD_SHARD_COUNT": str(count), "SHARDS_PER_POD": str(per_pod)}
    groups = shards_of_pods(container["command"], env, pods, tmp_path)
    flat = [shard for group in groups for shard in group]
    assert sorted(flat) == list(range(count)) and len(flat) == len(set(flat))
    assert all(len(group) <= per_pod for group in groups)


def allowed_sources(k8s: Manifests, target: Doc) -> set[str]:
    """Workloads whose pods the NetworkPolicies selecting `target`'s pods let in."""
    policies = [
        p.doc["spec"] for p in k8s.of_kind("NetworkPolicy") if selects(p.doc["spec"]["podSelector"], pod_labels(target))
    ]
    assert policies, "no NetworkPolicy selects these pods"
    allowed: set[str] = set()
    for policy in policies:
        for rule in policy.get("ingress", []):
            for peer in rule.get("from", []):
                assert set(peer) == {"podSelector"}, "only pods of this namespace may connect"
                allowed |= k8s.pods_selected(peer["podSelector"])
    return allowed


def test_only_nono_reaches_redis_and_ollama(k8s: Manifests):
    nono = {f"{item.kind}/{item.name}" for item in k8s.nono_workloads()}
    assert allowed_sources(k8s, k8s.get("StatefulSet", "redis")) == nono
    assert allowed_sources(k8s, k8s.get("Deployment", "ollama")) == nono | {"Job/ollama-model-pull"}


def test_redis_keeps_every_write_on_a_volume(k8s: Manifests):
    redis = k8s.get("StatefulSet", "redis")
    args = " ".join(containers(redis)[0]["args"])
    assert "--appendonly yes" in args and "--maxmemory-policy noeviction" in args
    (claim,) = redis["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] in {m["name"] for m in containers(redis)[0]["volumeMounts"]}
    service = k8s.get("Service", "redis")
    assert selects({"matchLabels": service["spec"]["selector"]}, pod_labels(redis))


def test_ollama_gets_a_gpu_and_the_job_pulls_the_configured_model(k8s: Manifests):
    ollama = k8s.get("Deployment", "ollama")
    (server,) = containers(ollama)
    assert str(server["resources"]["limits"]["nvidia.com/gpu"]) == "1"
    claims = {
        v["persistentVolumeClaim"]["claimName"] for v in pod_spec(ollama)["volumes"] if "persistentVolumeClaim" in v
    }
    assert claims == {"ollama-models"}
    k8s.get("PersistentVolumeClaim", "ollama-models")
    service = k8s.get("Service", "ollama")
    assert selects({"matchLabels": service["spec"]["selector"]}, pod_labels(ollama))
    settings = k8s.get("ConfigMap", "nono-settings")["data"]
    (pull,) = containers(k8s.get("Job", "ollama-model-pull"))
    env = container_env(pull, k8s)
    # Nono and the Job talk to the same Ollama Service about the same model.
    assert env["MODEL_NAME"] == settings["MODEL_NAME"]
    assert env["OLLAMA_URL"] == settings["OLLAMA_HOST"] == f"http://ollama:{service['spec']['ports'][0]['port']}"
