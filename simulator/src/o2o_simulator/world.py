"""A chain set up through the public RPCs, as its owner would: stores in two regions and time
zones, staff in every role, POS data boxes, members with varied consents and friends; each
store's floor with zones, beacons and a Wi-Fi survey; the loyalty programme (earn rules, a
reward, a dwell campaign) and the catalog with its categories."""

from __future__ import annotations

import math
import random
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import grpc
import numpy as np
from o2o.common.v1 import common_pb2
from o2o.identity.v1 import identity_pb2 as ipb
from o2o.identity.v1 import identity_pb2_grpc
from o2o.loyalty.v1 import loyalty_pb2 as lpb
from o2o.loyalty.v1 import loyalty_pb2_grpc
from o2o.positioning.v1 import positioning_pb2 as ppb
from o2o.positioning.v1 import positioning_pb2_grpc
from o2o.receipts.v1 import receipts_pb2 as rpb
from o2o.receipts.v1 import receipts_pb2_grpc
from o2o.recs.v1 import recs_pb2 as cpb
from o2o.recs.v1 import recs_pb2_grpc
from o2o_positioning.domain import survey
from o2o_runtime.clients import channel
from o2o_runtime.timeutil import utcnow
from o2o_runtime.wellknown import to_duration, to_timestamp

from o2o_simulator.journal import Journal
from o2o_simulator.plan import Plan
from o2o_simulator.targets import Targets

Metadata = tuple[tuple[str, str], ...]
CURRENCY = "CNY"
# Two regions, each in a time zone of its own.
REGIONS = [("east", "Asia/Shanghai"), ("west", "Asia/Urumqi")]
SITE = survey.SiteSpec(buildings=1, floors=1, width_m=40.0, depth_m=30.0, aps_per_floor=12, gap_m=0.0)
# A shelf across the middle of the floor, which shoppers walk around.
SHELF = [(10.0, 14.0), (30.0, 14.0), (30.0, 16.0), (10.0, 16.0)]
# zone id: (area, brand, category, where a shopper stands in it)
ZONES: dict[str, tuple[list[tuple[float, float]], str, str, tuple[float, float]]] = {
    "baby-aisle": ([(2.0, 2.0), (12.0, 2.0), (12.0, 10.0), (2.0, 10.0)], "Acme", "baby", (7.0, 6.0)),
    "snacks": ([(28.0, 2.0), (38.0, 2.0), (38.0, 10.0), (28.0, 10.0)], "Crunch", "snacks", (33.0, 6.0)),
    "coffee": ([(15.0, 20.0), (25.0, 20.0), (25.0, 28.0), (15.0, 28.0)], "Bean", "coffee", (20.0, 24.0)),
}
PROMOTED_ZONE = "baby-aisle"
ENTRANCE, TILLS = (20.0, 1.0), (20.0, 11.0)
# The catalog: category > subcategory, with a brand and a price each.
CATALOG = [
    ("FORMULA-1", "Infant formula", "baby", "baby/feeding", "Acme", 5000),
    ("NAPPIES-1", "Nappies, size 2", "baby", "baby/care", "Acme", 3000),
    ("WIPES-1", "Baby wipes", "baby", "baby/care", "Acme", 1000),
    ("CRISPS-1", "Sea-salt crisps", "snacks", "snacks/savoury", "Crunch", 800),
    ("NUTS-1", "Roasted almonds", "snacks", "snacks/savoury", "Crunch", 2500),
    ("CHOC-1", "Dark chocolate", "snacks", "snacks/sweet", "Crunch", 1500),
    ("BEANS-1", "Espresso beans", "coffee", "coffee/beans", "Bean", 6800),
    ("DRIP-1", "Drip bags", "coffee", "coffee/ready", "Bean", 3900),
]
ITEMS_BY_CATEGORY = {c: [item for item in CATALOG if item[2] == c] for c in {i[2] for i in CATALOG}}
# The programme: a point per yuan, baby goods double; points usable at once.
EARN_RULES = lpb.EarnRules(
    points_per_unit={CURRENCY: 1},
    multipliers=[lpb.EarnMultiplier(multiplier_id="baby-double", category="baby", factor_milli=2000)],
    pending_period=to_duration(timedelta(0)),
    expiry_period=to_duration(timedelta(days=365)),
)
REWARD_POINTS = 100
DWELL_BONUS = 50
CONSENT_MIXES = [
    ("all", [common_pb2.CONSENT_PURPOSE_MARKETING, common_pb2.CONSENT_PURPOSE_LOCATION,
             common_pb2.CONSENT_PURPOSE_PROFILING, common_pb2.CONSENT_PURPOSE_SOCIAL]),
    ("no-location", [common_pb2.CONSENT_PURPOSE_MARKETING, common_pb2.CONSENT_PURPOSE_PROFILING]),
    ("location-only", [common_pb2.CONSENT_PURPOSE_LOCATION]),
]  # fmt: skip
CONSENT_NAMES = {
    common_pb2.CONSENT_PURPOSE_MARKETING: "marketing",
    common_pb2.CONSENT_PURPOSE_LOCATION: "location",
    common_pb2.CONSENT_PURPOSE_PROFILING: "profiling",
    common_pb2.CONSENT_PURPOSE_SOCIAL: "social",
}


def bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


@dataclass
class Person:
    subject: str
    token: str
    login: str = ""

    @property
    def auth(self) -> Metadata:
        return bearer(self.token)


@dataclass
class Member(Person):
    consent: str = "all"
    # The card they pay with at the till, linked to them in identity.
    card: str = ""
    home_store: str = ""


@dataclass
class Till:
    register_id: str
    device: Person


@dataclass
class Store:
    store_id: str
    code: str
    region: str
    time_zone: str
    manager: Person
    associate: Person
    tills: list[Till]
    # The in-store sensor gateway that forwards anonymous phones' observations.
    sensor: Person
    beacons: dict[str, tuple[str, int, int, tuple[float, float]]] = field(default_factory=dict)


@dataclass
class Clients:
    identity: identity_pb2_grpc.IdentityServiceAsyncStub
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub
    loyalty: loyalty_pb2_grpc.LoyaltyServiceAsyncStub
    positioning: positioning_pb2_grpc.PositioningServiceAsyncStub
    recs: recs_pb2_grpc.RecsServiceAsyncStub
    channels: list[grpc.aio.Channel]

    @classmethod
    def of(cls, targets: Targets) -> Clients:
        opened = {name: channel(address) for name, address in targets.addresses.items()}
        return cls(
            identity_pb2_grpc.IdentityServiceStub(opened["identity"]),
            receipts_pb2_grpc.ReceiptsServiceStub(opened["receipts"]),
            loyalty_pb2_grpc.LoyaltyServiceStub(opened["loyalty"]),
            positioning_pb2_grpc.PositioningServiceStub(opened["positioning"]),
            recs_pb2_grpc.RecsServiceStub(opened["recs"]),
            list(opened.values()),
        )

    async def close(self) -> None:
        for opened in self.channels:
            await opened.close()


@dataclass
class World:
    plan: Plan
    clients: Clients
    admin: Person
    owner: Person
    regional: dict[str, Person]
    stores: list[Store]
    members: list[Member]
    partner_key: str
    reward_id: str
    campaign_id: str
    # A tag of this run's own, so that two runs on one platform never share names.
    run: str
    # Staff logins and their passwords (the demo prints a manager's to sign in with).
    passwords: dict[str, str]

    def store(self, store_id: str) -> Store:
        return next(s for s in self.stores if s.store_id == store_id)


class Builder:
    def __init__(self, plan: Plan, targets: Targets, clients: Clients, journal: Journal) -> None:
        self.plan = plan
        self.targets = targets
        self.clients = clients
        self.journal = journal
        self.rng = random.Random(plan.seed)
        self.run = secrets.token_hex(3)
        # Staff logins and the passwords set for them (the demo prints one to sign in with).
        self.passwords: dict[str, str] = {}

    async def build(self) -> World:
        identity = self.clients.identity
        admin = await self._sign_in(self.targets.admin_login, self.targets.admin_password)
        self.admin = admin
        owner = await self._staff("owner", common_pb2.STAFF_ROLE_OWNER)
        regional = {
            region: await self._staff(f"regional.{region}", common_pb2.STAFF_ROLE_REGIONAL_MANAGER, region=region)
            for region, _ in REGIONS
        }
        stores = [await self._store(k) for k in range(self.plan.stores)]
        partner_key = (
            await identity.CreateApiKey(
                ipb.CreateApiKeyRequest(
                    api_key=ipb.ApiKey(
                        partner=f"shopping-app-{self.run}",
                        scopes=["members:read", "members:write", "recs:read", "offers:read"],
                    )
                ),
                metadata=admin.auth,
            )
        ).secret
        members = [await self._member(k, stores, partner_key) for k in range(self._member_count())]
        # Friends: pairs of members who shop together, among those who allow social features.
        social = [m for m in members if "social" in self.journal.consents[m.subject]]
        for first, second in zip(social[::2], social[1::2], strict=False):
            await identity.AddFriend(
                ipb.AddFriendRequest(member_id=first.subject, friend_member_id=second.subject), metadata=first.auth
            )
        for store in stores:
            await self._floor(store)
        # Associates earn 3% of what they sell, 5% on baby goods.
        for scope, key, rate in ((rpb.COMMISSION_SCOPE_DEFAULT, "", 300), (rpb.COMMISSION_SCOPE_CATEGORY, "baby", 500)):
            await self.clients.receipts.SetCommissionRule(
                rpb.SetCommissionRuleRequest(
                    rule=rpb.CommissionRule(
                        scope=scope, key=key, rate_bp=rate, effective_time=to_timestamp(utcnow() - timedelta(days=1))
                    )
                ),
                metadata=owner.auth,
            )
        reward_id, campaign_id = await self._programme(owner, stores)
        await self.clients.recs.UpsertCatalogItems(
            cpb.UpsertCatalogItemsRequest(
                items=[
                    cpb.CatalogItem(
                        sku=sku,
                        name=name,
                        category=category,
                        brand=brand,
                        active=True,
                        price=common_pb2.Money(amount_minor=price, currency_code=CURRENCY),
                    )
                    for sku, name, _, category, brand, price in CATALOG
                ]
            ),
            metadata=owner.auth,
        )
        return World(
            self.plan, self.clients, admin, owner, regional, stores, members, partner_key, reward_id, campaign_id,
            self.run, self.passwords,
        )  # fmt: skip

    def _member_count(self) -> int:
        return max(2, round(self.plan.shoppers * self.plan.member_share))

    async def _sign_in(self, login: str, password: str) -> Person:
        reply = await self.clients.identity.IssueToken(
            ipb.IssueTokenRequest(staff_password=ipb.StaffPasswordGrant(login=login, password=password))
        )
        return Person(reply.subject, reply.access_token, login)

    async def _staff(self, name: str, role: int, store_ids: list[str] | None = None, region: str = "") -> Person:
        login = f"{name}.{self.run}"
        password = secrets.token_urlsafe(12)
        await self.clients.identity.CreateStaff(
            ipb.CreateStaffRequest(
                staff=ipb.Staff(
                    login=login,
                    display_name=name,
                    role=role,  # type: ignore[arg-type]
                    store_ids=store_ids or [],
                    region=region,
                ),
                password=password,
            ),
            metadata=self.admin.auth,
        )
        person = await self._sign_in(login, password)
        self.passwords[login] = password
        return person

    async def _device(self, store_id: str, kind: int, name: str) -> Person:
        registered = await self.clients.identity.RegisterDevice(
            ipb.RegisterDeviceRequest(store_id=store_id, kind=kind, display_name=name),  # type: ignore[arg-type]
            metadata=self.admin.auth,
        )
        reply = await self.clients.identity.IssueToken(
            ipb.IssueTokenRequest(
                device=ipb.DeviceGrant(device_id=registered.device.device_id, device_secret=registered.device_secret)
            )
        )
        return Person(registered.device.device_id, reply.access_token)

    async def _store(self, k: int) -> Store:
        region, zone = REGIONS[k % len(REGIONS)]
        code = f"S{k + 1:02d}-{self.run}"
        created = await self.clients.identity.CreateStore(
            ipb.CreateStoreRequest(
                store=ipb.Store(code=code, name=f"Store {k + 1}", region=region, time_zone=zone, currency_code=CURRENCY)
            ),
            metadata=self.admin.auth,
        )
        store_id = created.store.store_id
        manager = await self._staff(f"manager.s{k + 1}", common_pb2.STAFF_ROLE_STORE_MANAGER, [store_id])
        associate = await self._staff(f"associate.s{k + 1}", common_pb2.STAFF_ROLE_ASSOCIATE, [store_id])
        tills = [Till(f"R{n}", await self._device(store_id, ipb.DEVICE_KIND_POS, f"POS {n}")) for n in (1, 2)]
        sensor = await self._device(store_id, ipb.DEVICE_KIND_BEACON_GATEWAY, "Sensor gateway")
        return Store(store_id, code, region, zone, manager, associate, tills, sensor)

    async def _member(self, k: int, stores: list[Store], partner_key: str) -> Member:
        consent, purposes = CONSENT_MIXES[k % len(CONSENT_MIXES)]
        home = stores[k % len(stores)]
        registered = await self.clients.identity.RegisterMember(
            ipb.RegisterMemberRequest(
                member=ipb.Member(
                    phone=f"+86139{self.rng.randrange(10**8):08d}",
                    display_name=f"Shopper {k + 1}",
                    birth_year=self.rng.randrange(1960, 2005),
                    birth_month=self.rng.randrange(1, 13),
                    birth_day=self.rng.randrange(1, 29),
                    home_store_id=home.store_id,
                ),
                consents=purposes,
            ),
            metadata=self.admin.auth,
        )
        member_id = registered.member.member_id
        token = (
            await self.clients.identity.IssueToken(
                ipb.IssueTokenRequest(api_key=ipb.ApiKeyGrant(api_key=partner_key, member_id=member_id))
            )
        ).access_token
        card = f"card-{self.run}-{k}"
        await self.clients.identity.LinkPaymentAccount(
            ipb.LinkPaymentAccountRequest(member_id=member_id, provider="card", account_token=card),
            metadata=bearer(token),
        )
        self.journal.consents[member_id] = {CONSENT_NAMES[p] for p in purposes}
        return Member(member_id, token, consent=consent, card=card, home_store=home.store_id)

    async def _floor(self, store: Store) -> None:
        store.beacons = await open_floor(self.clients.positioning, store.store_id, store.manager.auth, self.plan.seed)

    async def _programme(self, owner: Person, stores: list[Store]) -> tuple[str, str]:
        loyalty = self.clients.loyalty
        await loyalty.SetEarnRules(lpb.SetEarnRulesRequest(rules=EARN_RULES), metadata=owner.auth)
        reward_id = f"ten-off-{self.run}"
        await loyalty.UpsertReward(
            lpb.UpsertRewardRequest(
                reward=lpb.Reward(
                    reward_id=reward_id,
                    name="10 yuan off your next basket",
                    points_cost=REWARD_POINTS,
                    coupon_kind=lpb.COUPON_KIND_AMOUNT_OFF,
                    amount_off=common_pb2.Money(amount_minor=1000, currency_code=CURRENCY),
                    coupon_validity=to_duration(timedelta(days=30)),
                    stock=-1,
                    active=True,
                )
            ),
            metadata=owner.auth,
        )
        now = utcnow()
        created = await loyalty.CreateCampaign(
            lpb.CreateCampaignRequest(
                campaign=lpb.Campaign(
                    name=f"Nappies, now ({self.run})",
                    place=lpb.Place(store_ids=[s.store_id for s in stores], zone_ids=[PROMOTED_ZONE]),
                    trigger=lpb.Trigger(kind=lpb.TRIGGER_KIND_ZONE_DWELL, min_dwell_seconds=self.plan.dwell_s),
                    reward=lpb.CampaignReward(bonus_points=DWELL_BONUS),
                    caps=lpb.Caps(per_member_per_day=1),
                    message=f"{DWELL_BONUS} points when you pick up nappies today",
                    start_time=to_timestamp(now - timedelta(minutes=1)),
                    end_time=to_timestamp(now + timedelta(days=1)),
                ),
                request_id=f"dwell-{self.run}",
            ),
            metadata=owner.auth,
        )
        return reward_id, created.campaign.campaign_id


async def open_floor(
    positioning: positioning_pb2_grpc.PositioningServiceAsyncStub, store_id: str, auth: Metadata, seed: int
) -> dict[str, tuple[str, int, int, tuple[float, float]]]:
    """A store's floor in positioning: the venue with its shelf, the zones, a beacon in each zone
    and the Wi-Fi survey; the beacons by zone."""
    beacons: dict[str, tuple[str, int, int, tuple[float, float]]] = {}

    def polygon(points: list[tuple[float, float]]) -> ppb.Polygon:
        return ppb.Polygon(vertices=[ppb.Point(x=x, y=y) for x, y in points])

    await positioning.UpsertVenue(
        ppb.UpsertVenueRequest(
            venue=ppb.Venue(
                store_id=store_id,
                floors=[ppb.Floor(floor=0, name="Ground", width_m=40, height_m=30, obstacles=[polygon(SHELF)])],
            )
        ),
        metadata=auth,
    )
    beacon_uuid = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{store_id}.beacons"))
    for minor, (zone_id, (area, brand, category, spot)) in enumerate(ZONES.items(), start=1):
        await positioning.UpsertZone(
            ppb.UpsertZoneRequest(
                zone=ppb.Zone(
                    store_id=store_id, zone_id=zone_id, name=zone_id, floor=0, area=polygon(area),
                    brand=brand, category=category, skus=[i[0] for i in ITEMS_BY_CATEGORY[category]],
                )
            ),
            metadata=auth,
        )  # fmt: skip
        await positioning.RegisterBeacon(
            ppb.RegisterBeaconRequest(
                beacon=ppb.Beacon(
                    store_id=store_id, uuid=beacon_uuid, major=1, minor=minor, floor=0,
                    position=ppb.Point(x=spot[0], y=spot[1]), measured_power_dbm=-59,
                )
            ),
            metadata=auth,
        )  # fmt: skip
        beacons[zone_id] = (beacon_uuid, 1, minor, spot)
    train = survey.generate(SITE, survey.Capture(grid_m=2.0, samples_per_point=1), seed=seed)
    requests = [
        ppb.ImportFingerprintsRequest(
            fingerprint=ppb.Fingerprint(
                store_id=store_id,
                floor=int(train.floor[i]),
                position=ppb.Point(x=float(train.x[i]), y=float(train.y[i])),
                wifi=wifi_readings(train.rssi[i]),
            )
        )
        for i in range(len(train))
    ]
    await positioning.ImportFingerprints(iter(requests), metadata=auth)
    return beacons


def wifi_readings(scan: np.ndarray) -> list[ppb.WifiReading]:
    return [
        ppb.WifiReading(bssid=f"02:00:00:00:{i // 256:02x}:{i % 256:02x}", rssi_dbm=float(v))
        for i, v in enumerate(scan)
        if not np.isnan(v)
    ]


def ble_readings(store: Store, x: float, y: float, rng: random.Random) -> list[ppb.BleReading]:
    """What a phone at (x, y) hears of the store's beacons: log-distance path loss with noise."""
    heard = []
    for beacon_uuid, major, minor, (bx, by) in store.beacons.values():
        distance = max(0.5, math.hypot(x - bx, y - by))
        rssi = -59 - 20 * math.log10(distance) + rng.gauss(0, 2)
        if rssi > -95:
            heard.append(ppb.BleReading(uuid=beacon_uuid, major=major, minor=minor, rssi_dbm=rssi))
    return heard
