"""Where the platform a simulation drives is: each service's gRPC address, the gateway's URL,
and the credentials a chain's set-up needs (its administrator, the services' own secrets)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from o2o_runtime import localenv, registry
from o2o_runtime.launcher import GATEWAY_PORT

SERVICES = ("identity", "receipts", "loyalty", "positioning", "recs")


@dataclass(frozen=True)
class Targets:
    addresses: dict[str, str]
    gateway_url: str
    admin_login: str
    admin_password: str

    @classmethod
    def local(cls, data_dir: Path) -> Targets:
        """The platform `o2o up` runs from data_dir, on its default ports."""
        env = localenv.load(data_dir)
        return cls(
            addresses={name: registry.address(name) for name in SERVICES},
            gateway_url=f"http://127.0.0.1:{GATEWAY_PORT}",
            admin_login=env["IDENTITY_BOOTSTRAP_ADMIN_LOGIN"],
            admin_password=env["IDENTITY_BOOTSTRAP_ADMIN_PASSWORD"],
        )
