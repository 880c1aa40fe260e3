"""The layout is the architecture: these checks keep it so."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").exists())


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_services_never_import_each_other() -> None:
    offenders = []
    for service in SERVICES:
        others = {f"o2o_{other}" for other in SERVICES if other != service}
        for path in (ROOT / "services" / service).rglob("*.py"):
            crossing = _imports(path) & others
            if crossing:
                offenders.append(f"{path.relative_to(ROOT)} imports {sorted(crossing)}")
    assert offenders == [], "services talk over gRPC and events, not imports:\n" + "\n".join(offenders)


def test_runtime_knows_no_service_code() -> None:
    service_packages = {f"o2o_{s}" for s in SERVICES}
    offenders = [
        str(path.relative_to(ROOT)) for path in (ROOT / "libs").rglob("*.py") if _imports(path) & service_packages
    ]
    assert offenders == []


def test_domain_modules_do_no_io() -> None:
    """Domain rules are plain Python: no gRPC, no SQL, no network."""
    io_modules = {"grpc", "sqlalchemy", "sqlmodel", "nats", "asyncpg", "aiosqlite", "httpx", "socket"}
    offenders = []
    modules = [*(ROOT / "services").glob("*/src/*/domain*.py"), *(ROOT / "services").glob("*/src/*/domain/*.py")]
    assert modules, "no domain modules found: the layout changed under this check"
    for path in modules:
        crossing = _imports(path) & io_modules
        if crossing:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(crossing)}")
    assert offenders == []
