"""Personas: who speaks, loaded from YAML files and validated before they are used.

A file holds one persona (a mapping), several (a list), or a mapping with a `personas:`
list. Parsing uses `yaml.safe_load` semantics (no Python objects); every problem is
reported with file, line, persona and field, and a set is only swapped in whole.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nono.core.errors import PersonaConfigError, UnknownPersona
from nono.core.persona_files import PERSONA_MAX_BYTES, PersonaFileRefused, persona_files, read_persona_file

log = logging.getLogger(__name__)

PERSONA_NAME_PATTERN = r"^[a-z0-9_-]{1,32}$"


class Persona(BaseModel):
    """One voice the bot can speak in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=PERSONA_NAME_PATTERN)
    display_name: str = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=300)
    system_prompt: str = Field(min_length=1, max_length=8000)
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(default=384, ge=1, le=8192)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    #: A model of the persona's backend, passed as is: never split on "/" (Ollama's hf.co/…, OpenRouter's openai/…).
    model: str | None = Field(default=None, min_length=1, max_length=200)
    #: One of LLM_BACKENDS; None: the default one (LLM_BACKEND). Checked at start-up.
    backend: str | None = Field(default=None, pattern=r"^[a-z0-9_-]{1,32}$")
    greeting: str = Field(default="", max_length=1000)


@dataclass(frozen=True)
class _Entry:
    data: Any
    line: int  # 1-based line of the persona's mapping in its file
    field_lines: dict[str, int]


def load_personas(directory: str | Path, max_bytes: int = PERSONA_MAX_BYTES) -> dict[str, Persona]:
    """Load and validate every `*.yaml`/`*.yml` file in `directory`; raise PersonaConfigError listing all problems.

    Each file must be a regular file inside `directory` of at most `max_bytes` bytes (see persona_files).
    """
    root = Path(directory)
    if not root.is_dir():
        raise PersonaConfigError([f"{root}: persona directory not found"])
    files = persona_files(root)
    if not files:
        raise PersonaConfigError([f"{root}: no persona files (*.yaml) found"])
    personas: dict[str, Persona] = {}
    origin: dict[str, str] = {}
    problems: list[str] = []
    for path in files:
        for persona, where in _load_file(path, root, max_bytes, problems):
            if persona.name in personas:
                problems.append(f"{where}: persona {persona.name!r} is already defined in {origin[persona.name]}")
                continue
            personas[persona.name] = persona
            origin[persona.name] = where
    if problems:
        raise PersonaConfigError(problems)
    return personas


def _load_file(path: Path, root: Path, max_bytes: int, problems: list[str]) -> Iterable[tuple[Persona, str]]:
    try:
        entries = _entries(read_persona_file(path, root, max_bytes))
    except PersonaFileRefused as exc:
        problems.append(f"{path}: {exc}")
        return []
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problems.append(f"{path}{line}: not valid YAML: {getattr(exc, 'problem', None) or exc}")
        return []
    except ValueError as exc:
        problems.append(f"{path}: {exc}")
        return []
    loaded = []
    for entry in entries:
        persona = _validate(path, entry, problems)
        if persona is not None:
            loaded.append((persona, f"{path}:{entry.line}"))
    return loaded


def _entries(text: str) -> list[_Entry]:
    """Split a file into persona mappings, remembering line numbers for error messages."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    data = yaml.safe_load(text)  # the same text; SafeLoader refuses !!python/* tags
    if node is None:
        raise ValueError("file is empty")
    if isinstance(data, dict) and "personas" in data and isinstance(node, yaml.MappingNode):
        node = next(v for k, v in node.value if k.value == "personas")
        data = data["personas"]
    if isinstance(data, dict):
        return [_entry(data, node)]
    if isinstance(data, list) and isinstance(node, yaml.SequenceNode):
        return [_entry(item, child) for item, child in zip(data, node.value, strict=True)]
    raise ValueError("expected a persona mapping, a list of personas, or a 'personas:' list")


def _entry(data: Any, node: yaml.Node) -> _Entry:
    lines = {}
    if isinstance(node, yaml.MappingNode):
        lines = {key.value: key.start_mark.line + 1 for key, _ in node.value if isinstance(key, yaml.ScalarNode)}
    return _Entry(data, node.start_mark.line + 1, lines)


def _validate(path: Path, entry: _Entry, problems: list[str]) -> Persona | None:
    if not isinstance(entry.data, dict):
        problems.append(f"{path}:{entry.line}: a persona must be a mapping of fields")
        return None
    label = entry.data.get("name")
    label = f"persona {label!r}" if isinstance(label, str) else "persona without a valid name"
    try:
        return Persona.model_validate(entry.data)
    except ValidationError as exc:
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "(persona)"
            line = entry.field_lines.get(str(err["loc"][0]) if err["loc"] else "", entry.line)
            problems.append(f"{path}:{line}: {label}: field {field!r}: {err['msg']}")
        return None


class PersonaRegistry:
    """The loaded set of personas; reload swaps in a new set only if every file validates."""

    def __init__(
        self,
        personas: dict[str, Persona],
        default: str,
        directory: str | Path | None = None,
        max_bytes: int = PERSONA_MAX_BYTES,
    ) -> None:
        if not personas:
            raise PersonaConfigError(["no personas loaded"])
        if default not in personas:
            raise PersonaConfigError([f"DEFAULT_PERSONA {default!r} is not one of: {', '.join(sorted(personas))}"])
        self._personas = dict(personas)
        self.default = default
        self.directory = Path(directory) if directory is not None else None
        self.max_bytes = max_bytes
        #: What the wiring checks of a set before it is used (each persona's backend is configured): problems.
        self.check: Callable[[Mapping[str, Persona]], list[str]] | None = None

    @classmethod
    def from_directory(cls, directory: str | Path, default: str, max_bytes: int = PERSONA_MAX_BYTES) -> PersonaRegistry:
        """The personas in `directory` (files of at most `max_bytes` bytes each); reload re-reads it."""
        return cls(load_personas(directory, max_bytes), default, directory, max_bytes)

    def get(self, name: str) -> Persona:
        """The persona called `name`; UnknownPersona (listing the valid names) otherwise."""
        persona = self._personas.get(name) if isinstance(name, str) else None
        if persona is None:
            raise UnknownPersona(str(name), self.names())
        return persona

    def resolve(self, name: str | None) -> Persona:
        """The persona a session names, falling back to the default when it was removed by a reload."""
        if name is not None and name in self._personas:
            return self._personas[name]
        return self._personas[self.default]

    def names(self) -> list[str]:
        return sorted(self._personas)

    def all(self) -> list[Persona]:
        return [self._personas[n] for n in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._personas

    def __len__(self) -> int:
        return len(self._personas)

    def reload(self) -> list[str]:
        """Re-read the directory. Raise PersonaConfigError and keep the current set when anything is wrong."""
        if self.directory is None:
            raise PersonaConfigError(["these personas were not loaded from a directory"])
        personas = load_personas(self.directory, self.max_bytes)
        if self.default not in personas:
            raise PersonaConfigError([f"the default persona {self.default!r} would disappear"])
        if self.check is not None and (problems := self.check(personas)):
            raise PersonaConfigError(problems)
        self._personas = personas
        log.info("personas_reloaded", extra={"count": len(personas)})
        return self.names()
