"""The gateway's metrics, scraped from its metrics port: requests and latencies by route template
and status, never by raw path."""

from __future__ import annotations

import httpx
from o2o_runtime.ids import new_id
from o2o_runtime.testing.chain import Chain
from o2o_runtime.testing.metrics import Scrape, scrape
from o2o_runtime.testing.platform import Platform

MEMBER_ROUTE = "/v1/members/{member_id}"


def route(scraped: Scrape, name: str, template: str, status: str, method: str = "GET") -> float:
    return scraped.value(name, http_route=template, http_response_status_code=status, http_request_method=method)


async def test_a_request_moves_the_counter_and_histogram_of_its_route_template(
    platform: Platform, chain: Chain, gateway: httpx.AsyncClient
) -> None:
    metrics_url = platform.services["gateway"].metrics_url()
    key = await chain.api_key(["members:read"])
    member = await chain.member()
    missing = new_id()
    before = await scrape(metrics_url)
    assert (await gateway.get(f"/v1/members/{member.subject}", headers={"X-API-Key": key})).status_code == 200
    assert (await gateway.get(f"/v1/members/{missing}", headers={"X-API-Key": key})).status_code == 404
    assert (await gateway.get("/v1/no-such-route")).status_code == 404
    after = await scrape(metrics_url)

    requests, count = "o2o_http_server_requests_total", "http_server_request_duration_seconds_count"
    for name in (requests, count):
        assert route(after, name, MEMBER_ROUTE, "200") - route(before, name, MEMBER_ROUTE, "200") == 1
        assert route(after, name, MEMBER_ROUTE, "404") - route(before, name, MEMBER_ROUTE, "404") == 1
    # A path that matched no route is counted under an empty route; ids never become labels.
    assert route(after, requests, "", "404") - route(before, requests, "", "404") == 1
    assert member.subject not in after.text
    assert missing not in after.text
