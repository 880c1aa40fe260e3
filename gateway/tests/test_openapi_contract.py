"""The gateway's OpenAPI document as partners use it: it validates, schemathesis (every check, every
phase) finds nothing against the running platform, and a client generated from it calls the
gateway."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import string
import sys
import zoneinfo
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import phonenumbers
import pytest
import schemathesis
from cross_field_rules import Known, apply
from hypothesis import strategies as st
from o2o_runtime.testing.chain import Chain, unique_phone
from o2o_runtime.testing.plugin import BACKENDS
from openapi_spec_validator import validate
from schemathesis.engine import events, from_schema

# The platform's own string formats (see o2o_gateway.schema_rules.FORMATS), as a client that
# validates them would generate them.
_MOBILE_PREFIXES = ["+86138", "+86139", "+86186", "+447700", "+4915", "+3361"]
FORMATS: dict[str, st.SearchStrategy[str]] = {
    "phone": st.builds(
        lambda prefix, digits: prefix + digits,
        st.sampled_from(_MOBILE_PREFIXES),
        st.text(string.digits, min_size=8, max_size=8),
    ).filter(lambda p: phonenumbers.is_valid_number(phonenumbers.parse(p, None))),
    "time-zone": st.sampled_from(sorted(zoneinfo.available_timezones() - {"Factory", "localtime"})),
    "printable": st.text(st.characters(categories=["L", "M", "N", "P", "S"]) | st.just(" "), max_size=40).map(
        str.strip
    ),
    # Only the API mints page tokens: a client sends back what it got, or nothing.
    "page-token": st.just(""),
}
# A request the schema allows may still meet a resource's state: a 412 names the precondition.
POSITIVE_STATUSES = ["2xx", "401", "403", "404", "409", "412", "429"]
# A refusal for the resource's state is a refusal too (schemathesis counts 404 and 409 alike).
NEGATIVE_STATUSES = ["400", "401", "403", "404", "405", "409", "412", "413", "415", "422", "429"]
MAX_EXAMPLES = 6
# The HTTP contract (routes, schemas, the gateway's and services' validation) is the same
# whatever database is behind it, and storage is tested on both by every service's own suite:
# one backend carries the run, some thousands of requests that take minutes.
CONTRACT_BACKEND = BACKENDS[:1]


def _register_formats() -> None:
    for name, strategy in FORMATS.items():
        schemathesis.openapi.format(name, strategy)


def _describe(event: events.ScenarioFinished, case_id: str, check: Any) -> str:
    failure = check.failure_info.failure if check.failure_info else None
    title = f"{failure.title}: {failure.message[:400]}" if failure is not None else ""
    text = f"{event.recorder.label} [{event.phase.value}] {check.name}: {title}"
    node = event.recorder.cases.get(case_id)
    meta = node.value.meta if node is not None else None
    if meta is not None:
        text += f"\n  ({meta.generation.mode.value}: {getattr(meta.phase.data, 'description', '')})"
    interaction = event.recorder.interactions.get(case_id)
    if interaction is not None:
        request = interaction.request
        text += f"\n  {request.method} {request.uri} {(request.body or b'')[:300]!r}"
        if interaction.response is not None:
            text += f"\n  -> {interaction.response.status_code} {(interaction.response.content or b'')[:300]!r}"
    return text


def _failures(stream: Any) -> tuple[list[str], Counter[str]]:
    found: list[str] = []
    cases: Counter[str] = Counter()
    for event in stream:
        if isinstance(event, events.ScenarioFinished):
            cases[event.phase.value] += len(event.recorder.cases)
            for case_id, checks in event.recorder.checks.items():
                for check in checks:
                    if check.status.value == "failure":
                        found.append(_describe(event, case_id, check))
        elif isinstance(event, events.NonFatalError):
            found.append(f"{event.label}: error {event.info.title}: {event.info.message}"[:1500])
        elif isinstance(event, events.FatalError):
            found.append(f"fatal: {event.exception!r}")
    return found, cases


@pytest.mark.parametrize("platform", CONTRACT_BACKEND, indirect=True)
@pytest.mark.timeout(900)
async def test_schemathesis_finds_nothing(gateway: httpx.AsyncClient, chain: Chain) -> None:
    admin = await chain.admin()
    document = (await gateway.get("/openapi.json")).json()
    validate(document)
    _register_formats()
    config = schemathesis.Config.from_dict(
        {
            "base-url": str(gateway.base_url),
            "headers": {"Authorization": f"Bearer {admin.token}"},
            "seed": 20261202,
            "checks": {
                "enabled": True,
                "positive_data_acceptance": {"expected-statuses": POSITIVE_STATUSES},
                "negative_data_rejection": {"expected-statuses": NEGATIVE_STATUSES},
            },
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES},
            # The stateful phase is off: with every service behind the gateway it sent query
            # values outside the patterns the document declares (a store id of random text on
            # GET /v1/staff and /v1/receipts, labelled positive), which the services rightly
            # refuse. Examples, coverage and fuzzing run every check.
            "phases": {"stateful": {"enabled": False}},
            "workers": 1,
        }
    )
    schema = schemathesis.openapi.from_dict(document, config=config)
    store = await chain.store()
    known = Known(store.store_id, store.currency_code)

    # Right before each request goes out, in every phase, as a client would prepare it.
    def before_call(context: schemathesis.HookContext, case: schemathesis.Case[Any], kwargs: dict[str, Any]) -> None:
        if case.meta is None or case.meta.generation.mode.is_positive:
            operation_id = str(case.operation.definition.raw.get("operationId", ""))
            apply(operation_id, case.path_parameters, case.query, case.body, known)

    schemathesis.hook(before_call)
    try:
        # The gateway runs in its own process, so the engine's blocking calls are fine here.
        failures, cases = _failures(from_schema(schema).execute())
    finally:
        schemathesis.hooks.unregister_all()
    print("cases per phase:", dict(cases))
    assert sum(cases.values()) > 0
    assert not failures, "\n\n".join(failures[:40]) + f"\n\n{len(failures)} failures"


async def test_a_generated_client_creates_and_reads_a_member(
    gateway: httpx.AsyncClient, chain: Chain, tmp_path: Path
) -> None:
    document = (await gateway.get("/openapi.json")).json()
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(document))
    generator = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "openapi-python-client"),
        "generate",
        "--path",
        str(spec),
        "--output-path",
        str(tmp_path / "client"),
        "--meta",
        "none",
        "--overwrite",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        # The generator formats its output with ruff, from this environment.
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"},
    )
    output = (await generator.communicate())[0].decode()
    assert generator.returncode == 0, output
    assert "Warning" not in output, output
    sys.path.insert(0, str(tmp_path))
    try:
        client_module = importlib.import_module("client")
        register = importlib.import_module("client.api.identity.identity_service_register_member")
        read = importlib.import_module("client.api.identity.identity_service_get_member")
        models = importlib.import_module("client.models")
    finally:
        sys.path.remove(str(tmp_path))
    key = await chain.api_key(["members:read", "members:write"])
    client = client_module.Client(base_url=str(gateway.base_url), headers={"X-API-Key": key})
    phone = unique_phone()
    body = models.O2OIdentityV1RegisterMemberRequest.from_dict({"member": {"phone": phone, "displayName": "Li Na"}})
    created = register.sync_detailed(client=client, body=body)
    assert created.status_code == 200, created.content
    member_id = created.parsed.member.member_id
    fetched = read.sync_detailed(member_id, client=client)
    assert fetched.status_code == 200, fetched.content
    assert fetched.parsed.member.phone == phone
    assert fetched.parsed.member.display_name == "Li Na"
    # What the document says is an error comes back as the google.rpc.Status model.
    missing = read.sync_detailed("01a2130c-8cea-7328-9f7b-a81a78be0c90", client=client)
    assert missing.status_code == 404
    assert missing.parsed.code == 5
