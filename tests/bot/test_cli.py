"""The `nono` command line: persona checks, configuration errors, and the terminal chat as a subprocess."""

from __future__ import annotations

import subprocess
import sys

from nono.bot.cli import main


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
