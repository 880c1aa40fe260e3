"""The gRPC layer of receipts: validates requests into commands, calls the use cases, maps
their values to messages. One servicer, composed of the areas' parts."""

from __future__ import annotations

from o2o_runtime.identity_client import IdentityClient

from o2o_receipts.api.attribution import AttributionApi
from o2o_receipts.api.claims import ClaimsApi
from o2o_receipts.api.commissions import CommissionsApi
from o2o_receipts.api.ingestion import IngestionApi
from o2o_receipts.api.reading import ReadingApi
from o2o_receipts.api.refunds import RefundsApi
from o2o_receipts.api.reports import ReportsApi
from o2o_receipts.app import Receipts
from o2o_receipts.settings import ReceiptsSettings


class ReceiptsApi(IngestionApi, ReadingApi, ClaimsApi, RefundsApi, CommissionsApi, ReportsApi, AttributionApi):
    def __init__(self, receipts: Receipts, identity: IdentityClient, settings: ReceiptsSettings) -> None:
        self.ingestion = receipts.ingestion
        self.reading = receipts.reading
        self.claims = receipts.claims
        self.refunds = receipts.refunds
        self.commissions = receipts.commissions
        self.reports = receipts.reports
        self.attribution = receipts.attribution
        self.identity = identity
        self.claim_url_base = settings.claim_url_base.rstrip("/")
        self.receipt_url_base = settings.receipt_url_base.rstrip("/")


__all__ = ["ReceiptsApi"]
