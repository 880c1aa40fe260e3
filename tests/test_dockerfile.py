"""The one Dockerfile, checked statically (no Docker engine runs on these machines): hadolint
(from its wheel) and what each image promises: multi-stage, the locked environment only, no
build tools in the final stage, an unprivileged user, one image per service by build argument."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from o2o_runtime import registry

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").exists())


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def stages() -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            out.append([])
        if out:
            out[-1].append(instruction)
    return out


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run([str(HADOLINT), str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_multi_stage_on_one_pinned_base() -> None:
    all_stages = stages()
    assert len(all_stages) >= 2
    bases = {args.split()[0] for stage in all_stages for word, args in stage if word == "FROM"}
    # The final stage runs the environment the build stage made: same interpreter, same path.
    assert bases == {"${PYTHON_IMAGE}"}
    default = next(args for word, args in instructions() if word == "ARG" and args.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim-\w+", default), default


def test_the_environment_is_the_locked_one_without_development_tools() -> None:
    runs = " ".join(args for word, args in instructions() if word == "RUN")
    syncs = re.findall(r"uv sync [^&;]*", runs)
    assert syncs
    assert all("--frozen" in s for s in syncs), syncs
    package = next(s for s in syncs if "--package" in s)
    assert "--no-dev" in package
    assert "--no-editable" in package
    assert '"o2o-${SERVICE}"' in package
    # The stubs come from the lock's own group for them, not from an unpinned install.
    assert any("--only-group protos" in s for s in syncs)
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]
    assert {"include-group": "protos"} in groups["dev"]


def test_the_final_stage_has_no_build_tools_and_runs_unprivileged() -> None:
    final = stages()[-1]
    words = [word for word, _ in final]
    text = " ".join(args for _, args in final)
    assert not re.search(r"\b(uv|gcc|make|build-essential|apt-get install|pip install)\b", text)
    copies = [args for word, args in final if word == "COPY"]
    assert copies == ["--from=build --chown=root:root /app /app"], "only the built environment is copied in"
    user = next(args for word, args in final if word == "USER")
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", user), "a numeric non-root user, so runAsNonRoot can check it"
    assert words.index("USER") > max(i for i, w in enumerate(words) if w in ("RUN", "COPY"))
    cmd = next(args for word, args in final if word == "CMD")
    assert cmd.startswith("["), "exec form: the process gets SIGTERM itself"
    env = " ".join(args for word, args in final if word == "ENV")
    # A read-only root filesystem: no bytecode written next to the code, data under /tmp.
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "O2O_DATA_DIR=/tmp/" in env


def test_every_service_and_the_gateway_builds_from_the_same_file() -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    packages = {p["name"] for p in lock["package"]}
    for image in [*SERVICES, "gateway"]:
        assert f"o2o-{image}" in packages, image
    for name in SERVICES:
        registry.definition(name)  # each has a service entry point: `o2o serve <name>` finds it
    makefile = (ROOT / "Makefile").read_text()
    assert "IMAGES := $(notdir $(wildcard services/*)) gateway" in makefile
    assert "--build-arg SERVICE=$$image" in makefile


def test_the_build_context_leaves_local_state_out() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".bootstrap", ".tools", "data"} <= ignored
