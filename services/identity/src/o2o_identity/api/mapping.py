"""Rows and read models to messages, and request parts every area shares."""

from __future__ import annotations

from typing import Any

from o2o.common.v1 import common_pb2
from o2o.identity.v1 import identity_pb2 as pb
from o2o_runtime.auth import Kind
from o2o_runtime.pagination import PageRequest
from o2o_runtime.wellknown import to_timestamp

from o2o_identity.app.staff import StaffView
from o2o_identity.domain.consent import Consent
from o2o_identity.domain.members import MemberCard
from o2o_identity.tables import AdvisorRow, ApiKeyRow, DeviceRow, FriendRow, MemberRow, PaymentAccountRow, StoreRow

PRINCIPAL_KINDS = {
    Kind.MEMBER: common_pb2.PRINCIPAL_KIND_MEMBER,
    Kind.STAFF: common_pb2.PRINCIPAL_KIND_STAFF,
    Kind.DEVICE: common_pb2.PRINCIPAL_KIND_DEVICE,
    Kind.PARTNER: common_pb2.PRINCIPAL_KIND_PARTNER,
    Kind.SERVICE: common_pb2.PRINCIPAL_KIND_SERVICE,
}


def page_of(request: Any, *filters: object) -> PageRequest:
    """The page a List request asks for, its token bound to the request's filters."""
    return PageRequest.parse(request.page_size, request.page_token, *filters)


def store_pb(row: StoreRow) -> pb.Store:
    return pb.Store(
        store_id=row.store_id,
        code=row.code,
        name=row.name,
        region=row.region,
        time_zone=row.time_zone,
        currency_code=row.currency_code,
        address=row.address,
        create_time=to_timestamp(row.created_at),
    )


def member_pb(member: MemberRow | MemberCard) -> pb.Member:
    return pb.Member(
        member_id=member.member_id,
        phone=member.phone or "",
        email=member.email,
        display_name=member.display_name,
        birth_year=member.birth_year,
        birth_month=member.birth_month,
        birth_day=member.birth_day,
        gender=member.gender,  # type: ignore[arg-type]
        income_band=member.income_band,  # type: ignore[arg-type]
        tags=member.tags,
        home_store_id=member.home_store_id,
        state=pb.MEMBER_STATE_ERASED if member.erased else pb.MEMBER_STATE_ACTIVE,
        create_time=to_timestamp(member.created_at),
        update_time=to_timestamp(member.updated_at),
    )


def payment_account_pb(row: PaymentAccountRow) -> pb.PaymentAccount:
    return pb.PaymentAccount(
        payment_account_id=row.payment_account_id,
        member_id=row.member_id,
        provider=row.provider,
        hint=row.hint,
        create_time=to_timestamp(row.created_at),
    )


def consent_pb(consent: Consent) -> pb.Consent:
    return pb.Consent(
        purpose=consent.purpose,  # type: ignore[arg-type]
        granted=consent.granted,
        update_time=to_timestamp(consent.updated_at),
    )


def staff_pb(view: StaffView) -> pb.Staff:
    return pb.Staff(
        staff_id=view.row.staff_id,
        login=view.row.login,
        display_name=view.row.display_name,
        role=view.row.role,  # type: ignore[arg-type]
        store_ids=view.store_ids,
        region=view.row.region,
        create_time=to_timestamp(view.row.created_at),
    )


def advisor_pb(row: AdvisorRow) -> pb.AdvisorBinding:
    return pb.AdvisorBinding(
        member_id=row.member_id,
        staff_id=row.staff_id,
        store_id=row.store_id,
        bind_time=to_timestamp(row.bound_at),
        bound_by=row.bound_by,
    )


def friend_pb(row: FriendRow) -> pb.FriendLink:
    return pb.FriendLink(
        member_id=row.member_id, friend_member_id=row.friend_member_id, create_time=to_timestamp(row.created_at)
    )


def api_key_pb(row: ApiKeyRow) -> pb.ApiKey:
    return pb.ApiKey(
        api_key_id=row.api_key_id,
        partner=row.partner,
        scopes=row.scopes,
        prefix=row.prefix,
        create_time=to_timestamp(row.created_at),
        revoke_time=to_timestamp(row.revoked_at),
    )


def device_pb(row: DeviceRow) -> pb.Device:
    return pb.Device(
        device_id=row.device_id,
        store_id=row.store_id,
        kind=row.kind,  # type: ignore[arg-type]
        display_name=row.display_name,
        create_time=to_timestamp(row.created_at),
    )
