"""The store console and /docs over real HTTP, through the real gateway and services: pages and
their assets come from the platform (pinned, integrity-checked, nothing from outside), labels
follow the browser's language, and what a role sees is decided by the services' answers to its
token on the same public routes partner apps use."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import httpx
from o2o.common.v1 import common_pb2
from o2o.identity.v1 import identity_pb2 as ipb
from o2o_gateway.console import assets, i18n
from o2o_runtime.testing.chain import PASSWORD, Chain, unique
from o2o_runtime.testing.plugin import GATEWAY_UPSTREAMS

CONSOLE = Path(assets.__file__).parent
_SOURCES = re.compile(r'(?:src|href)="([^"]+)"')


def config_of(page: str) -> dict[str, Any]:
    found = re.search(r'<script id="console-config" type="application/json">(.*?)</script>', page, re.S)
    assert found, page
    loaded: dict[str, Any] = json.loads(found.group(1))
    return loaded


async def test_every_page_is_served_with_local_pinned_assets(gateway: httpx.AsyncClient) -> None:
    home = await gateway.get("/console")
    assert home.status_code == 302
    assert home.headers["location"] == "/console/day"
    for page in ("signin", "day", "members", "floor", "campaigns"):
        response = await gateway.get(f"/console/{page}")
        assert response.status_code == 200, page
        assert response.headers["content-type"].startswith("text/html")
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "connect-src 'self'" in policy
        assert "http" not in policy
        assert config_of(response.text)["page"] == page
        sources = _SOURCES.findall(response.text)
        # Every script and style is the platform's own, with the digest the page expects.
        for path in sources:
            assert path.startswith("/console/"), path
        for tag in re.findall(r"<(?:script src|link rel=\"stylesheet\" href)=[^>]+>", response.text):
            path = re.search(r'(?:src|href)="([^"]+)"', tag)
            integrity = re.search(r'integrity="([^"]+)"', tag)
            assert path, tag
            assert integrity, tag
            served = await gateway.get(path.group(1))
            assert served.status_code == 200, path.group(1)
            digest = "sha384-" + base64.b64encode(hashlib.sha384(served.content).digest()).decode()
            assert digest == integrity.group(1)
    assert (await gateway.get("/console/nowhere")).status_code == 404
    assert (await gateway.get("/console/assets/../pages.py")).status_code == 404
    assert (await gateway.get("/console/assets/vendor/chart.js-4.6.1/LICENSE.md")).status_code == 404


async def test_docs_load_swagger_ui_from_the_platform(gateway: httpx.AsyncClient) -> None:
    page = await gateway.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text
    assert "https://" not in page.text
    sources = _SOURCES.findall(page.text)
    assert "/console/assets/vendor/swagger-ui-dist-5.35.0/swagger-ui-bundle.js" in sources
    for path in sources:
        served = await gateway.get(path)
        assert served.status_code == 200, path
    bundle = await gateway.get("/console/assets/vendor/swagger-ui-dist-5.35.0/swagger-ui-bundle.js")
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert "immutable" in bundle.headers["cache-control"]
    again = await gateway.get(bundle.request.url.path, headers={"If-None-Match": bundle.headers["etag"]})
    assert again.status_code == 304


def test_vendored_files_are_the_pinned_releases() -> None:
    # Any edit to a vendored file shows here; tools/vendor_assets.py is the one way to change them.
    for package in assets.manifest():
        for name, sha256 in dict(package["files"]).items():  # type: ignore[call-overload]
            file = CONSOLE / "vendor" / str(package["folder"]) / name
            assert hashlib.sha256(file.read_bytes()).hexdigest() == sha256, file
    assert {p["name"]: p["version"] for p in assets.manifest()} == {"swagger-ui-dist": "5.35.0", "chart.js": "4.6.1"}


async def test_labels_follow_the_browsers_language(gateway: httpx.AsyncClient) -> None:
    cases = {
        "zh-CN,zh;q=0.9,en;q=0.8": "zh-Hans",
        "zh-Hans": "zh-Hans",
        "fr-FR, zh;q=0.5": "zh-Hans",
        "en-US,en;q=0.9,zh-CN;q=0.8": "en",
        "zh-TW": "en",
        "de": "en",
        "": "en",
    }
    for header, language in cases.items():
        response = await gateway.get("/console/day", headers={"Accept-Language": header})
        assert f'<html lang="{language}">' in response.text, header
        assert response.headers["content-language"] == language
        assert "accept-language" in response.headers["vary"].lower()
        config = config_of(response.text)
        assert config["labels"] == i18n.labels(language)
    chinese = await gateway.get("/console/signin", headers={"Accept-Language": "zh-CN"})
    assert "门店控制台" in chinese.text


def test_every_label_the_script_uses_exists_in_both_languages() -> None:
    assert set(i18n.EN) == set(i18n.ZH)
    script = (CONSOLE / "static" / "console.js").read_text()
    used = set(re.findall(r"\bt\(\s*\"([^\"]+)\"", script))
    assert used, "no labels found"
    assert used <= set(i18n.EN), used - set(i18n.EN)
    for prefix in ("role.", "consent.", "reason.", "trigger.", "state.", "scope.", "reward."):
        assert any(key.startswith(prefix) for key in i18n.EN), prefix


async def test_the_page_says_which_services_the_gateway_offers(gateway: httpx.AsyncClient) -> None:
    config = config_of((await gateway.get("/console/floor")).text)
    assert config["services"] == sorted(GATEWAY_UPSTREAMS)


async def _signed_in(gateway: httpx.AsyncClient, chain: Chain, role: int, **where: Any) -> dict[str, str]:
    """Signs in over the gateway as the console does, with a new staff member's login."""
    login = unique("staff.")
    await chain.identity.CreateStaff(
        ipb.CreateStaffRequest(staff=ipb.Staff(login=login, role=role, **where), password=PASSWORD),  # type: ignore[arg-type]
        metadata=(await chain.admin()).auth,
    )
    reply = await gateway.post("/v1/tokens", json={"staffPassword": {"login": login, "password": PASSWORD}})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['accessToken']}"}


async def test_each_role_reads_only_its_stores_through_the_public_api(gateway: httpx.AsyncClient, chain: Chain) -> None:
    east, west = await chain.store(region=unique("e")), await chain.store(region=unique("w"))
    manager = await _signed_in(gateway, chain, common_pb2.STAFF_ROLE_STORE_MANAGER, store_ids=[east.store_id])
    regional = await _signed_in(gateway, chain, common_pb2.STAFF_ROLE_REGIONAL_MANAGER, region=west.region)
    owner = await _signed_in(gateway, chain, common_pb2.STAFF_ROLE_OWNER)
    expected = {
        "manager": (manager, {east.store_id: 200, west.store_id: 403}),
        "regional": (regional, {east.store_id: 403, west.store_id: 200}),
        "owner": (owner, {east.store_id: 200, west.store_id: 200}),
    }
    for role, (headers, outcomes) in expected.items():
        for store_id, status in outcomes.items():
            report = await gateway.get(f"/v1/stores/{store_id}/days/2026-01-05/report", headers=headers)
            assert report.status_code == status, (role, store_id, report.text)
            receipts = await gateway.get("/v1/receipts", params={"storeId": store_id}, headers=headers)
            assert receipts.status_code in (200, 403), receipts.text
            if receipts.status_code == 200 and status == 403:
                # A list is filtered to what the caller may see, never widened.
                assert receipts.json()["receipts"] == []
    # Members by phone: the manager finds their store's member, not the other store's.
    admin = (await chain.admin()).auth
    phones = {}
    for store in (east, west):
        member = await chain.member(store.store_id)
        read = await chain.identity.GetMember(ipb.GetMemberRequest(member_id=member.subject), metadata=admin)
        phones[store.store_id] = read.member.phone
    mine = await gateway.get("/v1/members", params={"phone": phones[east.store_id]}, headers=manager)
    assert mine.status_code == 200
    assert [m["phone"] for m in mine.json()["members"]] == [phones[east.store_id]]
    theirs = await gateway.get("/v1/members", params={"phone": phones[west.store_id]}, headers=manager)
    assert theirs.status_code == 403
    bad = await gateway.get("/v1/members", params={"phone": "12"}, headers=manager)
    assert bad.status_code == 400
    assert bad.json()["details"][0]["fieldViolations"][0]["field"] == "phone"
