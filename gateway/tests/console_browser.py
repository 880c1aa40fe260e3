"""Driving the console in a real browser: Debian's chromium through Playwright (no browser
download), every request outside the platform refused and recorded, screenshots kept."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from o2o.identity.v1 import identity_pb2 as ipb
from o2o_runtime.testing.chain import PASSWORD, Chain, unique
from playwright.async_api import Browser, BrowserContext, Page, Route

CHROMIUM = os.environ.get("O2O_CHROMIUM", "/usr/bin/chromium")
# Headless chromium as root needs no sandbox; no background traffic from the browser itself.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-dev-shm-usage"]
TABLET = {"width": 768, "height": 1024}


@dataclass
class Staff:
    login: str
    staff_id: str


async def staff(chain: Chain, role: int, *, store_ids: list[str] | None = None, region: str = "") -> Staff:
    login = unique("console.")
    created = await chain.identity.CreateStaff(
        ipb.CreateStaffRequest(
            staff=ipb.Staff(login=login, role=role, store_ids=store_ids or [], region=region),  # type: ignore[arg-type]
            password=PASSWORD,
        ),
        metadata=(await chain.admin()).auth,
    )
    return Staff(login, created.staff.staff_id)


@dataclass
class Console:
    """One browser context on the gateway: its own session storage, its own language."""

    base_url: str
    page: Page
    shots: Path
    outside: list[str] = field(default_factory=list)

    async def open(self, path: str) -> None:
        await self.page.goto(self.base_url + path)

    async def sign_in(self, login: str, password: str = PASSWORD) -> None:
        await self.open("/console/signin")
        await self.page.fill("#login", login)
        await self.page.fill("#password", password)
        await self.page.click("#signin-submit")

    async def shot(self, name: str, *, full_page: bool = True) -> Path:
        path = self.shots / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=full_page)
        return path

    async def fits_the_width(self) -> bool:
        width: bool = await self.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        return width


@asynccontextmanager
async def console(
    browser: Browser, base_url: str, shots: Path, *, locale: str = "en-US", viewport: dict[str, int] | None = None
) -> AsyncIterator[Console]:
    context: BrowserContext = await browser.new_context(
        base_url=base_url,
        locale=locale,
        viewport=viewport or {"width": 1280, "height": 900},  # type: ignore[arg-type]
    )
    page = await context.new_page()
    opened = Console(base_url, page, shots)

    async def only_the_platform(route: Route) -> None:
        if route.request.url.startswith(base_url + "/") or route.request.url.startswith("data:"):
            await route.continue_()
        else:
            opened.outside.append(route.request.url)
            await route.abort()

    await context.route("**/*", only_the_platform)
    try:
        yield opened
    finally:
        await context.close()
