"""The layout is the architecture: these checks keep it so."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").exists())
# Each service's importable packages, as found under its src/ (not guessed from its name).
PACKAGES = {
    service: sorted(p.name for p in (ROOT / "services" / service / "src").iterdir() if (p / "__init__.py").exists())
    for service in SERVICES
}
SERVICE_PACKAGES = {package for packages in PACKAGES.values() for package in packages}
GATEWAY_PACKAGES = {p.name for p in (ROOT / "gateway" / "src").iterdir() if (p / "__init__.py").exists()}

# What domain rules must not reach for: transports, storage, the network...
TRANSPORTS = frozenset(
    {
        "grpc",
        "grpc_status",
        "google.rpc",
        "sqlalchemy",
        "sqlmodel",
        "nats",
        "asyncpg",
        "aiosqlite",
        "httpx",
        "socket",
        "starlette",
        "uvicorn",
    }
)
# ...and the runtime's modules that wrap them. o2o_runtime.errors is the exception: its error
# classes are transport-free (domain code raises them); only the interceptor maps them to statuses.
RUNTIME_IO = frozenset({"o2o_runtime.db", "o2o_runtime.events", "o2o_runtime.server", "o2o_runtime.clients"})
TRANSPORT_FREE = frozenset({"o2o_runtime.errors"})
RUNTIME_SRC = ROOT / "libs" / "runtime" / "src"


def _imported(source: str, filename: str = "<source>") -> set[str]:
    """Every module an absolute import names in full: `from a.b import c` names a.b and a.b.c
    (c may be a module), so `from o2o_runtime import db` is seen as o2o_runtime.db."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _imports(path: Path) -> set[str]:
    return _imported(path.read_text(), str(path))


def _top_level(path: Path) -> set[str]:
    return {name.split(".")[0] for name in _imports(path)}


def _within(names: set[str], modules: frozenset[str]) -> set[str]:
    """The modules (or their submodules) of `modules` among `names`."""
    return {m for m in modules for name in names if name == m or name.startswith(m + ".")}


def _module_name(path: Path, src: Path) -> str:
    parts = path.relative_to(src).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_modules_doing_io() -> set[str]:
    """The runtime's modules that import a transport themselves (uow, upsert, identity_client,
    ...), so that a new one is refused in domain code without being listed here."""
    return {
        _module_name(path, RUNTIME_SRC)
        for path in (RUNTIME_SRC / "o2o_runtime").rglob("*.py")
        if _within(_imports(path), TRANSPORTS) and _module_name(path, RUNTIME_SRC) not in TRANSPORT_FREE
    }


IO_MODULES = frozenset(TRANSPORTS | RUNTIME_IO | _runtime_modules_doing_io())


def _domain_modules(service: str) -> list[Path]:
    src = ROOT / "services" / service / "src"
    return sorted({*src.glob("*/domain*.py"), *src.glob("*/domain/**/*.py")})


def test_every_service_is_a_package_with_domain_rules() -> None:
    assert SERVICES, "no services found under services/"
    for service in SERVICES:
        assert PACKAGES[service] == [f"o2o_{service}"], f"services/{service}/src holds {PACKAGES[service]}"
        assert _domain_modules(service), f"services/{service} has no domain module"


def test_services_never_import_each_other() -> None:
    offenders = []
    for service in SERVICES:
        others = SERVICE_PACKAGES - set(PACKAGES[service])
        for path in (ROOT / "services" / service).rglob("*.py"):
            crossing = _top_level(path) & others
            if crossing:
                offenders.append(f"{path.relative_to(ROOT)} imports {sorted(crossing)}")
    assert offenders == [], "services talk over gRPC and events, not imports:\n" + "\n".join(offenders)


def test_runtime_knows_no_service_code() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "libs").rglob("*.py")
        if _top_level(path) & (SERVICE_PACKAGES | GATEWAY_PACKAGES)
    ]
    assert offenders == []


def test_gateway_and_services_never_import_each_other() -> None:
    """The gateway is the HTTP edge only: it reaches services through their contracts over gRPC."""
    offenders = [
        f"{path.relative_to(ROOT)} imports {sorted(_top_level(path) & SERVICE_PACKAGES)}"
        for path in (ROOT / "gateway").rglob("*.py")
        if _top_level(path) & SERVICE_PACKAGES
    ]
    offenders += [
        f"{path.relative_to(ROOT)} imports {sorted(_top_level(path) & GATEWAY_PACKAGES)}"
        for path in (ROOT / "services").rglob("*.py")
        if _top_level(path) & GATEWAY_PACKAGES
    ]
    assert offenders == [], "\n".join(offenders)


def test_domain_modules_do_no_io() -> None:
    """Domain rules are plain Python: no gRPC, no SQL, no network, in domain.py files and in
    domain/ packages alike."""
    offenders = []
    for service in SERVICES:
        for path in _domain_modules(service):
            crossing = _within(_imports(path), IO_MODULES)
            if crossing:
                offenders.append(f"{path.relative_to(ROOT)} imports {sorted(crossing)}")
    assert offenders == [], "\n".join(offenders)


def test_the_io_check_sees_every_form_of_import() -> None:
    source = "\n".join(
        [
            "import grpc.aio",
            "from google.rpc import status_pb2",
            "from o2o_runtime import db",
            "from o2o_runtime.events import emit",
            "import sqlmodel as sm",
            "from o2o_runtime.uow import UnitOfWork",
            "from o2o_runtime.errors import InvalidArgument",
            "from o2o_runtime.timeutil import utcnow",
            "import hashlib",
            "from . import rules",
        ]
    )
    assert _within(_imported(source), IO_MODULES) == {
        "grpc",
        "google.rpc",
        "o2o_runtime.db",
        "o2o_runtime.events",
        "o2o_runtime.uow",
        "sqlmodel",
    }
    assert RUNTIME_IO <= IO_MODULES
    assert "o2o_runtime.errors" not in IO_MODULES
