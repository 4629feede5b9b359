"""Persona files are read with bounds: only regular files inside PERSONAS_DIR, at most PERSONA_MAX_BYTES each.

Whoever can write to the persona directory (or a mounted volume behind it) could point a `*.yaml`
name at `/dev/zero`, a FIFO, a directory, or a private YAML file elsewhere. Start-up and
`POST /personas/reload` refuse each one, naming the file and the reason and nothing read from it;
a refused reload keeps the personas already loaded. The real-process test replays the attack that
made `nono sidecar` grow without bound and ignore SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from nono.core.errors import PersonaConfigError
from nono.core.personas import PersonaRegistry, load_personas
from tests.adapters.http.helpers import AUTH, TOKEN
from tests.conftest import ROOT
from tests.hardening.fault_fixtures import nono_settings, running_nono
from tests.support.nono_process import nono_env, start_nono
from tests.support.redis_server import free_port
from tests.support.settings import shipped_personas_beside

#: A YAML file elsewhere whose key names must never be echoed.
PRIVATE = "private_key_alpha: 1\nprivate_key_beta: two\n"
SHIPPED = ["assistant", "engineer", "pirate", "tutor"]


@pytest.fixture
def personas(tmp_path: Path) -> Path:
    """A copy of the shipped personas, with a private YAML file right outside the directory."""
    return shipped_personas_beside(tmp_path, "private.yaml", PRIVATE)


def problems(directory: Path, max_bytes: int = 256 * 1024) -> list[str]:
    with pytest.raises(PersonaConfigError) as caught:
        load_personas(directory, max_bytes)
    return caught.value.problems


def test_a_symlink_out_of_the_directory_is_refused_without_reading_it(personas: Path) -> None:
    (personas / "extra.yaml").symlink_to(personas.parent / "private.yaml")

    found = problems(personas)

    assert found == [f"{personas / 'extra.yaml'}: outside PERSONAS_DIR (a symlink to elsewhere)"]
    assert "private_key" not in "\n".join(found)


@pytest.fixture
def fifo(personas: Path) -> Iterator[Path]:
    """A FIFO named like a persona file, its writer waiting (an unguarded reader would get PRIVATE from it)."""
    path = personas / "pipe.yaml"
    os.mkfifo(path)
    writer = threading.Thread(target=path.write_text, args=(PRIVATE,), daemon=True)
    writer.start()
    yield path
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # lets the writer finish when nobody read
    writer.join(5)
    os.close(reader)


def test_a_fifo_or_a_directory_is_not_a_persona_file(personas: Path, fifo: Path) -> None:
    (personas / "folder.yml").mkdir()

    assert problems(personas) == [
        f"{personas / 'folder.yml'}: not a regular file",
        f"{fifo}: not a regular file",
    ]


def test_a_file_over_the_cap_is_refused_and_one_at_the_cap_is_read(personas: Path) -> None:
    text = (personas / "assistant.yaml").read_text(encoding="utf-8")
    cap = 2000  # the shipped files are smaller
    padded = text + "#" * (cap - len(text.encode()) - 1) + "\n"  # exactly `cap` bytes: still valid
    (personas / "assistant.yaml").write_text(padded, encoding="utf-8")
    assert sorted(load_personas(personas, cap)) == SHIPPED

    (personas / "assistant.yaml").write_text(padded + "#", encoding="utf-8")
    assert problems(personas, cap) == [
        f"{personas / 'assistant.yaml'}: larger than PERSONA_MAX_BYTES ({cap + 1} bytes, limit {cap})"
    ]


def test_links_that_stay_inside_are_followed_as_in_a_configmap_mount(tmp_path: Path) -> None:
    """Kubernetes mounts `name.yaml -> ..data/name.yaml`, `..data -> ..2024_01_01/`; the mount may itself be a link."""
    real = tmp_path / "volume"
    (real / "..2024_01_01").mkdir(parents=True)
    for source in (ROOT / "personas").glob("*.yaml"):
        shutil.copy(source, real / "..2024_01_01" / source.name)
        (real / source.name).symlink_to(Path("..data") / source.name)
    (real / "..data").symlink_to("..2024_01_01")
    (tmp_path / "personas").symlink_to(real)

    assert sorted(load_personas(tmp_path / "personas")) == SHIPPED


def test_a_refused_reload_keeps_the_loaded_personas(personas: Path) -> None:
    registry = PersonaRegistry.from_directory(personas, "assistant", max_bytes=4096)
    (personas / "extra.yaml").symlink_to(personas.parent / "private.yaml")

    with pytest.raises(PersonaConfigError, match=r"extra\.yaml: outside PERSONAS_DIR"):
        registry.reload()
    assert registry.names() == SHIPPED

    (personas / "extra.yaml").unlink()
    (personas / "long.yaml").write_text("#" * 5000, encoding="utf-8")  # the registry keeps its cap
    with pytest.raises(PersonaConfigError, match=r"long\.yaml: larger than PERSONA_MAX_BYTES \(5000 bytes"):
        registry.reload()


async def test_persona_max_bytes_applies_at_start_up_and_on_reload(tmp_path: Path, personas: Path) -> None:
    settings = nono_settings(tmp_path, personas_dir=personas, persona_max_bytes=2000)
    async with running_nono(settings) as nono:
        (personas / "long.yaml").write_text("#" * 2001, encoding="utf-8")
        response = await nono.client.post("/personas/reload", headers=AUTH)
        problem = await response.json()
        assert response.status == 422, problem
        assert problem["errors"] == [
            {"field": "long.yaml", "message": "larger than PERSONA_MAX_BYTES (2001 bytes, limit 2000)"}
        ]
    with pytest.raises(PersonaConfigError, match=r"long\.yaml: larger than PERSONA_MAX_BYTES"):
        async with running_nono(settings):
            pytest.fail("started with a persona file over PERSONA_MAX_BYTES")


def resident_mb(pid: int) -> float:
    """The process's resident memory (VmRSS) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS line")


@pytest.mark.slow
async def test_a_live_sidecar_refuses_dev_zero_and_outside_links_and_still_stops(
    tmp_path: Path, personas: Path
) -> None:
    port = free_port()
    env = nono_env(tmp_path, PERSONAS_DIR=str(personas), ADMIN_TOKEN=TOKEN, SIDECAR_PORT=str(port), LOG_LEVEL="INFO")
    process = await start_nono(tmp_path, env, "sidecar")
    stderr: list[str] = []

    async def read_stderr() -> None:
        assert process.stderr is not None
        async for line in process.stderr:
            stderr.append(line.decode("utf-8", "replace"))

    reader = asyncio.create_task(read_stderr())
    try:
        async with asyncio.timeout(30):
            while not any('"sidecar_listening"' in line for line in stderr):
                assert process.returncode is None, "".join(stderr)
                await asyncio.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(headers=AUTH, timeout=timeout) as http:
            for name, target in (("outside.yaml", personas.parent / "private.yaml"), ("big.yaml", Path("/dev/zero"))):
                (personas / name).symlink_to(target)
                async with http.post(f"{url}/personas/reload") as response:
                    problem = await response.json(content_type=None)
                assert response.status == 422, problem
                assert {"field": name, "message": "outside PERSONAS_DIR (a symlink to elsewhere)"} in problem["errors"]
                assert "private_key" not in str(problem)
                assert resident_mb(process.pid) < 500
                (personas / name).unlink()
            async with http.get(f"{url}/personas") as response:  # the old set is still served
                assert [p["name"] for p in (await response.json())["personas"]] == SHIPPED
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await reader
