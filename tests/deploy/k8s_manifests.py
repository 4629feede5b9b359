"""Reading deploy/k8s the way the cluster would: documents, pod templates, label selectors, container env."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nono.bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = ROOT / "deploy" / "k8s"
NAMESPACE = "nono"
#: Nono's own image; any container running it is a Nono pod.
NONO_IMAGE = "ghcr.io/nono-bot/nono"
#: Kinds whose spec.template is a pod template.
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job", "DaemonSet")

Doc = dict[str, Any]


@dataclass(frozen=True)
class Manifest:
    """One YAML document and the file it came from."""

    file: str
    doc: Doc

    @property
    def kind(self) -> str:
        return str(self.doc["kind"])

    @property
    def name(self) -> str:
        return str(self.doc["metadata"]["name"])

    @property
    def label(self) -> str:
        return f"{self.file}: {self.kind}/{self.name}"


@dataclass(frozen=True)
class Manifests:
    """Every document in deploy/k8s/*.yaml, looked up as `kubectl get` would."""

    items: list[Manifest]

    @classmethod
    def load(cls, directory: Path = K8S_DIR) -> Manifests:
        items = []
        for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
            for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
                if doc:  # an empty document (a trailing `---`) is skipped by kubectl too
                    items.append(Manifest(path.name, doc))
        return cls(items)

    def of_kind(self, kind: str) -> list[Manifest]:
        return [item for item in self.items if item.kind == kind]

    def get(self, kind: str, name: str) -> Doc:
        found = [item.doc for item in self.of_kind(kind) if item.name == name]
        assert len(found) == 1, f"expected exactly one {kind}/{name} in deploy/k8s, found {len(found)}"
        return found[0]

    def workloads(self) -> list[Manifest]:
        return [item for item in self.items if item.kind in WORKLOAD_KINDS]

    def nono_workloads(self) -> list[Manifest]:
        """Workloads whose pods run Nono's image."""
        return [item for item in self.workloads() if any(is_nono(c) for c in containers(item.doc))]

    def pods_selected(self, selector: Doc) -> set[str]:
        """`Kind/name` of each workload whose pods carry the labels `selector` asks for."""
        return {f"{item.kind}/{item.name}" for item in self.workloads() if selects(selector, pod_labels(item.doc))}


def pod_spec(workload: Doc) -> Doc:
    return workload["spec"]["template"]["spec"]


def pod_labels(workload: Doc) -> dict[str, str]:
    return workload["spec"]["template"]["metadata"].get("labels", {})


def containers(workload: Doc) -> list[Doc]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def is_nono(container: Doc) -> bool:
    return str(container["image"]).startswith(NONO_IMAGE + ":")


def selects(selector: Doc, labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions) applied to `labels`."""
    if not selector:
        return True  # the empty selector selects every pod
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        matched = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not matched:
            return False
    return True


def container_env(container: Doc, manifests: Manifests) -> dict[str, str]:
    """The environment Kubernetes gives `container`: envFrom, then env (which wins); downward-API values left out."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef") or source.get("secretRef")
        kind = "ConfigMap" if "configMapRef" in source else "Secret"
        env.update(_key_values(manifests.get(kind, ref["name"])))
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = str(var["value"])
            continue
        ref = var["valueFrom"]
        for field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
            if field in ref:
                values = _key_values(manifests.get(kind, ref[field]["name"]))
                assert ref[field]["key"] in values, f"{var['name']} names a key {kind}/{ref[field]['name']} lacks"
                env[var["name"]] = values[ref[field]["key"]]
    return env


def _key_values(doc: Doc) -> dict[str, str]:
    """A ConfigMap's data, or a Secret's stringData (its base64 `data` is not used in these manifests)."""
    assert "data" not in doc or doc["kind"] == "ConfigMap", "the Secret's values are plain stringData placeholders"
    return {key: str(value) for key, value in doc.get("stringData" if doc["kind"] == "Secret" else "data", {}).items()}


def settings_env_names() -> set[str]:
    """Every environment variable Nono's Settings reads: field names upper-cased, and their aliases."""
    names = set()
    for name, field in Settings.model_fields.items():
        names.add(name.upper())
        alias = field.validation_alias
        if alias is not None:
            names.update(str(choice).upper() for choice in getattr(alias, "choices", [alias]))
    return names
