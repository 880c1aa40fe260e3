"""The stores receipts are about, as identity knows them."""

from __future__ import annotations

from o2o_runtime.errors import InvalidArgument, NotFound
from o2o_runtime.identity_client import IdentityClient, StoreFacts


async def known_store(identity: IdentityClient, store_id: str) -> StoreFacts:
    """The store's facts. A store identity does not know is NOT_FOUND, with the store as the
    resource: the call names something that does not exist (the contract says 404)."""
    try:
        return await identity.store(store_id)
    except InvalidArgument:
        raise NotFound("store", store_id) from None
