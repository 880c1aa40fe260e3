"""The HTML of the console and of /docs: one small shell per page, labels in the language
the browser asks for, the page's script and style from the platform. The pages hold no
data: the script reads everything from the public REST API with the signed-in staff
member's token, so what a page shows is what the services let that role see."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from o2o_gateway.console import assets, i18n

PAGES = ("signin", "day", "members", "floor", "campaigns")
# What each page needs from the platform beyond identity; shown as "not available" when the
# gateway serves none of it.
NEEDS = {"day": "receipts", "members": "identity", "floor": "positioning", "campaigns": "loyalty"}
# Same-origin only: no script, style, image or call reaches outside the platform.
CONSOLE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# Swagger UI sets inline styles on its elements.
DOCS_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _headers(policy: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": policy,
        "Vary": "Accept-Language",
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def _script(asset: assets.Asset) -> str:
    return f'<script src="{asset.path}" integrity="{asset.integrity}" defer></script>'


def _style(asset: assets.Asset) -> str:
    return f'<link rel="stylesheet" href="{asset.path}" integrity="{asset.integrity}">'


def _config_json(value: object) -> str:
    # Inside <script type="application/json">: "</" must not close the element.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


def console_page(page: str, language: str, services: Iterable[str]) -> str:
    labels = i18n.labels(language)
    esc = html.escape
    nav = "".join(
        f'<a href="/console/{name}" data-page="{name}"{" aria-current=page" if name == page else ""}>'
        f"{esc(labels['nav.' + name])}</a>"
        for name in PAGES[1:]
    )
    config = {"page": page, "language": language, "services": sorted(services), "labels": labels}
    return f"""<!doctype html>
<html lang="{language}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(labels["page." + page])} · {esc(labels["console.title"])}</title>
{_style(assets.own("console.css"))}
{_script(assets.vendored("chart.js", "chart.umd.min.js"))}
{_script(assets.own("console.js"))}
</head>
<body data-page="{page}">
<header class="bar">
  <strong class="brand">{esc(labels["console.title"])}</strong>
  <nav id="nav" hidden>{nav}</nav>
  <span id="who" class="who"></span>
  <button id="signout" type="button" hidden>{esc(labels["signout"])}</button>
</header>
<main id="main"><p class="muted">{esc(labels["loading"])}</p></main>
<noscript><p>{esc(labels["noscript"])}</p></noscript>
<script id="console-config" type="application/json">{_config_json(config)}</script>
</body>
</html>
"""


DOCS_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>O2O retail platform API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
{style}
{bundle}
{init}
</head>
<body>
<div id="docs"></div>
<noscript>The API description is at <a href="/openapi.json">/openapi.json</a>.</noscript>
</body>
</html>
"""


def docs_page() -> str:
    return DOCS_HTML.format(
        style=_style(assets.vendored("swagger-ui-dist", "swagger-ui.css")),
        bundle=_script(assets.vendored("swagger-ui-dist", "swagger-ui-bundle.js")),
        init=_script(assets.own("docs.js")),
    )


class Console:
    """The console's HTTP handlers; `services` are the upstreams whose routes the gateway serves."""

    def __init__(self, services: Iterable[str]) -> None:
        self.services = frozenset(services)
        self._docs = docs_page()

    async def home(self, _request: Request) -> Response:
        return RedirectResponse("/console/day", status_code=302)

    async def page(self, request: Request) -> Response:
        page = request.path_params["page"]
        if page not in PAGES:
            return HTMLResponse("<!doctype html><title>Not found</title><p>Not found.</p>", status_code=404)
        language = i18n.negotiate(request.headers.get("accept-language", ""))
        body = console_page(page, language, self.services)
        return HTMLResponse(body, headers={**_headers(CONSOLE_POLICY), "Content-Language": language})

    async def asset(self, request: Request) -> Response:
        found = assets.assets().get(request.url.path)
        if found is None:
            return Response("not found", status_code=404, media_type="text/plain")
        cache = "public, max-age=31536000, immutable" if found.immutable else "no-cache"
        headers = {"ETag": found.etag, "Cache-Control": cache, "X-Content-Type-Options": "nosniff"}
        if request.headers.get("if-none-match") == found.etag:
            return Response(status_code=304, headers=headers)
        return Response(found.body, media_type=found.media_type, headers=headers)

    async def docs(self, _request: Request) -> Response:
        return HTMLResponse(self._docs, headers=_headers(DOCS_POLICY))
