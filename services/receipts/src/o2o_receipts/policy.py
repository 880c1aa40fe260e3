"""Who may call each receipts RPC, and on whose data: the one place it is declared.

Devices submit for their own store only. A member sees and claims their own receipts;
an associate sees the sales they served; managers their stores; the owner everything.
Finer scoping of lists and single receipts is applied by the use cases from the caller's
principal (domain.can_see and domain.list_scope).
"""

from __future__ import annotations

from o2o_runtime.auth import CHAIN_WIDE, MANAGERS, Policy, Relation, Role, device, member, partner, rule, service, staff

SERVICE_NAME = "o2o.receipts.v1.ReceiptsService"
ANY_STAFF = (Role.ASSOCIATE, *MANAGERS)

RULES = {
    # Ingestion: the POS data box of the store (a web POS signed in as staff of the store too).
    "SubmitTransaction": rule(device(), staff(ANY_STAFF), resource="store", key="transaction.store_id"),
    "UploadTransactions": rule(device(Relation.ANY)),
    # Reading: visibility of each receipt is decided against the caller in the use case.
    "GetReceipt": rule(member(Relation.ANY), staff(ANY_STAFF, Relation.ANY), device(Relation.ANY), service()),
    "ListReceipts": rule(
        member(Relation.ANY), staff(ANY_STAFF, Relation.ANY), device(Relation.ANY), partner("receipts:read")
    ),
    "ClaimReceipt": rule(member(Relation.ANY)),
    "GetReceiptDocument": rule(member(Relation.ANY), staff(ANY_STAFF, Relation.ANY), device(Relation.ANY)),
    # Returns at any store of the chain, by its staff or its POS.
    "RefundItems": rule(device(), staff(ANY_STAFF), resource="store", key="store_id"),
    # Commission: rules by chain-wide roles; a statement by the associate themself or managers.
    "SetCommissionRule": rule(staff(CHAIN_WIDE)),
    "GetCommissionStatement": rule(
        staff((Role.ASSOCIATE,), Relation.SELF), staff(MANAGERS), resource="staff", key="associate_id"
    ),
    # Store days: managers of the store (regional managers' tokens carry their region's stores).
    "GetStoreDayReport": rule(staff(MANAGERS), service(), resource="store", key="store_id"),
    "CloseStoreDay": rule(staff(MANAGERS), device(), resource="store", key="store_id"),
    # Attribution: the owner or an admin anywhere (chain-wide rules theirs alone, checked in
    # the use case), a regional manager for a store of their region; store managers, whose
    # stores the rates pay, may read the rules but not set them.
    "SetAttributionRule": rule(staff((Role.REGIONAL_MANAGER, *CHAIN_WIDE)), resource="store", key="rule.store_id"),
    "ListAttributionRules": rule(staff(MANAGERS, Relation.ANY)),
    # The settlement between stores: managers of the store, like its day report.
    "GetStoreSettlement": rule(staff(MANAGERS), service(), resource="store", key="store_id"),
}


def receipts_policy() -> Policy:
    return Policy(SERVICE_NAME, RULES)
