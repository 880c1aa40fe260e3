"""What a store manager looks at after the day, written under one folder: each store's day
report with conversion from footfall, dwell per zone (a chart) and the floor's heatmap as PNG,
a member's points history, their recommendations with reasons, the offers sent, and an
associate's commission statement. Read back through the public RPCs, as the console does."""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from o2o.common.v1 import common_pb2
from o2o.loyalty.v1 import loyalty_pb2 as lpb
from o2o.positioning.v1 import positioning_pb2 as ppb
from o2o.receipts.v1 import receipts_pb2 as rpb
from o2o.recs.v1 import recs_pb2 as cpb
from o2o_runtime.money import format_minor
from o2o_runtime.timeutil import utcnow
from o2o_runtime.wellknown import to_timestamp
from PIL import Image, ImageDraw

from o2o_simulator.journal import Journal
from o2o_simulator.world import ZONES, Store, World


def _as_dict(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()


def save(folder: Path, files: dict[str, bytes]) -> list[Path]:
    """Writes what collect() gathered; the paths, in its order."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, body in files.items():
        path = folder / name
        path.write_bytes(body)
        written.append(path)
    return written


def dwell_chart(stats: ppb.GetZoneStatsResponse, title: str) -> bytes:
    """Mean and p90 dwell per zone as a bar chart (Pillow): what the console's floor page shows."""
    zones = list(stats.zones)
    width, height, left, bottom = 640, 360, 120, 40
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((10, 10), title, fill="black")
    longest = max([z.p90_dwell_seconds for z in zones] + [1.0])
    row = (height - bottom - 40) / max(1, len(zones))
    for i, zone in enumerate(zones):
        top = 40 + i * row
        span = width - left - 40
        draw.text((10, top + row / 3), f"{zone.zone_id} ({zone.visits})", fill="black")
        draw.rectangle((left, top + 4, left + span * zone.p90_dwell_seconds / longest, top + row / 2), fill="#9ecae1")
        draw.rectangle(
            (left, top + row / 2, left + span * zone.mean_dwell_seconds / longest, top + row - 4), fill="#3182bd"
        )
        draw.text((left + 4, top + row / 2), f"mean {zone.mean_dwell_seconds:.0f} s", fill="white")
    draw.text((left, height - bottom + 10), f"light: p90, dark: mean dwell (longest {longest:.0f} s)", fill="black")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def format_money(money: common_pb2.Money) -> str:
    return format_minor(money.amount_minor, money.currency_code) if money.currency_code else "0"


def _report_text(store: Store, report: rpb.StoreDayReport) -> str:
    conversion = (
        f"{report.footfall} visitors, {report.transactions} transactions: {report.conversion_rate:.0%} conversion"
        if report.footfall_known
        else f"{report.transactions} transactions (no footfall counted)"
    )
    lines = [
        f"Store {store.code} ({store.region}, {store.time_zone}), {report.business_date}"
        + (" - closed" if report.closed else ""),
        f"revenue {format_money(report.revenue)}, refunds {format_money(report.refunds)}, "
        f"net {format_money(report.net_revenue)}",
        conversion,
        f"average basket {format_money(report.average_basket)}, {report.items_per_basket:.1f} items",
        f"members: {report.new_members} new, {report.returning_members} returning, "
        f"{report.member_revenue_share:.0%} of revenue",
        "best sellers: " + ", ".join(f"{b.name or b.sku} x{b.units}" for b in report.best_sellers[:5]),
    ]
    return "\n".join(lines) + "\n"


async def collect(world: World, journal: Journal) -> dict[str, bytes]:
    """The files by name, in the order a manager would open them."""
    clients = world.clients
    files: dict[str, bytes] = {}
    end = utcnow() + timedelta(minutes=1)
    start = end - timedelta(days=1)
    for store in world.stores:
        auth = store.manager.auth
        dates = sorted({s.business_date for s in journal.sales if s.store_id == store.store_id and s.business_date})
        for business_date in dates:
            report = (
                await clients.receipts.GetStoreDayReport(
                    rpb.GetStoreDayReportRequest(store_id=store.store_id, business_date=business_date), metadata=auth
                )
            ).report
            files[f"{store.code}-report-{business_date}.json"] = _json(_as_dict(report))
            files[f"{store.code}-report-{business_date}.txt"] = _report_text(store, report).encode()
        since, until = to_timestamp(start), to_timestamp(end)
        stats = await clients.positioning.GetZoneStats(
            ppb.GetZoneStatsRequest(store_id=store.store_id, start_time=since, end_time=until), metadata=auth
        )
        files[f"{store.code}-dwell-per-zone.json"] = _json(_as_dict(stats))
        files[f"{store.code}-dwell-per-zone.png"] = dwell_chart(stats, f"Dwell per zone, store {store.code}")
        heatmap = await clients.positioning.GetHeatmap(
            ppb.GetHeatmapRequest(store_id=store.store_id, start_time=since, end_time=until, floor=0, cell_m=2.0),
            metadata=auth,
        )
        files[f"{store.code}-heatmap.png"] = heatmap.png
        statement = await clients.receipts.GetCommissionStatement(
            rpb.GetCommissionStatementRequest(
                associate_id=store.associate.subject, start_time=to_timestamp(start), end_time=to_timestamp(end)
            ),
            metadata=auth,
        )
        files[f"{store.code}-commission-statement.json"] = _json(_as_dict(statement))

    # The member who bought most often: their points history and what is recommended to them.
    counts = Counter(s.member_id for s in journal.sales if s.member_id)
    if counts:
        member_id = counts.most_common(1)[0][0]
        member = next(m for m in world.members if m.subject == member_id)
        ledger = await clients.loyalty.ListLedger(
            lpb.ListLedgerRequest(member_id=member_id, page_size=100), metadata=member.auth
        )
        account = await clients.loyalty.GetAccount(lpb.GetAccountRequest(member_id=member_id), metadata=member.auth)
        files["member-points-history.json"] = _json(
            {"account": _as_dict(account.account), "entries": [_as_dict(e) for e in ledger.entries]}
        )
        recommended = await clients.recs.GetRecommendations(
            cpb.GetRecommendationsRequest(member_id=member_id, store_id=member.home_store, limit=10),
            metadata=member.auth,
        )
        lines = [
            f"{r.item.sku:<10} {r.item.name:<20} {cpb.ReasonCode.Name(r.reason)}"
            + (f" (because of {r.because_sku})" if r.because_sku else "")
            for r in recommended.recommendations
        ]
        files["member-recommendations.txt"] = (
            f"Recommended to member {member_id}:\n" + "\n".join(lines) + "\n"
        ).encode()
    offers = []
    for member in world.members:
        listed = await clients.loyalty.ListOffers(
            lpb.ListOffersRequest(member_id=member.subject, page_size=100), metadata=member.auth
        )
        offers += [{**_as_dict(o), "member_consents": sorted(journal.consents[member.subject])} for o in listed.offers]
    files["offers-sent.json"] = _json(offers)
    summary = {
        "sales": len(journal.sales),
        "uploaded_late": sum(1 for s in journal.sales if s.uploaded),
        "claims": len(journal.claims),
        "redemptions": len(journal.redemptions),
        "returns": len(journal.refunds),
        "offers_seen_in_the_app": len(journal.offers),
        "observations": journal.observations,
        "visits": dict(journal.visits),
        "app_calls": dict(journal.app_calls),
        "retried": dict(journal.retried),
        "zones": list(ZONES),
    }
    files["day-summary.json"] = _json(summary)
    return files
