"""`o2o call` sends each RPC to the service that serves it, at that service's configured
address, with no --address needed."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import date

import pytest
from o2o_runtime import registry
from o2o_runtime.rpc_call import find_method, service_of
from o2o_runtime.testing.chain import Chain
from o2o_runtime.testing.platform import Platform


@pytest.mark.parametrize(
    ("method", "service"),
    [
        ("IdentityService/GetJwks", "identity"),
        ("o2o.receipts.v1.ReceiptsService/GetReceipt", "receipts"),
        ("WebhooksService/ListSubscriptions", "webhooks"),
        ("o2o.webhooks.v1.WebhooksService/ReplayDelivery", "webhooks"),
    ],
)
def test_a_method_belongs_to_the_service_of_its_package(method: str, service: str) -> None:
    assert service_of(find_method(method)) == service


def test_a_service_address_comes_from_its_setting_then_its_port() -> None:
    assert registry.address("webhooks", {"O2O_WEBHOOKS_ADDRESS": "webhooks.o2o:50056"}) == "webhooks.o2o:50056"
    assert registry.address("webhooks", {"WEBHOOKS_GRPC_PORT": "6100"}) == "127.0.0.1:6100"
    # The port the service's definition declares, the one `o2o up` gives it.
    assert registry.address("webhooks", {}) == "127.0.0.1:50056"
    assert registry.address("receipts", {}) == "127.0.0.1:50052"


def _o2o_call(env: dict[str, str], method: str, request: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "o2o_runtime.cli", "call", method, json.dumps(request)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_o2o_call_reaches_each_service_at_its_own_address(platform: Platform, chain: Chain) -> None:
    identity, receipts = platform.service("identity"), platform.service("receipts")
    admin = await chain.admin()
    store = await chain.store()
    env = {
        **platform.env,
        "O2O_IDENTITY_ADDRESS": identity.address,
        "O2O_RECEIPTS_ADDRESS": receipts.address,
        "O2O_TOKEN": admin.token,
    }
    stores, report = await asyncio.gather(
        asyncio.to_thread(_o2o_call, env, "IdentityService/GetStore", {"storeId": store.store_id}),
        asyncio.to_thread(
            _o2o_call,
            env,
            "ReceiptsService/GetStoreDayReport",
            {"storeId": store.store_id, "businessDate": date.today().isoformat()},
        ),
    )
    assert stores.returncode == 0, stores.stderr
    assert json.loads(stores.stdout)["store"]["storeId"] == store.store_id
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["report"]["storeId"] == store.store_id
