"""Identity's entry point: `python -m o2o_identity` (or `o2o serve identity`)."""

from __future__ import annotations

from o2o.identity.v1 import identity_pb2_grpc
from o2o_runtime.server import Mounted, Runtime, ServiceDefinition, run
from o2o_runtime.tasks import periodic

from o2o_identity.api import IdentityApi
from o2o_identity.app import Identity
from o2o_identity.policy import identity_policy
from o2o_identity.settings import IdentitySettings


async def mount(runtime: Runtime) -> Mounted:
    assert isinstance(runtime.settings, IdentitySettings)
    identity = Identity(runtime.database, runtime.settings, runtime.erased_members)
    await identity.start()
    policy = identity_policy(
        {
            "member": identity.members.resource,
            "member_phone": identity.members.resource_by_phone,
            "staff": identity.staff.resource,
        }
    )
    return Mounted(
        servicers=[(identity_pb2_grpc.add_IdentityServiceServicer_to_server, IdentityApi(identity))],
        policies=[policy],
        key_source=identity.signing_keys,
        background=[
            periodic(runtime.settings.key_reload_s, identity.signing_keys.refresh, "signing key refresh"),
        ],
    )


SERVICE = ServiceDefinition(
    name="identity",
    default_port=50051,
    default_metrics_port=9410,
    settings_type=IdentitySettings,
    migrations="o2o_identity:migrations",
    mount=mount,
)

if __name__ == "__main__":
    run(SERVICE)
