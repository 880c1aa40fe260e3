"""Referrals over gRPC."""

from __future__ import annotations

from typing import Any

from o2o.loyalty.v1 import loyalty_pb2 as pb
from o2o.loyalty.v1 import loyalty_pb2_grpc
from o2o_runtime.timeutil import utcnow
from o2o_runtime.validation import Violations
from o2o_runtime.wellknown import set_timestamp

from o2o_loyalty.api.accounts import member_of
from o2o_loyalty.app.referrals import Referrals, state_of
from o2o_loyalty.store import ReferralRow


def referral_pb(row: ReferralRow) -> pb.Referral:
    message = pb.Referral(
        referral_id=row.referral_id,
        code=row.code,
        inviter_member_id=row.inviter_member_id,
        invitee_member_id=row.invitee_member_id or "",
        state=int(state_of(row, utcnow())),  # type: ignore[arg-type]
        inviter_points=row.inviter_points,
        invitee_points=row.invitee_points,
    )
    set_timestamp(message.create_time, row.created_at)
    set_timestamp(message.expire_time, row.expire_at)
    return message


class ReferralsApi(loyalty_pb2_grpc.LoyaltyServiceServicer):
    referrals: Referrals

    async def CreateReferral(self, request: pb.CreateReferralRequest, context: Any) -> pb.CreateReferralResponse:
        return pb.CreateReferralResponse(
            referral=referral_pb(await self.referrals.create(member_of(request.member_id)))
        )

    async def AcceptReferral(self, request: pb.AcceptReferralRequest, context: Any) -> pb.AcceptReferralResponse:
        v = Violations()
        v.text("code", request.code, required=True, max_len=16)
        v.resource_id("member_id", request.member_id)
        v.raise_if_any()
        return pb.AcceptReferralResponse(
            referral=referral_pb(await self.referrals.accept(request.code, request.member_id))
        )
