"""Recs' use cases."""

from dataclasses import dataclass

from o2o_recs.app.catalog import Catalog, CatalogEntry
from o2o_recs.app.models import Built, Models
from o2o_recs.app.profiles import Profile, Profiles
from o2o_recs.app.recommending import Answer, RecommendationQuery, Recommending


@dataclass(frozen=True)
class Recs:
    recommending: Recommending
    catalog: Catalog
    profiles: Profiles
    models: Models


__all__ = [
    "Answer",
    "Built",
    "Catalog",
    "CatalogEntry",
    "Models",
    "Profile",
    "Profiles",
    "RecommendationQuery",
    "Recommending",
    "Recs",
]
