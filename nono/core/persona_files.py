"""Reading persona files with bounds: only regular files inside PERSONAS_DIR, never more than a cap.

An operator (or whoever can write to the directory) controls what `*.yaml` names point at: a
symlink to `/dev/zero` or a FIFO would make an unbounded read hang the process and eat its
memory, and a symlink to a file elsewhere would be parsed and echoed in error messages. Each
refusal names the file and the reason, never anything read from it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

#: Default cap on one persona file (PERSONA_MAX_BYTES): the shipped ones are about 1 KiB.
PERSONA_MAX_BYTES = 256 * 1024


class PersonaFileRefused(Exception):
    """A persona file that is not read; the message says why, without anything from inside it."""


def persona_files(root: Path) -> list[Path]:
    """The `*.yaml`/`*.yml` names in `root`, sorted (whatever they are: `read_persona_file` checks)."""
    return sorted([*root.glob("*.yaml"), *root.glob("*.yml")])


def read_persona_file(path: Path, root: Path, max_bytes: int = PERSONA_MAX_BYTES) -> str:
    """The text of `path`, if it resolves to a regular file inside `root` of at most `max_bytes` bytes."""
    try:
        data = _read_bounded(path, root, max_bytes)
    except RuntimeError:  # Python < 3.13 reports a symlink loop this way
        raise PersonaFileRefused("cannot read file (symlink loop)") from None
    except OSError as exc:
        raise PersonaFileRefused(f"cannot read file ({exc.strerror or type(exc).__name__})") from None
    if len(data) > max_bytes:
        raise PersonaFileRefused(f"larger than PERSONA_MAX_BYTES (over {max_bytes} bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PersonaFileRefused(f"not UTF-8 text (byte {exc.start})") from None


def _read_bounded(path: Path, root: Path, max_bytes: int) -> bytes:
    """At most `max_bytes + 1` bytes of the regular file `path` resolves to inside `root`."""
    # Resolved on both sides: a directory that is itself a symlink (a Kubernetes ConfigMap mount,
    # whose files are links into its own `..data/`) still holds its own files.
    target = path.resolve(strict=True)
    if not target.is_relative_to(root.resolve(strict=True)):
        raise PersonaFileRefused("outside PERSONAS_DIR (a symlink to elsewhere)")
    _check_stat(os.stat(target), max_bytes)  # before opening: opening a device or FIFO can block or act
    # O_NONBLOCK: should a FIFO replace the file after the check, opening it does not wait for a writer.
    fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as file:
        _check_stat(os.fstat(file.fileno()), max_bytes)  # what was opened, in case the name was swapped
        return file.read(max_bytes + 1)  # bounded even if the file grows while it is read


def _check_stat(info: os.stat_result, max_bytes: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise PersonaFileRefused("not a regular file")
    if info.st_size > max_bytes:
        raise PersonaFileRefused(f"larger than PERSONA_MAX_BYTES ({info.st_size} bytes, limit {max_bytes})")
