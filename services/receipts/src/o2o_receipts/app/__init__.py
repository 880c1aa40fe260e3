"""Receipts' use cases, by area; each is one unit of work with no network call inside it."""

from __future__ import annotations

from dataclasses import dataclass

from o2o_receipts.app.attribution import Attribution
from o2o_receipts.app.claims import Claims
from o2o_receipts.app.commissions import Commissions
from o2o_receipts.app.ingestion import Ingestion, Submitted
from o2o_receipts.app.reading import Reading, ReceiptFilters
from o2o_receipts.app.refunds import Refunds
from o2o_receipts.app.reports import Reports


@dataclass(frozen=True)
class Receipts:
    """Every area of the service, wired once (main.py) and handed to the gRPC layer."""

    ingestion: Ingestion
    reading: Reading
    claims: Claims
    refunds: Refunds
    commissions: Commissions
    reports: Reports
    attribution: Attribution


__all__ = [
    "Attribution",
    "Claims",
    "Commissions",
    "Ingestion",
    "Reading",
    "ReceiptFilters",
    "Receipts",
    "Refunds",
    "Reports",
    "Submitted",
]
