"""The `nono` command line: persona checks, configuration errors, and the terminal chat as a subprocess."""

from __future__ import annotations

import subprocess
import sys

from nono.bot import runner
from nono.bot.cli import main
from nono.bot.logging_setup import REDACTED
from nono.bot.redacted_output import RedactingWriter
from nono.core.errors import ConfigError


def test_personas_check_accepts_the_shipped_set(capsys, personas_dir):
    assert main(["personas", "check", str(personas_dir)]) == 0
    assert "personas OK" in capsys.readouterr().out


def test_personas_check_prints_each_problem_with_file_and_line(tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text("name: Bad Name\ndisplay_name: X\nsystem_prompt: hi\ntemperature: 9\n")
    assert main(["personas", "check", str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{tmp_path / 'bad.yaml'}:1:") and "'name'" in out[0]
    assert out[1].startswith(f"{tmp_path / 'bad.yaml'}:4:") and "'temperature'" in out[1]


def test_invalid_setting_stops_start_up_naming_the_variable(monkeypatch, capsys):
    monkeypatch.setenv("NUM_CTX", "big")
    assert main(["chat"]) == 2
    assert "NUM_CTX" in capsys.readouterr().err


def test_local_backend_problem_is_a_configuration_error(monkeypatch, tmp_path, capsys, personas_dir):
    monkeypatch.setenv("MODEL_PATH", str(tmp_path / "missing.gguf"))
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PERSONAS_DIR", str(personas_dir))
    assert main(["chat"]) == 2
    assert "missing.gguf" in capsys.readouterr().err


def test_python_dash_m_nono_runs_the_cli():
    out = subprocess.run([sys.executable, "-m", "nono", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("nono ")


def test_personas_check_applies_persona_max_bytes(monkeypatch, tmp_path, capsys, personas_dir):
    monkeypatch.setenv("PERSONA_MAX_BYTES", "500")  # the shipped characters.yaml is larger
    assert main(["personas", "check", str(personas_dir)]) == 1
    out = capsys.readouterr().out
    assert f"{personas_dir / 'characters.yaml'}: larger than PERSONA_MAX_BYTES (" in out


def test_a_configuration_error_line_is_redacted(monkeypatch, tmp_path, capsys, personas_dir):
    token = "123456:AA-a-token-the-error-quotes"
    monkeypatch.setenv("TELEGRAM_TOKEN", token)
    monkeypatch.setenv("PERSONAS_DIR", str(personas_dir))
    monkeypatch.chdir(tmp_path)  # no .env here

    async def refused(settings):
        raise ConfigError(f"Telegram refused TELEGRAM_TOKEN (The token `{token}` was rejected by the server.)")

    monkeypatch.setattr(runner, "run_sidecar", refused)
    assert main(["sidecar"]) == 2
    err = capsys.readouterr().err
    quoted = f"(The token `{REDACTED}` was rejected by the server.)"
    assert err.endswith(f"nono: configuration error: Telegram refused TELEGRAM_TOKEN {quoted}\n") and token not in err
    assert not isinstance(sys.stderr, RedactingWriter)  # main() put the streams back
