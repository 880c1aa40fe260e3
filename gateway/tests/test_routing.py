"""Routing by the route table: every path a template makes reaches that template's routes, a path
variable never swallows a custom verb (`{member_id}` is not `0:erase`), and a 405 names the methods
of the resource that was asked for. Properties over every route template of the contract."""

from __future__ import annotations

import asyncio
import re

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st
from o2o_gateway.app import Gateway
from o2o_gateway.routes import HTTP_METHODS, Route, RouteTable, contract_services, upstream_of
from o2o_gateway.settings import GatewaySettings

VARIABLE = re.compile(r"\{[^}]*\}")
# Every service of the contract, built or not: routing must hold for all of them.
TABLE = RouteTable.for_upstreams({upstream_of(service) for service in contract_services()})
TEMPLATES = sorted({route.template.text for route in TABLE.routes})
# Templates that differ only in the names of their variables (`{member_id}`, `{member.member_id}`)
# are one resource.
VERBS = sorted({text.rsplit(":", 1)[1] for text in TEMPLATES if ":" in text.rsplit("/", 1)[-1]})
# What a client may put in one path segment; ids, dates, skus and enum names all look like this.
# "." and ".." are dot segments: URL normalisation removes them before any server sees the path.
SEGMENT = st.from_regex(r"[A-Za-z0-9._~-]{1,24}", fullmatch=True).filter(lambda text: text not in (".", ".."))


def resource(template: str) -> str:
    return VARIABLE.sub("{}", template)


def methods_of(template: str) -> list[str]:
    return sorted(route.http_method for route in TABLE.routes if resource(route.template.text) == resource(template))


@st.composite
def paths(draw: st.DrawFn, template: str) -> str:
    """A concrete path of the template, each variable filled with a generated segment."""
    return VARIABLE.sub(lambda _match: draw(SEGMENT), template)


# No upstream is called: a 405 is the gateway's own answer.
APP = Gateway(GatewaySettings(upstreams={"identity": "127.0.0.1:1"}), table=TABLE).app()


def request(method: str, path: str) -> httpx.Response:
    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=APP), base_url="http://gateway") as client:
            return await client.request(method, path)

    return asyncio.run(send())


def test_the_table_has_templates_with_and_without_verbs() -> None:
    assert "/v1/members/{member_id}:erase" in TEMPLATES
    assert "/v1/members/{member_id}" in TEMPLATES
    assert {"erase", "refund", "revoke", "close"} <= set(VERBS)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), template=st.sampled_from(TEMPLATES))
def test_a_path_reaches_the_routes_of_its_own_template(data: st.DataObject, template: str) -> None:
    path = data.draw(paths(template))
    found_methods = []
    for method in (m.upper() for m in HTTP_METHODS):
        found = TABLE.match(method, path)
        if found is not None:
            route: Route = found[0]
            assert resource(route.template.text) == resource(template), (method, path, route.template.text)
            found_methods.append(method)
    assert sorted(found_methods) == methods_of(template)
    assert TABLE.allowed_methods(path) == methods_of(template)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), template=st.sampled_from(TEMPLATES), verb=st.sampled_from(VERBS))
def test_a_variable_never_swallows_a_custom_verb(data: st.DataObject, template: str, verb: str) -> None:
    path = data.draw(paths(template)) + ":" + verb
    for route in TABLE.routes:
        found = route.template.match(path)
        if found is None:
            continue
        # Only a template that ends in this very verb may take it.
        assert route.template.text.endswith(":" + verb), (path, route.template.text)
        assert all(":" not in value for value in found.values()), (path, found)


def test_options_on_a_custom_verb_names_only_that_verbs_methods() -> None:
    for path, allowed in (("/v1/members/0:erase", "POST"), ("/v1/receipts/0:refund", "POST")):
        reply = request("OPTIONS", path)
        assert reply.status_code == 405
        assert reply.headers["allow"] == allowed
        assert reply.json()["code"] == 12


@settings(max_examples=200, deadline=None)
@given(data=st.data(), template=st.sampled_from(TEMPLATES), method=st.sampled_from(["OPTIONS", "HEAD", "TRACE"]))
def test_every_405_names_the_methods_of_the_route_asked_for(data: st.DataObject, template: str, method: str) -> None:
    path = data.draw(paths(template))
    reply = request(method, path)
    assert reply.status_code == 405
    assert re.split(r",\s*", reply.headers["allow"]) == methods_of(template)
    if method != "HEAD":
        assert reply.json()["code"] == 12
