"""Where a device is among a store's zones, over time: entry and exit with hysteresis, the
dwell clock, dwell thresholds crossed while still in the zone, and the visit.

Hysteresis is both spatial and temporal: a device leaves its zone only once it is further
than EXIT_MARGIN_M outside the zone's boundary, and any change (entering, leaving, moving to
another zone) must be seen on CONFIRM_FIXES fixes in a row. A fix jittering across a boundary
therefore never flaps between in and out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from o2o_positioning.domain.geometry import Point, within
from o2o_positioning.domain.venue import Zone

EXIT_MARGIN_M = 1.5
CONFIRM_FIXES = 2
# A device silent this long has left the store: its visit ends.
VISIT_TIMEOUT = timedelta(minutes=10)


@dataclass(frozen=True)
class Presence:
    zone_id: str = ""
    entered_at: datetime | None = None
    candidate: str = ""
    candidate_since: datetime | None = None
    candidate_fixes: int = 0
    # Dwell thresholds (seconds) already reported in this stay.
    reached: tuple[int, ...] = ()
    visit_started_at: datetime | None = None
    visit_zones: tuple[str, ...] = ()
    last_seen_at: datetime | None = None


@dataclass(frozen=True)
class Entered:
    zone_id: str
    at: datetime
    # The zone the device came from in this visit, for transitions ("" when none).
    came_from: str


@dataclass(frozen=True)
class Exited:
    zone_id: str
    entered_at: datetime
    at: datetime

    @property
    def dwell_seconds(self) -> float:
        return max((self.at - self.entered_at).total_seconds(), 0.0)


@dataclass(frozen=True)
class DwellReached:
    zone_id: str
    entered_at: datetime
    at: datetime
    threshold_s: int

    @property
    def dwell_seconds(self) -> float:
        return max((self.at - self.entered_at).total_seconds(), 0.0)


@dataclass(frozen=True)
class VisitClosed:
    started_at: datetime
    ended_at: datetime
    zone_ids: tuple[str, ...]


Change = Entered | Exited | DwellReached | VisitClosed
Thresholds = Callable[[str], Sequence[int]]


def zone_at(zones: Sequence[Zone], point: Point) -> str:
    """The zone holding the point ("" when none); the smallest one when zones overlap."""
    holding = [z for z in zones if z.holds(point)]
    if not holding:
        return ""
    return min(holding, key=lambda z: abs(_area(z))).zone_id


def _area(zone: Zone) -> float:
    from o2o_positioning.domain.geometry import area

    return area(zone.area)


def end_visit(presence: Presence) -> tuple[Presence, list[Change]]:
    """Closes the visit at the last fix seen (exit from the zone, then the visit)."""
    changes: list[Change] = []
    last = presence.last_seen_at
    if last is None or presence.visit_started_at is None:
        return Presence(), changes
    if presence.zone_id and presence.entered_at is not None:
        changes.append(Exited(presence.zone_id, presence.entered_at, last))
    changes.append(VisitClosed(presence.visit_started_at, last, presence.visit_zones))
    return Presence(), changes


def observe(
    presence: Presence,
    zones: Sequence[Zone],
    point: Point,
    at: datetime,
    thresholds: Thresholds,
    visit_timeout: timedelta = VISIT_TIMEOUT,
) -> tuple[Presence, list[Change]]:
    """The presence after one fix on the zones of its floor."""
    changes: list[Change] = []
    if presence.last_seen_at is not None and at < presence.last_seen_at:
        # Late fixes never move the clock backwards.
        return presence, changes
    if presence.last_seen_at is not None and at - presence.last_seen_at > visit_timeout:
        presence, changes = end_visit(presence)
    if presence.visit_started_at is None:
        presence = replace(presence, visit_started_at=at)
    presence = replace(presence, last_seen_at=at)
    by_id = {z.zone_id: z for z in zones}
    current = by_id.get(presence.zone_id)
    if current is not None and within(current.area, point, EXIT_MARGIN_M):
        seen = presence.zone_id
    else:
        seen = zone_at(zones, point)
    if seen == presence.zone_id:
        presence = replace(presence, candidate="", candidate_since=None, candidate_fixes=0)
    elif presence.candidate_fixes and seen == presence.candidate:
        presence = replace(presence, candidate_fixes=presence.candidate_fixes + 1)
    else:
        presence = replace(presence, candidate=seen, candidate_since=at, candidate_fixes=1)
    if presence.candidate_fixes >= CONFIRM_FIXES:
        since = presence.candidate_since or at
        came_from = presence.zone_id or (presence.visit_zones[-1] if presence.visit_zones else "")
        if presence.zone_id and presence.entered_at is not None:
            changes.append(Exited(presence.zone_id, presence.entered_at, since))
        if presence.candidate:
            changes.append(Entered(presence.candidate, since, came_from))
            presence = replace(
                presence,
                zone_id=presence.candidate,
                entered_at=since,
                reached=(),
                visit_zones=(*presence.visit_zones, presence.candidate),
            )
        else:
            presence = replace(presence, zone_id="", entered_at=None, reached=())
        presence = replace(presence, candidate="", candidate_since=None, candidate_fixes=0)
    if presence.zone_id and presence.entered_at is not None:
        dwell = (at - presence.entered_at).total_seconds()
        due = sorted({t for t in thresholds(presence.zone_id) if t <= dwell and t not in presence.reached})
        for threshold in due:
            changes.append(DwellReached(presence.zone_id, presence.entered_at, at, threshold))
        if due:
            presence = replace(presence, reached=tuple(sorted({*presence.reached, *due})))
    return presence, changes
