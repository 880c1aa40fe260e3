"""Live RPCs: observations streamed in and fixes streamed back, one-shot fixes, navigation."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from o2o.positioning.v1 import positioning_pb2 as pb
from o2o_runtime.auth import Kind, current_principal
from o2o_runtime.errors import FailedPrecondition
from o2o_runtime.timeutil import utcnow
from o2o_runtime.validation import Violations

from o2o_positioning.api import mapping
from o2o_positioning.app.navigation import Destination, Navigation, Start
from o2o_positioning.app.tracking import NOTHING_HEARD, Tracking
from o2o_positioning.domain.access import check_observer

log = logging.getLogger("o2o.positioning")


class LiveApi:
    tracking: Tracking
    navigation: Navigation
    max_age: timedelta
    max_ahead: timedelta
    # Observations answered with no fix because nothing the store knows was heard.
    unheard: int = 0

    def _observation(self, message: pb.Observation, path: str) -> Any:
        v = Violations()
        found = mapping.observation(v, path, message, self.max_age, self.max_ahead)
        v.raise_if_any()
        check_observer(current_principal(), found.store_id, found.member_id)
        return found

    async def StreamObservations(
        self, request_iterator: AsyncIterator[pb.StreamObservationsRequest], context: Any
    ) -> AsyncIterator[pb.StreamObservationsResponse]:
        """Each observation is answered with its fix and the zone events it caused, in order. An
        observation that breaks the contract ends the stream with the error naming its field; one
        in which nothing of the store was heard is skipped (and counted)."""
        await context.send_initial_metadata(())
        async for item in request_iterator:
            if not item.HasField("observation"):
                Violations().add("observation", "is required").raise_if_any()
            observation = self._observation(item.observation, "observation")
            try:
                tracked = await self.tracking.observe(observation)
            except FailedPrecondition as problem:
                if problem.violation_type != NOTHING_HEARD:
                    raise
                LiveApi.unheard += 1
                continue
            yield pb.StreamObservationsResponse(
                fix=mapping.fix_pb(tracked.fix), zone_events=mapping.zone_events_pb(tracked.changes)
            )

    async def Locate(self, request: pb.LocateRequest, context: Any) -> pb.LocateResponse:
        if not request.HasField("observation"):
            Violations().add("observation", "is required").raise_if_any()
        fix = await self.tracking.locate(self._observation(request.observation, "observation"))
        return pb.LocateResponse(fix=mapping.fix_pb(fix))

    async def Navigate(self, request: pb.NavigateRequest, context: Any) -> pb.NavigateResponse:
        v = Violations()
        v.resource_id("store_id", request.store_id)
        origin = request.WhichOneof("from")
        target = request.WhichOneof("to")
        v.check(origin is not None, "device_id", "a start is required: device_id or position")
        v.check(target is not None, "zone_id", "a destination is required: zone_id, sku or category")
        if origin == "device_id":
            v.text("device_id", request.device_id, required=True, max_len=mapping.MAX_ID)
        elif origin == "position":
            p = request.position.position
            v.check(request.position.HasField("position"), "position.position", "is required")
            mapping.finite(v, "position.position", p.x, p.y)
            v.timestamp("position.fix_time", request.position, "fix_time")
        for name in ("zone_id", "sku", "category"):
            if target == name:
                v.text(name, getattr(request, name), required=True, max_len=100)
        v.raise_if_any()
        if origin == "device_id":
            principal = current_principal()
            salts = [utcnow().date().isoformat(), (utcnow() - timedelta(days=1)).date().isoformat()]
            if principal.kind is Kind.MEMBER:
                salts.insert(0, principal.subject)
            keys = [self.tracking.device_key(request.device_id, "", s) for s in salts]
            start = await self.navigation.start_of_device(request.store_id, keys)
        else:
            start = Start(request.position.floor, (request.position.position.x, request.position.position.y))
        destination = Destination(request.zone_id, request.sku, request.category)
        zone_id, route = await self.navigation.navigate(request.store_id, start, destination)
        return pb.NavigateResponse(
            zone_id=zone_id,
            floor=start.floor,
            path=[pb.Point(x=x, y=y) for x, y in route.path],
            distance_m=route.distance_m,
            heading_deg=route.heading_deg,
            steps=[
                pb.NavigationStep(
                    point=pb.Point(x=s.point[0], y=s.point[1]),
                    heading_deg=s.heading_deg,
                    distance_m=s.distance_m,
                    instruction=s.instruction,
                )
                for s in route.steps
            ],
        )


__all__ = ["LiveApi"]
