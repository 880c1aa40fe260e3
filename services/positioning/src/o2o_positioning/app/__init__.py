"""Positioning's use cases, by area; each write is one unit of work with no network call inside it."""

from __future__ import annotations

from dataclasses import dataclass

from o2o_positioning.app.analytics import Analytics
from o2o_positioning.app.models import Models
from o2o_positioning.app.navigation import Navigation
from o2o_positioning.app.tracking import Tracking
from o2o_positioning.app.venues import Venues


@dataclass(frozen=True)
class Positioning:
    """Every area of the service, wired once (main.py) and handed to the gRPC layer."""

    models: Models
    venues: Venues
    tracking: Tracking
    analytics: Analytics
    navigation: Navigation


__all__ = ["Analytics", "Models", "Navigation", "Positioning", "Tracking", "Venues"]
