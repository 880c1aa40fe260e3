"""Erasure: a member's receipts stay for the books, unlinked from the person; per-member
aggregates go."""

from __future__ import annotations

from o2o.events.v1 import envelope_pb2, identity_events_pb2
from o2o_runtime.uow import UnitOfWork

from o2o_receipts.store import Repository


async def forget_member(
    uow: UnitOfWork[Repository], event: identity_events_pb2.MemberErased, envelope: envelope_pb2.Envelope
) -> None:
    await uow.repo.forget_member(event.member_id)
