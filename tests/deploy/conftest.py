"""deploy/k8s fixtures: the manifests, read once per module."""

from __future__ import annotations

import pytest

from tests.deploy.k8s_manifests import Manifests


@pytest.fixture(scope="module")
def k8s() -> Manifests:
    """Every document in deploy/k8s/*.yaml."""
    return Manifests.load()
