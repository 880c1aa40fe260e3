"""What a careful client does beyond the OpenAPI document: rules between fields that no JSON Schema
keyword states (a sale's total is what its lines add up to), and references to resources that
exist (a store the platform knows). The schemathesis run applies them to the requests it means to
be valid, the way a partner SDK would before sending; requests meant to be invalid are left alone.

Each rule is the platform's own, as its service checks it (services/*/src/*/api.py, domain.py)."""

from __future__ import annotations

import calendar
import datetime
import re
from collections.abc import Callable
from typing import Any

_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_STORE_KEYS = {"storeId", "store_id", "homeStoreId"}
_UPDATABLE = (
    "phone",
    "email",
    "displayName",
    "birthYear",
    "birthMonth",
    "birthDay",
    "gender",
    "incomeBand",
    "tags",
    "homeStoreId",
)


class Known:
    """Resources the harness made, for references in requests."""

    def __init__(self, store_id: str, currency: str) -> None:
        self.store_id = store_id
        self.currency = currency


def apply(operation_id: str, path: dict[str, Any], query: dict[str, Any], body: Any, known: Known) -> None:
    """Makes a generated valid request valid across fields too, in place."""
    for values in (path, query):
        _stores(values, known)
    if isinstance(body, dict):
        _stores(body, known)
    rule = _RULES.get(operation_id)
    if rule is not None:
        rule(path, query, body, known)


def _stores(value: Any, known: Known) -> None:
    """Store ids in a request name the harness's store (a random id names none)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _STORE_KEYS and isinstance(item, str) and _ID.match(item):
                value[key] = known.store_id
            elif key in {"storeIds", "store_ids"} and isinstance(item, list):
                value[key] = [known.store_id] if item else []
            else:
                _stores(item, known)
    elif isinstance(value, list):
        for item in value:
            _stores(item, known)


def _birth_date(member: dict[str, Any]) -> None:
    """A birth day needs its month, and is a day of that month."""
    day, month, year = (_minor(member.get(name), 0, 9999) for name in ("birthDay", "birthMonth", "birthYear"))
    if day:
        if not month:
            member["birthMonth"] = month = 1
        if 1 <= month <= 12:
            member["birthDay"] = min(day, calendar.monthrange(year if year >= 1900 else 2000, month)[1])


def _register_member(path: dict[str, Any], query: dict[str, Any], body: Any, known: Known) -> None:
    if isinstance(body, dict) and isinstance(body.get("member"), dict):
        _birth_date(body["member"])


def _update_member(path: dict[str, Any], query: dict[str, Any], body: Any, known: Known) -> None:
    """The mask names the fields the body replaces."""
    if not isinstance(body, dict):
        return
    # A member keeps a phone number: it is replaced, never removed.
    masked = [name for name in _UPDATABLE if name in body and (name != "phone" or body[name])]
    if not masked:
        body["displayName"] = "Li Na"
        masked = ["displayName"]
    query["updateMask"] = ",".join(masked)


def _create_staff(path: dict[str, Any], query: dict[str, Any], body: Any, known: Known) -> None:
    """A regional manager has a region; an associate or store manager works in a store."""
    staff = body.get("staff") if isinstance(body, dict) else None
    if not isinstance(staff, dict):
        return
    role = staff.get("role")
    if role == "STAFF_ROLE_REGIONAL_MANAGER" and not staff.get("region"):
        staff["region"] = "east"
    if role in ("STAFF_ROLE_ASSOCIATE", "STAFF_ROLE_STORE_MANAGER"):
        staff["storeIds"] = [known.store_id]


def _commission_rule(path: dict[str, Any], query: dict[str, Any], body: Any, known: Known) -> None:
    """The default rule has no key; a category or brand rule names one."""
    if not isinstance(body, dict):
        return
    if body.get("scope") == "COMMISSION_SCOPE_DEFAULT":
        body["key"] = ""
    elif not body.get("key"):
        body["key"] = "shoes"


_CHANNELS = ("CHANNEL_IN_STORE", "CHANNEL_ONLINE_PICKUP", "CHANNEL_ONLINE_DELIVERY")
_MAX_WINDOW_S = 3 * 366 * 86_400


def _attribution_rule(path: dict[str, Any], query: dict[str, Any], body: Any, known: Known) -> None:
    """A category or brand rule names its key, a channel rule its channel (no other rule
    either); the window is at least a second and at most three years; a rule expires after it
    takes effect."""
    if not isinstance(body, dict):
        return
    scope = body.get("scope")
    if scope in ("ATTRIBUTION_SCOPE_CATEGORY", "ATTRIBUTION_SCOPE_BRAND"):
        body["key"] = body.get("key") or "shoes"
    else:
        body["key"] = ""
    if scope == "ATTRIBUTION_SCOPE_CHANNEL":
        if body.get("channel") not in _CHANNELS:
            body["channel"] = "CHANNEL_ONLINE_DELIVERY"
    else:
        body.pop("channel", None)
    window = body.get("window")
    try:
        seconds = float(str(window).removesuffix("s"))
    except ValueError:
        seconds = 0.0
    if not 1 <= seconds <= _MAX_WINDOW_S:
        body["window"] = "86400s"
    effective, expires = body.get("effectiveTime"), body.get("expireTime")
    if isinstance(effective, str) and isinstance(expires, str):
        begin = datetime.datetime.fromisoformat(effective.replace("Z", "+00:00"))
        end = datetime.datetime.fromisoformat(expires.replace("Z", "+00:00"))
        if end <= begin:
            body.pop("expireTime")


def _json_time(moment: datetime.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _now(days: int = 0) -> str:
    return _json_time(datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=days))


def _period(path: dict[str, Any], query: dict[str, Any], body: Any, known: Known) -> None:
    """A period ends after it starts, within a year."""
    start, end = query.get("startTime"), query.get("endTime")
    if isinstance(start, str) and isinstance(end, str):
        begin = datetime.datetime.fromisoformat(start.replace("Z", "+00:00"))
        query["endTime"] = _json_time(begin + datetime.timedelta(days=1))


def _transaction(path: dict[str, Any], query: dict[str, Any], body: Any, known: Known) -> None:
    """A sale in the store's currency, now, whose lines, total and payments agree."""
    if not isinstance(body, dict):
        return
    body["currencyCode"] = known.currency
    body["occurredTime"] = _now()
    lines = [line for line in body.get("lines", []) if isinstance(line, dict)] or [{"sku": "A-1", "quantity": 1}]
    total = 0
    for number, line in enumerate(lines, 1):
        line["lineNumber"] = number
        quantity = _minor(line.get("quantity"), 1, 10_000)
        line["quantity"] = quantity
        amount = _minor(_amount(line.get("unitPrice")), 1, 100_000_000)
        line["unitPrice"] = {"amountMinor": str(amount), "currencyCode": known.currency}
        # A discount leaves something to pay: a sale is paid for with positive amounts.
        off = min(_minor(_amount(line.get("discount")), 0, amount * quantity), amount * quantity - 1)
        if "discount" in line:
            line["discount"] = {"amountMinor": str(off), "currencyCode": known.currency}
        total += amount * quantity - off
    body["lines"] = lines
    payments = [p for p in body.get("payments", []) if isinstance(p, dict)][:1] or [{"method": "PAYMENT_METHOD_CASH"}]
    payment = payments[0]
    payment["amount"] = {"amountMinor": str(total), "currencyCode": known.currency}
    if payment.get("accountToken") and not payment.get("provider"):
        payment["provider"] = "alipay"
    body["payments"] = [payment]
    body["total"] = {"amountMinor": str(total), "currencyCode": known.currency}


def _refund(path: dict[str, Any], query: dict[str, Any], body: Any, known: Known) -> None:
    """A refund of the sale's first unit, from the store that sold it: asked again under the same
    register and number, it is the same refund."""
    if not isinstance(body, dict):
        return
    receipt = str(path.get("receipt_id", ""))
    body["lines"] = [{"lineNumber": 1, "quantity": 1}]
    body["registerId"] = "R1"
    body["posTransactionNumber"] = "RF-" + receipt[-12:]


def _catalog_items(path: dict[str, Any], query: dict[str, Any], body: Any, known: Known) -> None:
    """Catalog prices are amounts of a currency, never negative."""
    if not isinstance(body, dict):
        return
    for item in body.get("items") or []:
        if isinstance(item, dict) and isinstance(item.get("price"), dict):
            item["price"] = {
                "amountMinor": str(_minor(_amount(item["price"]), 0, 100_000_000)),
                "currencyCode": known.currency,
            }


def _amount(money: Any) -> Any:
    return money.get("amountMinor") if isinstance(money, dict) else None


def _clamped(value: Any, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return low
    return max(low, min(high, number))


def _minor(value: Any, low: int, high: int) -> int:
    return int(_clamped(value, low, high))


# ---- loyalty ------------------------------------------------------------------------------

_DAY_S = "86400s"


def _int64(value: Any, low: int, high: int) -> str:
    """An int64 as JSON writes it (a string), within bounds."""
    return str(_minor(value, low, high))


def _adjust(path: dict[str, Any], query: dict[str, Any], body: Any, known: Known) -> None:
    """An adjustment moves points (never zero)."""
    if isinstance(body, dict):
        body["points"] = _int64(body.get("points"), 1, 1_000_000_000)


def _earn_rules(path: dict[str, Any], query: dict[str, Any], body: Any, known: Known) -> None:
    """Rates per known currency; multipliers with ids of their own and windows that end after
    they start; points that become available before they expire."""
    rules = body.get("rules") if isinstance(body, dict) else None
    if not isinstance(rules, dict):
        return
    rates = rules.get("pointsPerUnit")
    if isinstance(rates, dict):
        rules["pointsPerUnit"] = {known.currency: _minor(next(iter(rates.values()), 1), 0, 1_000_000)} if rates else {}
    for index, multiplier in enumerate(m for m in rules.get("multipliers", []) if isinstance(m, dict)):
        multiplier["multiplierId"] = f"m{index}"
        if "startTime" in multiplier or "endTime" in multiplier:
            multiplier["startTime"], multiplier["endTime"] = _now(), _now(1)
    rules["pendingPeriod"] = _DAY_S
    rules["expiryPeriod"] = "31536000s"


def _tiers(path: dict[str, Any], query: dict[str, Any], body: Any, known: Known) -> None:
    """A ladder: ids of their own, in one currency, each tier reached at a spend of its own."""
    tiers = body.get("tiers") if isinstance(body, dict) else None
    if not isinstance(tiers, list):
        return
    for index, tier in enumerate(t for t in tiers if isinstance(t, dict)):
        tier["tierId"] = f"tier-{index}"
        tier["qualifyingSpend"] = {"amountMinor": str(index * 100_000), "currencyCode": known.currency}


def _reward(path: dict[str, Any], query: dict[str, Any], body: Any, known: Known) -> None:
    """What the coupon gives matches its kind; it lives at least a minute."""
    if not isinstance(body, dict):
        return
    kind = body.get("couponKind")
    body["pointsCost"] = _int64(body.get("pointsCost"), 1, 1_000_000_000)
    body["stock"] = _int64(body.get("stock"), -1, 1_000_000)
    body["couponValidity"] = _DAY_S
    body.pop("amountOff", None)
    body["percentOffBp"], body["freeSku"] = 0, ""
    if kind == "COUPON_KIND_AMOUNT_OFF":
        body["amountOff"] = {"amountMinor": "100", "currencyCode": known.currency}
    elif kind == "COUPON_KIND_PERCENT_OFF":
        body["percentOffBp"] = 1000
    elif kind == "COUPON_KIND_FREE_ITEM":
        body["freeSku"] = "SKU-1"


def _campaign(path: dict[str, Any], query: dict[str, Any], body: Any, known: Known) -> None:
    """A window that ends after it starts; what the trigger needs (a dwell names its stores and
    a positive dwell; only purchases have a minimum spend or multiply); quiet hours kept in a
    store's time zone; an age range that is one."""
    if not isinstance(body, dict):
        return
    campaign: dict[str, Any] = body
    campaign["startTime"], campaign["endTime"] = _now(), _now(1)
    found = campaign.get("trigger")
    trigger: dict[str, Any] = found if isinstance(found, dict) else {}
    campaign["trigger"] = trigger
    kind = trigger.get("kind")
    found = campaign.get("place")
    place: dict[str, Any] = found if isinstance(found, dict) else {}
    campaign["place"] = place
    if kind == "TRIGGER_KIND_ZONE_DWELL":
        trigger["minDwellSeconds"] = _minor(trigger.get("minDwellSeconds"), 1, 14_400)
        place["storeIds"] = [known.store_id]
    else:
        trigger["minDwellSeconds"] = 0
    if kind == "TRIGGER_KIND_PURCHASE" and isinstance(trigger.get("minSpend"), dict):
        trigger["minSpend"] = {
            "amountMinor": _int64(_amount(trigger["minSpend"]), 0, 10**9),
            "currencyCode": known.currency,
        }
    else:
        trigger.pop("minSpend", None)
    reward = campaign.get("reward")
    if not isinstance(reward, dict) or (kind != "TRIGGER_KIND_PURCHASE" and "multiplierMilli" in reward):
        campaign["reward"] = {"bonusPoints": "10"}
    elif "bonusPoints" in reward:
        reward["bonusPoints"] = _int64(reward["bonusPoints"], 1, 1_000_000_000)
    quiet = campaign.get("quietHours")
    if isinstance(quiet, dict) and quiet.get("startHour", 0) != quiet.get("endHour", 0):
        place["storeIds"] = [known.store_id]
    caps = campaign.get("caps")
    if isinstance(caps, dict) and "totalBudget" in caps:
        caps["totalBudget"] = _int64(caps["totalBudget"], 0, 10**9)
    segment = campaign.get("segment")
    if isinstance(segment, dict):
        low, high = _minor(segment.get("minAge"), 0, 150), _minor(segment.get("maxAge"), 0, 150)
        if low and high and high < low:
            segment["minAge"], segment["maxAge"] = high, low


# Positioning: a venue of two floors, 40 m x 30 m, and everything placed on its ground floor, so
# that geometry (polygons simple and on a floor of the venue) holds as the service checks it.
_FLOORS = [{"floor": 0, "widthM": 40, "heightM": 30}, {"floor": 1, "widthM": 40, "heightM": 30}]
_SQUARE = {"vertices": [{"x": 2, "y": 2}, {"x": 8, "y": 2}, {"x": 8, "y": 8}, {"x": 2, "y": 8}]}


def _venue(path: dict[str, Any], query: dict[str, Any], body: Any, known: Known) -> None:
    if isinstance(body, dict):
        body["floors"] = [dict(floor) for floor in _FLOORS]


def _on_the_ground_floor(path: dict[str, Any], query: dict[str, Any], body: Any, known: Known) -> None:
    """Placed on the venue's ground floor; a beacon's measured power is a radio's (-100..0 dBm)."""
    if not isinstance(body, dict):
        return
    body["floor"] = 0
    if "measuredPowerDbm" in body:
        body["measuredPowerDbm"] = _clamped(body["measuredPowerDbm"], -100, 0)
    if "area" in body or "zoneId" in body:
        body["area"] = dict(_SQUARE)
    if "position" in body or "uuid" in body:
        body["position"] = {"x": 5, "y": 5}


def _observed_now(path: dict[str, Any], query: dict[str, Any], body: Any, known: Known) -> None:
    """Observed now, with signal strengths a radio reports (-120..0 dBm)."""
    if not isinstance(body, dict):
        return
    body["observeTime"] = _now()
    for name in ("wifi", "ble"):
        for reading in body.get(name) or []:
            if isinstance(reading, dict) and "rssiDbm" in reading:
                reading["rssiDbm"] = _clamped(reading["rssiDbm"], -120, 0)


def _heatmap(path: dict[str, Any], query: dict[str, Any], body: Any, known: Known) -> None:
    path["floor"] = 0
    if "cellM" in query:
        query["cellM"] = _clamped(query["cellM"], 1, 100)
    _period(path, query, body, known)


def _navigate(path: dict[str, Any], query: dict[str, Any], body: Any, known: Known) -> None:
    """A start and a destination that say something: a oneof member set is a value given."""
    if not isinstance(body, dict):
        return
    if isinstance(body.get("position"), dict):
        body["position"]["floor"] = 0
        body["position"]["position"] = {"x": 5, "y": 20}
    for name, value in (("deviceId", "phone-1"), ("zoneId", "baby-aisle"), ("sku", "SKU-1"), ("category", "baby")):
        if name in body and not body[name]:
            body[name] = value


_RULES: dict[str, Callable[[dict[str, Any], dict[str, Any], Any, Known], None]] = {
    "PositioningService_UpsertVenue": _venue,
    "PositioningService_UpsertZone": _on_the_ground_floor,
    "PositioningService_RegisterBeacon": _on_the_ground_floor,
    "PositioningService_RegisterAccessPoint": _on_the_ground_floor,
    "PositioningService_Locate": _observed_now,
    "PositioningService_GetZoneStats": _period,
    "PositioningService_GetTransitions": _period,
    "PositioningService_GetHeatmap": _heatmap,
    "PositioningService_GetFootfall": _period,
    "PositioningService_Navigate": _navigate,
    "LoyaltyService_AdjustPoints": _adjust,
    "LoyaltyService_SetEarnRules": _earn_rules,
    "LoyaltyService_SetTiers": _tiers,
    "LoyaltyService_UpsertReward": _reward,
    "LoyaltyService_CreateCampaign": _campaign,
    "RecsService_UpsertCatalogItems": _catalog_items,
    "IdentityService_RegisterMember": _register_member,
    "IdentityService_UpdateMember": _update_member,
    "IdentityService_CreateStaff": _create_staff,
    "ReceiptsService_SetCommissionRule": _commission_rule,
    "ReceiptsService_GetCommissionStatement": _period,
    "ReceiptsService_ListReceipts": _period,
    "ReceiptsService_ListReceipts_v1_members_member_id_receipts": _period,
    "ReceiptsService_SubmitTransaction": _transaction,
    "ReceiptsService_RefundItems": _refund,
    "ReceiptsService_SetAttributionRule": _attribution_rule,
    "ReceiptsService_GetStoreSettlement": _period,
}
