"""`o2o seed`: a small demo chain in the running platform, created through the public RPCs
(stores, staff in every role, members with consent, a POS device per store)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from o2o.common.v1 import common_pb2
from o2o.identity.v1 import identity_pb2 as pb
from o2o.identity.v1 import identity_pb2_grpc

from o2o_runtime import localenv
from o2o_runtime.clients import channel
from o2o_runtime.launcher import console_url

IDENTITY = os.environ.get("O2O_IDENTITY_ADDRESS", "127.0.0.1:50051")
DEMO_PASSWORD = "demo-password-1"
STORES = [
    ("SH-001", "Nanjing Road Flagship", "east", "Asia/Shanghai"),
    ("SH-002", "Xujiahui Mall", "east", "Asia/Shanghai"),
    ("BJ-001", "Sanlitun", "north", "Asia/Shanghai"),
]
MEMBERS = [
    ("+8613800138001", "Wang Fang", 1990, 3, 14, common_pb2.GENDER_FEMALE, common_pb2.INCOME_BAND_HIGH),
    ("+8613800138002", "Li Wei", 1985, 11, 2, common_pb2.GENDER_MALE, common_pb2.INCOME_BAND_MIDDLE),
    ("+8613800138003", "Zhang Min", 2001, 7, 30, common_pb2.GENDER_FEMALE, common_pb2.INCOME_BAND_LOW),
]


async def _token(stub: identity_pb2_grpc.IdentityServiceAsyncStub, login: str, password: str) -> str:
    reply = await stub.IssueToken(
        pb.IssueTokenRequest(staff_password=pb.StaffPasswordGrant(login=login, password=password)), timeout=10
    )
    return str(reply.access_token)


async def admin_token(data_dir: Path, login: str = "", password: str = "") -> str:
    env = localenv.load(data_dir)
    async with channel(IDENTITY) as chan:
        stub = identity_pb2_grpc.IdentityServiceStub(chan)
        return await _token(
            stub, login or env["IDENTITY_BOOTSTRAP_ADMIN_LOGIN"], password or env["IDENTITY_BOOTSTRAP_ADMIN_PASSWORD"]
        )


async def seed(data_dir: Path) -> int:
    summary_path = data_dir / "demo.json"
    async with channel(IDENTITY) as chan:
        stub = identity_pb2_grpc.IdentityServiceStub(chan)
        auth = (("authorization", f"Bearer {await admin_token(data_dir)}"),)
        existing = await stub.ListStores(pb.ListStoresRequest(page_size=200), metadata=auth, timeout=10)
        if any(s.code == STORES[0][0] for s in existing.stores):
            print(f"the demo chain is already loaded; details in {summary_path}")
            print(summary_path.read_text() if summary_path.exists() else "")
            return 0

        stores = {}
        for code, name, region, zone in STORES:
            reply = await stub.CreateStore(
                pb.CreateStoreRequest(
                    store=pb.Store(code=code, name=name, region=region, time_zone=zone, currency_code="CNY")
                ),
                metadata=auth,
            )
            stores[code] = reply.store.store_id

        staff = [
            ("owner", common_pb2.STAFF_ROLE_OWNER, [], ""),
            ("regional.east", common_pb2.STAFF_ROLE_REGIONAL_MANAGER, [], "east"),
            ("manager.sh001", common_pb2.STAFF_ROLE_STORE_MANAGER, [stores["SH-001"]], ""),
            ("associate.sh001", common_pb2.STAFF_ROLE_ASSOCIATE, [stores["SH-001"]], ""),
            ("associate.bj001", common_pb2.STAFF_ROLE_ASSOCIATE, [stores["BJ-001"]], ""),
        ]
        staff_ids = {}
        for login, role, store_ids, region in staff:
            created = await stub.CreateStaff(
                pb.CreateStaffRequest(
                    staff=pb.Staff(login=login, display_name=login, role=role, store_ids=store_ids, region=region),
                    password=DEMO_PASSWORD,
                ),
                metadata=auth,
            )
            staff_ids[login] = created.staff.staff_id

        members = {}
        for phone, name, year, month, day, gender, income in MEMBERS:
            registered = await stub.RegisterMember(
                pb.RegisterMemberRequest(
                    member=pb.Member(
                        phone=phone,
                        display_name=name,
                        birth_year=year,
                        birth_month=month,
                        birth_day=day,
                        gender=gender,
                        income_band=income,
                        home_store_id=stores["SH-001"],
                    ),
                    consents=[
                        common_pb2.CONSENT_PURPOSE_MARKETING,
                        common_pb2.CONSENT_PURPOSE_LOCATION,
                        common_pb2.CONSENT_PURPOSE_PROFILING,
                        common_pb2.CONSENT_PURPOSE_SOCIAL,
                    ],
                ),
                metadata=auth,
            )
            members[name] = registered.member.member_id

        devices = {}
        for code, store_id in stores.items():
            device = await stub.RegisterDevice(
                pb.RegisterDeviceRequest(store_id=store_id, kind=pb.DEVICE_KIND_POS, display_name=f"POS 1 {code}"),
                metadata=auth,
            )
            devices[code] = {"device_id": device.device.device_id, "device_secret": device.device_secret}

    summary = {
        "stores": stores,
        "staff": {login: {"staff_id": sid, "password": DEMO_PASSWORD} for login, sid in staff_ids.items()},
        "members": members,
        "pos_devices": devices,
    }
    summary_path.write_text(json.dumps(summary, indent=2))
    summary_path.chmod(0o600)
    print(json.dumps(summary, indent=2))
    print(f"\nsaved to {summary_path}")
    print(
        f"\nstore console: {console_url()}"
        f"  (sign in as manager.sh001, regional.east or owner, password {DEMO_PASSWORD})"
    )
    return 0
