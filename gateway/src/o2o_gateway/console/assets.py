"""The files the console and /docs load, served by the gateway itself.

Vendored files live in `vendor/<package>-<version>/` (see tools/vendor_assets.py and
MANIFEST.json); the console's own script and style in `static/`. Each is read once at
start-up and served with its Subresource Integrity digest in the pages, so a changed file
cannot be loaded by a page that expects another.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENDOR = HERE / "vendor"
STATIC = HERE / "static"
PREFIX = "/console/assets/"
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True)
class Asset:
    path: str
    body: bytes
    media_type: str
    integrity: str
    etag: str
    # Vendored files are named by version, so they never change under their URL.
    immutable: bool


def _asset(url_path: str, file: Path, immutable: bool) -> Asset:
    body = file.read_bytes()
    integrity = "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return Asset(url_path, body, _TYPES[file.suffix], integrity, etag, immutable)


def manifest() -> list[dict[str, object]]:
    loaded: list[dict[str, object]] = json.loads((VENDOR / "MANIFEST.json").read_text())
    return loaded


@cache
def assets() -> dict[str, Asset]:
    """Every servable asset by URL path: vendored scripts and styles, and the console's own."""
    found: dict[str, Asset] = {}
    for package in manifest():
        folder = str(package["folder"])
        for name in dict(package["files"]):  # type: ignore[call-overload]
            file = VENDOR / folder / name
            if file.suffix in _TYPES:
                url_path = f"{PREFIX}vendor/{folder}/{name}"
                found[url_path] = _asset(url_path, file, immutable=True)
    for file in sorted(STATIC.iterdir()):
        if file.suffix in _TYPES:
            url_path = f"{PREFIX}{file.name}"
            found[url_path] = _asset(url_path, file, immutable=False)
    return found


def vendored(name: str, file: str) -> Asset:
    """A vendored file by package name, whatever version is pinned."""
    for package in manifest():
        if package["name"] == name:
            return assets()[f"{PREFIX}vendor/{package['folder']}/{file}"]
    raise KeyError(name)


def own(file: str) -> Asset:
    return assets()[f"{PREFIX}{file}"]
