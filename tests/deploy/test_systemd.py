"""deploy/nono.service, read by systemd's own parser (`systemd-analyze verify`, which rejects unknown keys here) and
scored by `systemd-analyze security`; then the lines an operator relies on: no restart loop on a configuration
error, time to stop gracefully, a non-root user, settings from a file."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nono.bot.cli import main
from nono.bot.settings import Settings
from tests.deploy.k8s_manifests import settings_env_names

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "nono.service"
#: `systemd-analyze security`'s exposure score, 0-100 (it prints it divided by ten): 1.4 now; "OK" ends at 3.9.
MAX_EXPOSURE = 20
#: Debian's systemd package (present on this project's machines) provides systemd-analyze.
ANALYZE = shutil.which("systemd-analyze") or "systemd-analyze (apt-get install systemd)"


def directives() -> dict[str, list[str]]:
    """Each `Key=` of the unit with all its values, in order (systemd allows a key several times)."""
    found: dict[str, list[str]] = {}
    for raw in UNIT.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def one(key: str) -> str:
    values = directives().get(key, [])
    assert len(values) == 1, f"{UNIT.name}: expected one {key}=, found {values}"
    return values[0]


@pytest.fixture(scope="module")
def testable_unit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The unit with ExecStart pointing at this venv's `nono`: verify checks that the program exists."""
    copy = tmp_path_factory.mktemp("unit") / UNIT.name
    here = Path(sys.executable).with_name("nono")
    copy.write_text(UNIT.read_text(encoding="utf-8").replace("ExecStart=/opt/nono/bin/nono ", f"ExecStart={here} "))
    return copy


def test_systemd_reads_the_unit_without_a_complaint(testable_unit: Path) -> None:
    verify = subprocess.run([ANALYZE, "verify", testable_unit], capture_output=True, text=True, check=False)
    assert verify.returncode == 0 and not verify.stdout + verify.stderr, verify.stdout + verify.stderr


def test_systemd_would_flag_a_misspelt_key(tmp_path: Path, testable_unit: Path) -> None:
    broken = tmp_path / UNIT.name
    broken.write_text(testable_unit.read_text().replace("RestartPreventExitStatus=", "RestartPreventExitStatuss="))
    verify = subprocess.run([ANALYZE, "verify", broken], capture_output=True, text=True, check=False)
    assert "Unknown key" in verify.stderr, verify.stderr


def test_the_sandbox_scores_well(testable_unit: Path) -> None:
    command = [ANALYZE, "security", "--offline=true", f"--threshold={MAX_EXPOSURE}", testable_unit]
    score = subprocess.run(command, capture_output=True, text=True, check=False)
    assert score.returncode == 0, score.stdout[-3000:]


def test_a_configuration_error_is_not_restarted(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    assert one("Restart") == "on-failure"
    assert "2" in one("RestartPreventExitStatus").split()
    # 2 is what Nono exits with on a configuration error (one line naming the setting).
    monkeypatch.setenv("NUM_CTX", "lots")
    assert main(["personas", "check"]) == 2
    assert "NUM_CTX" in capsys.readouterr().err


def test_a_stop_leaves_replies_in_flight_their_grace() -> None:
    grace = Settings.model_fields["shutdown_grace"].default
    assert one("KillSignal") == "SIGTERM"  # Nono's graceful stop
    assert float(one("TimeoutStopSec")) >= 2 * grace


def test_it_runs_nono_as_its_own_user_with_settings_from_a_file() -> None:
    assert one("User") not in {"root", "0", ""} and one("ExecStart").split()[1:] == ["run"]
    assert one("EnvironmentFile").startswith("/etc/nono/")  # no leading `-`: a missing file is an error
    assert one("StateDirectory") == "nono" and one("WorkingDirectory") == "/var/lib/nono"
    defaults = dict(pair.split("=", 1) for pair in one("Environment").split())
    assert set(defaults) <= settings_env_names() | {"PYTHONUNBUFFERED"}
    assert defaults["DATA_DIR"] == "/var/lib/nono"
