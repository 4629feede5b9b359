"""Persona files: the shipped set loads; bad files are refused with file, line, persona and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from nono.core.errors import PersonaConfigError, UnknownPersona
from nono.core.personas import PersonaRegistry, load_personas

GOOD = """\
name: helper
display_name: Helper
system_prompt: You help.
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_for(directory: Path) -> list[str]:
    with pytest.raises(PersonaConfigError) as info:
        load_personas(directory)
    return info.value.problems


def test_shipped_personas_load_with_distinct_voices(personas_dir):
    personas = load_personas(personas_dir)
    assert {"assistant", "pirate", "tutor", "engineer"} <= set(personas)
    assert len({p.system_prompt for p in personas.values()}) == len(personas)
    assert all(p.greeting for p in personas.values())


def test_one_file_may_hold_several_personas_as_a_list_or_under_personas(tmp_path):
    write(tmp_path, "a.yaml", "- " + GOOD.replace("\n", "\n  ").replace("helper", "one", 1))
    write(tmp_path, "b.yml", "personas:\n  - " + GOOD.replace("\n", "\n    ").replace("helper", "two", 1))
    assert set(load_personas(tmp_path)) == {"one", "two"}


def test_bad_field_is_reported_with_file_line_persona_and_field(tmp_path):
    path = write(tmp_path, "bad.yaml", GOOD + "temperature: hot\n")
    [problem] = problems_for(tmp_path)
    assert problem.startswith(f"{path}:4:") and "'helper'" in problem and "'temperature'" in problem


def test_python_object_tags_are_refused(tmp_path):
    write(tmp_path, "evil.yaml", "!!python/object/apply:os.system ['echo pwned']\n")
    [problem] = problems_for(tmp_path)
    assert "evil.yaml:1" in problem and "not valid YAML" in problem


@pytest.mark.parametrize("name", ["../x", "../../etc/passwd", "Pirate", "a b", "x" * 33, "/abs"])
def test_unsafe_or_malformed_names_are_refused(tmp_path, name):
    write(tmp_path, "p.yaml", GOOD.replace("name: helper", f"name: {name!r}"))
    [problem] = problems_for(tmp_path)
    assert "'name'" in problem


def test_unknown_fields_and_duplicates_are_refused(tmp_path):
    write(tmp_path, "a.yaml", GOOD + "role: system\n")
    write(tmp_path, "b.yaml", GOOD)
    write(tmp_path, "c.yaml", GOOD)
    problems = problems_for(tmp_path)
    assert any("'role'" in p for p in problems)
    assert any("already defined" in p for p in problems)


def test_empty_directory_and_empty_file_are_refused(tmp_path):
    assert "no persona files" in problems_for(tmp_path)[0]
    write(tmp_path, "empty.yaml", "")
    assert "empty" in problems_for(tmp_path)[0]


def test_registry_rejects_unknown_default(personas_dir):
    with pytest.raises(PersonaConfigError, match="DEFAULT_PERSONA"):
        PersonaRegistry.from_directory(personas_dir, "nobody")


def test_reload_swaps_only_a_fully_valid_set(tmp_path):
    write(tmp_path, "a.yaml", GOOD)
    registry = PersonaRegistry.from_directory(tmp_path, "helper")
    write(tmp_path, "b.yaml", GOOD.replace("helper", "second", 1))
    assert registry.reload() == ["helper", "second"]
    write(tmp_path, "c.yaml", GOOD.replace("helper", "third", 1) + "max_tokens: -1\n")
    with pytest.raises(PersonaConfigError, match="max_tokens"):
        registry.reload()
    assert registry.names() == ["helper", "second"]
    with pytest.raises(UnknownPersona, match="helper, second"):
        registry.get("third")


def test_a_session_whose_persona_was_removed_falls_back_to_the_default(tmp_path):
    write(tmp_path, "a.yaml", GOOD)
    registry = PersonaRegistry.from_directory(tmp_path, "helper")
    assert registry.resolve("gone").name == "helper" and registry.resolve(None).name == "helper"
