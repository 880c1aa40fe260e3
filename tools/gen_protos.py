"""Regenerates the Python stubs (messages, gRPC, and mypy type stubs) from protos/.

Output goes to libs/contracts/src/o2o/, which holds nothing else but its package marker;
generated files are never edited by hand and are not committed.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
OUT = ROOT / "libs" / "contracts" / "src"
PACKAGE = OUT / "o2o"
# mypy-protobuf's plugins live beside the interpreter of this virtual environment.
BIN = Path(sys.executable).parent
PACKAGE_MARKER = '"""Generated protobuf and gRPC stubs for the o2o.* packages in protos/."""\n'


def _include_dirs() -> list[Path]:
    import google.api

    # google/api/*.proto ship inside googleapis-common-protos; the well-known types inside grpc_tools.
    googleapis = Path(next(iter(google.api.__path__))).parent.parent
    return [PROTOS, googleapis, Path(grpc_tools.__file__).parent / "_proto"]


def main() -> int:
    sources = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    for child in PACKAGE.iterdir() if PACKAGE.exists() else []:
        if child.is_dir():
            shutil.rmtree(child)
    PACKAGE.mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        *(f"-I{d}" for d in _include_dirs()),
        f"--python_out={OUT}",
        f"--grpc_python_out={OUT}",
        f"--plugin=protoc-gen-mypy={BIN / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={BIN / 'protoc-gen-mypy_grpc'}",
        f"--mypy_out={OUT}",
        f"--mypy_grpc_out={OUT}",
        *sources,
    ]
    code = protoc.main(args)
    if code != 0:
        print("protoc failed", file=sys.stderr)
        return int(code)
    for folder in [PACKAGE, *(p for p in PACKAGE.rglob("*") if p.is_dir())]:
        marker = folder / "__init__.py"
        if not marker.exists():
            marker.write_text(PACKAGE_MARKER if folder == PACKAGE else "")
    (PACKAGE / "py.typed").write_text("")
    print(f"generated stubs for {len(sources)} proto files into {PACKAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
