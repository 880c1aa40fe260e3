"""Vendors the browser assets the gateway serves (Swagger UI for /docs, Chart.js for the
console) from the npm registry into gateway/src/o2o_gateway/console/vendor/, pinned.

Each package is fetched with `npm pack NAME@VERSION`, its tarball checked against the
integrity recorded below (npm's sha512), and only the files listed are copied, with their
trailing source-map comment removed (no map is served, so a browser would ask for it in
vain). MANIFEST.json records each file's sha256; the tests check the files against it, so
an edit by hand shows. Run it only to move a version: `python tools/vendor_assets.py`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

VENDOR = Path(__file__).resolve().parent.parent / "gateway/src/o2o_gateway/console/vendor"
PACKAGES: list[Mapping[str, Any]] = [
    {
        "name": "swagger-ui-dist",
        "version": "5.35.0",
        "integrity": "sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==",
        "license": "Apache-2.0",
        "files": {
            "package/swagger-ui-bundle.js": "swagger-ui-bundle.js",
            "package/swagger-ui.css": "swagger-ui.css",
            "package/LICENSE": "LICENSE",
            "package/NOTICE": "NOTICE",
        },
    },
    {
        "name": "chart.js",
        "version": "4.6.1",
        "integrity": "sha512-hJyniucsFmq//EvXYvJ6c6mahPoI3kaxdjVH8awTaJ/fDNWeSqqqArixMJWkWNN6fcYvPU3HneSANFNYtRi61g==",
        "license": "MIT",
        "files": {
            "package/dist/chart.umd.min.js": "chart.umd.min.js",
            "package/LICENSE.md": "LICENSE.md",
        },
    },
]
_MAP_COMMENTS = (b"//# sourceMappingURL=", b"/*# sourceMappingURL=")


def without_source_map(data: bytes) -> bytes:
    lines = data.rstrip(b"\n").split(b"\n")
    if lines and lines[-1].startswith(_MAP_COMMENTS):
        lines = lines[:-1]
    return b"\n".join(lines) + b"\n"


def vendor(package: Mapping[str, Any], workdir: Path) -> dict[str, object]:
    name, version = str(package["name"]), str(package["version"])
    subprocess.run(["npm", "pack", f"{name}@{version}", "--silent"], cwd=workdir, check=True, capture_output=True)
    tarball = next(workdir.glob(f"{name.replace('/', '-')}-{version}.tgz"))
    digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    if digest != package["integrity"]:
        raise SystemExit(f"{name}@{version}: tarball integrity {digest} is not the pinned one")
    target = VENDOR / f"{name}-{version}"
    target.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    with tarfile.open(tarball) as archive:
        for member, saved_as in package["files"].items():
            extracted = archive.extractfile(member)
            assert extracted is not None, member
            data = extracted.read()
            if saved_as.endswith((".js", ".css")):
                data = without_source_map(data)
            (target / saved_as).write_bytes(data)
            files[saved_as] = hashlib.sha256(data).hexdigest()
    return {
        "name": name,
        "version": version,
        "integrity": package["integrity"],
        "license": package["license"],
        "folder": target.name,
        "files": files,
    }


def main() -> int:
    with tempfile.TemporaryDirectory() as workdir:
        manifest = [vendor(package, Path(workdir)) for package in PACKAGES]
    (VENDOR / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    names = ", ".join(f"{p['name']}@{p['version']}" for p in manifest)
    print(f"vendored {names} into {VENDOR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
