"""The store console and /docs in headless chromium against the running platform: each role
signs in and sees only its stores, the store day shows the figures of the receipts submitted
here, members are found by phone, the floor and campaign pages say plainly when their service
is not offered, a wrong password or an expired token gets a clear message, and every page
works at a tablet's width with nothing fetched from outside. Screenshots go to the test's
output folder (console-screens under pytest's base temp)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from console_browser import CHROMIUM, CHROMIUM_ARGS, TABLET, console, staff
from o2o.common.v1 import common_pb2
from o2o.identity.v1 import identity_pb2 as ipb
from o2o.positioning.v1 import positioning_pb2 as ppb
from o2o.positioning.v1 import positioning_pb2_grpc
from o2o.receipts.v1 import receipts_pb2 as rpb
from o2o.receipts.v1 import receipts_pb2_grpc
from o2o_runtime.testing.chain import Chain, unique
from o2o_runtime.testing.platform import Platform
from playwright.async_api import Browser, async_playwright, expect
from receipts_support import Shop, transaction

ON_THE_DAY_PAGE = re.compile(r"/console/day(\?.*)?$")


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("console-screens")


def base_url(gateway: httpx.AsyncClient) -> str:
    return str(gateway.base_url).rstrip("/")


async def offered_services(gateway: httpx.AsyncClient) -> list[str]:
    """The services the console's pages are told the gateway serves."""
    page = (await gateway.get("/console/floor")).text
    config = page.split('<script id="console-config" type="application/json">')[1].split("</script>")[0]
    services: list[str] = json.loads(config)["services"]
    return services


async def test_wrong_password_and_expired_tokens_get_a_clear_message(
    browser: Browser, gateway: httpx.AsyncClient, chain: Chain, shots: Path
) -> None:
    store = await chain.store()
    manager = await staff(chain, common_pb2.STAFF_ROLE_STORE_MANAGER, store_ids=[store.store_id])
    async with console(browser, base_url(gateway), shots) as c:
        await c.sign_in(manager.login, "not-the-password")
        await expect(c.page.locator("#signin-message")).to_contain_text("Wrong login or password.")
        await c.shot("signin-wrong-password")

        # A session whose token has expired: back to sign-in, saying why.
        expired = {"token": "x.e30.y", "expiresAt": int(time.time() * 1000) - 1000, "login": manager.login}
        await c.page.evaluate("s => sessionStorage.setItem('o2o.console.session', s)", json.dumps(expired))
        await c.open("/console/day")
        await expect(c.page).to_have_url(f"{c.base_url}/console/signin")
        await expect(c.page.locator("#signin-message")).to_contain_text("Your session has expired")

        # A token the platform refuses (revoked, or signed with a retired key) ends the same way.
        refused = {**expired, "expiresAt": int(time.time() * 1000) + 600_000, "role": "store_manager"}
        await c.page.evaluate("s => sessionStorage.setItem('o2o.console.session', s)", json.dumps(refused))
        await c.open(f"/console/day?store={store.store_id}")
        await expect(c.page).to_have_url(f"{c.base_url}/console/signin")
        await expect(c.page.locator("#signin-message")).to_contain_text("Your session has expired")
        await c.shot("signin-expired")

        # Signing in, then out.
        await c.sign_in(manager.login)
        await expect(c.page).to_have_url(ON_THE_DAY_PAGE)
        await c.page.click("#signout")
        await expect(c.page.locator("#signin-message")).to_contain_text("You are signed out.")
        assert c.outside == []


async def test_each_role_sees_its_stores_and_the_day_matches_the_receipts(
    browser: Browser, gateway: httpx.AsyncClient, chain: Chain, platform: Platform, shots: Path
) -> None:
    east_region, west_region = unique("east"), unique("west")
    east, west = await chain.store(region=east_region), await chain.store(region=west_region)
    pos = await chain.device(east.store_id)
    associate = await chain.staff(common_pb2.STAFF_ROLE_ASSOCIATE, [east.store_id])
    manager = await staff(chain, common_pb2.STAFF_ROLE_STORE_MANAGER, store_ids=[east.store_id])
    regional = await staff(chain, common_pb2.STAFF_ROLE_REGIONAL_MANAGER, region=west_region)
    owner = await staff(chain, common_pb2.STAFF_ROLE_OWNER)
    receipts = receipts_pb2_grpc.ReceiptsServiceStub(platform.channel("receipts"))
    shop = Shop(east.store_id, pos, associate, associate)
    # Two sales: 2 x 19.99 + 50.00 and 19.99, so 109.97 over 2 receipts and 4 units (basket 54.98,
    # rounded down as receipts does).
    for lines in ([("SKU-1", 2, 1999), ("SKU-2", 1, 5000)], [("SKU-1", 1, 1999)]):
        await receipts.SubmitTransaction(
            rpb.SubmitTransactionRequest(transaction=transaction(shop, lines)), metadata=pos.auth
        )

    async with console(browser, base_url(gateway), shots, viewport=TABLET) as c:
        await c.sign_in(manager.login)
        await expect(c.page).to_have_url(ON_THE_DAY_PAGE)
        await expect(c.page.locator("[data-kpi=revenue] strong")).to_contain_text("109.97")
        await expect(c.page.locator("[data-kpi=receipts] strong")).to_have_text("2")
        await expect(c.page.locator("[data-kpi=units] strong")).to_have_text("4")
        await expect(c.page.locator("[data-kpi=basket] strong")).to_contain_text("54.98")
        await expect(c.page.locator("#day-body")).to_contain_text("SKU-1")
        # The associate who served both sales, with their statement for the day.
        await expect(c.page.locator("#commissions tbody tr")).to_have_count(1)
        assert await c.page.locator("#sales-chart").is_visible()
        # Only the manager's store to choose from, and one store as the only scope.
        assert await c.page.locator("#store option").all_inner_texts() == [f"{east.code} · {east.name}"]
        assert await c.page.locator("#scope option").count() == 1
        assert await c.fits_the_width()
        await c.shot("day-store-manager-tablet")

        # The closed-day report: frozen at close, and said so.
        c.page.once("dialog", lambda dialog: dialog.accept())
        await c.page.click("#close-day")
        await expect(c.page.locator("#day-status")).to_contain_text("Closed at")
        await expect(c.page.locator("[data-kpi=revenue] strong")).to_contain_text("109.97")
        await c.shot("day-closed")

        # Another store named in the address: the service refuses, and the page says so.
        await c.open(f"/console/day?store={west.store_id}")
        await expect(c.page.locator("#day-body")).to_contain_text("Not allowed")
        assert c.outside == []

    async with console(browser, base_url(gateway), shots) as c:
        await c.sign_in(regional.login)
        await expect(c.page).to_have_url(ON_THE_DAY_PAGE)
        await expect(c.page.locator("[data-kpi=revenue]")).to_be_visible()
        assert await c.page.locator("#store option").all_inner_texts() == [f"{west.code} · {west.name}"]
        assert await c.page.locator("#scope option").count() == 2
        await c.page.select_option("#scope", "region")
        await expect(c.page.locator("#rollup-of")).to_contain_text("Roll-up of 1 stores")
        await c.shot("day-regional-rollup")
        await c.open(f"/console/day?store={east.store_id}")
        await expect(c.page.locator("#day-body")).to_contain_text("Not allowed")

    async with console(browser, base_url(gateway), shots) as c:
        await c.sign_in(owner.login)
        await expect(c.page).to_have_url(ON_THE_DAY_PAGE)
        await c.open(f"/console/day?store={east.store_id}")
        await expect(c.page.locator("[data-kpi=revenue] strong")).to_contain_text("109.97")
        stores = await c.page.locator("#store option").all_inner_texts()
        assert f"{east.code} · {east.name}" in stores
        assert f"{west.code} · {west.name}" in stores
        assert await c.page.locator("#scope option").count() == 3
        await c.shot("day-owner")


async def test_find_a_member_by_phone_and_see_what_their_consent_allows(
    browser: Browser, gateway: httpx.AsyncClient, chain: Chain, shots: Path
) -> None:
    store, elsewhere = await chain.store(), await chain.store()
    manager = await staff(chain, common_pb2.STAFF_ROLE_STORE_MANAGER, store_ids=[store.store_id])
    member = await chain.member(store.store_id, consents=[common_pb2.CONSENT_PURPOSE_MARKETING], display_name="Li Na")
    stranger = await chain.member(elsewhere.store_id)
    admin = (await chain.admin()).auth
    phones = {}
    for actor in (member, stranger):
        read = await chain.identity.GetMember(ipb.GetMemberRequest(member_id=actor.subject), metadata=admin)
        phones[actor.subject] = read.member.phone
    async with console(browser, base_url(gateway), shots, viewport=TABLET) as c:
        await c.sign_in(manager.login)
        await expect(c.page).to_have_url(ON_THE_DAY_PAGE)
        await c.page.click("nav a[data-page=members]")
        await c.page.fill("#phone", phones[member.subject])
        await c.page.click("form.controls button")
        await expect(c.page.locator("#member-profile")).to_contain_text("Li Na")
        await expect(c.page.locator("#member-consents [data-purpose=CONSENT_PURPOSE_MARKETING]")).to_contain_text("yes")
        await expect(c.page.locator("#member-consents [data-purpose=CONSENT_PURPOSE_PROFILING]")).to_contain_text("no")
        await expect(c.page.locator("#member-advisor")).to_contain_text("No advisor yet.")
        await expect(c.page.locator("#member-receipts")).to_be_visible()
        # Without profiling consent there is no profile to show; without recs, nothing to ask.
        offered = await offered_services(gateway)
        reason = "has not given profiling consent" if "recs" in offered else "Not available"
        await expect(c.page.locator("#member-recs")).to_contain_text(reason)
        points = "Available" if "loyalty" in offered else "Not available"
        await expect(c.page.locator("#member-points")).to_contain_text(points)
        assert await c.fits_the_width()
        await c.shot("members-found")

        await c.page.fill("#phone", phones[stranger.subject])
        await c.page.click("form.controls button")
        await expect(c.page.locator("#member-body")).to_contain_text("Not allowed")
        await c.page.fill("#phone", "+8613800000000")
        await c.page.click("form.controls button")
        await expect(c.page.locator("#member-body")).to_contain_text("No member with this phone number.")
        assert c.outside == []


async def lay_out_the_floor(platform: Platform, chain: Chain, store_id: str) -> None:
    """A floor of 40 x 30 m with two zones, through positioning's own RPCs."""
    stub = positioning_pb2_grpc.PositioningServiceStub(platform.channel("positioning"))
    admin = (await chain.admin()).auth

    def square(x0: float, y0: float, x1: float, y1: float) -> ppb.Polygon:
        corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
        return ppb.Polygon(vertices=[ppb.Point(x=x, y=y) for x, y in corners])

    venue = ppb.Venue(store_id=store_id, floors=[ppb.Floor(floor=0, name="Ground", width_m=40, height_m=30)])
    await stub.UpsertVenue(ppb.UpsertVenueRequest(venue=venue), metadata=admin)
    for zone_id, area in (("baby-aisle", square(2, 2, 12, 10)), ("snacks", square(28, 2, 38, 10))):
        zone = ppb.Zone(store_id=store_id, zone_id=zone_id, name=zone_id, floor=0, area=area)
        await stub.UpsertZone(ppb.UpsertZoneRequest(zone=zone), metadata=admin)


async def test_floor_campaigns_and_labels_in_chinese(
    browser: Browser, gateway: httpx.AsyncClient, chain: Chain, platform: Platform, shots: Path
) -> None:
    store = await chain.store()
    manager = await staff(chain, common_pb2.STAFF_ROLE_STORE_MANAGER, store_ids=[store.store_id])
    owner = await staff(chain, common_pb2.STAFF_ROLE_OWNER)
    offered = await offered_services(gateway)
    if "positioning" in offered:
        await lay_out_the_floor(platform, chain, store.store_id)
    async with console(browser, base_url(gateway), shots, locale="zh-CN", viewport=TABLET) as c:
        await c.open("/console/signin")
        await expect(c.page.locator("h1")).to_have_text("登录门店控制台")
        await c.sign_in(manager.login)
        await expect(c.page).to_have_url(ON_THE_DAY_PAGE)
        await expect(c.page.locator("nav")).to_contain_text("门店日报")

        await c.open(f"/console/floor?store={store.store_id}")
        if "positioning" in offered:
            # The floor's heatmap is drawn (a 40 x 30 m floor, an empty period: no heat yet).
            await expect(c.page.locator("#floor-heatmap canvas")).to_be_visible()
            assert await c.page.evaluate("document.getElementById('heatmap').width") > 0
            for panel in ("#floor-dwell", "#floor-routes", "#floor-footfall"):
                await expect(c.page.locator(panel)).to_be_visible()
                await expect(c.page.locator(panel)).not_to_contain_text("平台拒绝了请求")
        else:
            await expect(c.page.locator(".notice.unavailable")).to_contain_text("positioning")
        assert await c.fits_the_width()
        await c.shot("floor-zh")

        # A store manager reads campaigns; creating one is the chain's (loyalty refuses it).
        await c.open("/console/campaigns")
        if "loyalty" in offered:
            await expect(c.page.locator("#campaign-list")).not_to_contain_text("加载中")
            await c.page.fill("#campaign-name", unique("Store "))
            await c.page.fill("#campaign-reward", "100")
            await c.page.click("#campaign-create")
            await expect(c.page.locator("#campaign-message")).to_contain_text("无权查看")
        else:
            await expect(c.page.locator(".notice.unavailable")).to_contain_text("loyalty")
        assert c.outside == []

    if "loyalty" not in offered:
        return
    async with console(browser, base_url(gateway), shots, locale="zh-CN", viewport=TABLET) as c:
        await c.sign_in(owner.login)
        await expect(c.page).to_have_url(ON_THE_DAY_PAGE)
        await c.open("/console/campaigns")
        name = unique("Weekend ")
        await c.page.fill("#campaign-name", name)
        await c.page.select_option("#campaign-stores", store.store_id)
        await c.page.fill("#campaign-reward", "100")
        await c.page.fill("#campaign-quietfrom", "22")
        await c.page.fill("#campaign-quietto", "8")
        await c.page.click("#campaign-create")
        await expect(c.page.locator("#campaign-message")).to_contain_text("活动已创建")
        row = c.page.locator("#campaign-list tr", has_text=name)
        await expect(row).to_contain_text("进行中")
        # Offers sent and redeemed per campaign: none yet for a new one.
        await expect(c.page.locator("#campaign-list th", has_text="已核销")).to_be_visible()
        assert [await cell.inner_text() for cell in (await row.locator("td").all())[4:6]] == ["0", "0"]
        await row.locator("button.pause").click()
        await expect(row).to_contain_text("已暂停")
        assert await c.fits_the_width()
        await c.shot("campaigns-zh")
        assert c.outside == []


async def test_docs_render_from_the_platform_alone(browser: Browser, gateway: httpx.AsyncClient, shots: Path) -> None:
    async with console(browser, base_url(gateway), shots) as c:
        await c.open("/docs")
        await expect(c.page.locator(".swagger-ui .info .title")).to_contain_text("O2O", timeout=20_000)
        await expect(c.page.locator(".opblock").first).to_be_visible()
        await c.shot("docs", full_page=False)
        assert c.outside == []
