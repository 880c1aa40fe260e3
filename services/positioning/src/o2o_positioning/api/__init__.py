"""The gRPC layer of positioning: validates requests into commands, calls the use cases, maps
their values to messages. One servicer, composed of the areas' parts."""

from __future__ import annotations

from datetime import timedelta

from o2o.positioning.v1 import positioning_pb2_grpc
from o2o_runtime.identity_client import IdentityClient

from o2o_positioning.api.live import LiveApi
from o2o_positioning.api.reports import ReportsApi
from o2o_positioning.api.venues import VenuesApi
from o2o_positioning.app import Positioning
from o2o_positioning.settings import PositioningSettings


class PositioningApi(VenuesApi, LiveApi, ReportsApi, positioning_pb2_grpc.PositioningServiceServicer):
    def __init__(self, positioning: Positioning, identity: IdentityClient, settings: PositioningSettings) -> None:
        self.venues = positioning.venues
        self.tracking = positioning.tracking
        self.navigation = positioning.navigation
        self.analytics = positioning.analytics
        self.identity = identity
        self.max_age = timedelta(seconds=settings.max_observation_age_s)
        self.max_ahead = timedelta(seconds=settings.max_observation_ahead_s)


__all__ = ["PositioningApi"]
