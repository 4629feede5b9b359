"""deploy/prometheus/alerts.yml and deploy/grafana/nono.json are valid PromQL, checked by Prometheus's own promtool.

`promtool check rules` parses every rule; `promtool test rules` runs alerts.test.yml (the store down fires
NonoStoreDown, model errors fire NonoHighErrorRatio while users' own mistakes do not, a healthy process fires
nothing). The dashboard's queries are checked by the same parser, written as recording rules with Grafana's
variables filled in. Whether the metrics they name are served: tests/adapters/http/test_metrics_wired.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.settings import ROOT

PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "nono.json"
#: What Grafana puts in place of its variables before sending a query.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$instance": ".*"}


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        message = "promtool is not installed: run scripts/ensure-tools.sh (make test does)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def run(promtool: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *map(str, args)], capture_output=True, text=True, timeout=60, check=False)


def test_the_alerting_rules_parse(promtool: str) -> None:
    result = run(promtool, "check", "rules", PROMETHEUS / "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_alerts_fire_when_they_should_and_only_then(promtool: str) -> None:
    result = run(promtool, "test", "rules", PROMETHEUS / "alerts.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_dashboard_query_parses(promtool: str, tmp_path: Path) -> None:
    rules = []
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr, f"panel {panel['title']!r}: a Grafana variable this test does not fill in"
            rules.append({"record": f"dashboard:panel_{panel['id']}_{target['refId']}", "expr": expr})
    assert len(rules) >= 10
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run(promtool, "check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr
