"""Members over gRPC: registration, profile, erasure, payment accounts and consent."""

from __future__ import annotations

from typing import Any

from o2o.common.v1 import common_pb2
from o2o.identity.v1 import identity_pb2 as pb
from o2o_runtime.auth import current_principal
from o2o_runtime.errors import InvalidArgument
from o2o_runtime.timeutil import utcnow
from o2o_runtime.validation import Violations
from o2o_runtime.wellknown import to_timestamp

from o2o_identity.api.mapping import consent_pb, member_pb, page_of, payment_account_pb
from o2o_identity.app.consent import Consents
from o2o_identity.app.erasure import Erasure
from o2o_identity.app.members import Members, PaymentAccounts
from o2o_identity.domain import credentials, members
from o2o_identity.domain.consent import ConsentChange
from o2o_identity.domain.credentials import PaymentAccount
from o2o_identity.domain.members import MemberChanges, MemberProfile, NewMember
from o2o_identity.domain.stores import default_home_store

PURPOSES = frozenset(common_pb2.ConsentPurpose.values()) - {0}
GENDERS = frozenset(common_pb2.Gender.values())
INCOME_BANDS = frozenset(common_pb2.IncomeBand.values())


def _profile(v: Violations, member: pb.Member, prefix: str, only: frozenset[str] | None = None) -> dict[str, Any]:
    """Validated profile values of the fields named in only (all when None)."""

    def wanted(name: str) -> bool:
        return only is None or name in only

    values: dict[str, Any] = {}
    if wanted("phone"):
        phone = members.normalize_phone(member.phone) if member.phone else None
        if not member.phone:
            v.add(f"{prefix}.phone", "is required")
        elif phone is None:
            v.add(f"{prefix}.phone", "must be a valid mobile number in international form, e.g. +8613800138000")
        values["phone"] = phone or ""
    if wanted("email"):
        if member.email and not members.valid_email(member.email):
            v.add(f"{prefix}.email", "must be a valid e-mail address")
        values["email"] = member.email.lower()
    if wanted("display_name"):
        v.text(f"{prefix}.display_name", member.display_name, max_len=100)
        values["display_name"] = member.display_name
    for name in ("birth_year", "birth_month", "birth_day"):
        if wanted(name):
            values[name] = getattr(member, name)
    if only is None:
        problem = members.birth_date_problem(member.birth_year, member.birth_month, member.birth_day, utcnow())
        if problem:
            v.add(f"{prefix}.{problem[0]}", problem[1])
    if wanted("gender"):
        v.enum(f"{prefix}.gender", member.gender, GENDERS, required=False)
        values["gender"] = int(member.gender)
    if wanted("income_band"):
        v.enum(f"{prefix}.income_band", member.income_band, INCOME_BANDS, required=False)
        values["income_band"] = int(member.income_band)
    if wanted("tags"):
        if len(member.tags) > members.MAX_TAGS:
            v.add(f"{prefix}.tags", f"must hold at most {members.MAX_TAGS} tags")
        for index, tag in enumerate(member.tags):
            v.check(
                bool(members.MEMBER_TAG.match(tag)),
                f"{prefix}.tags[{index}]",
                "must be lower-case letters, digits, - or _",
            )
        values["tags"] = tuple(sorted(set(member.tags)))
    if wanted("home_store_id"):
        v.resource_id(f"{prefix}.home_store_id", member.home_store_id, required=False)
        values["home_store_id"] = member.home_store_id
    return values


def _payment_account(v: Violations, provider: str, token: str) -> PaymentAccount:
    v.check(bool(credentials.PROVIDER.match(provider)), "provider", "is required: 2-32 lower-case letters, digits or _")
    shortest, longest = credentials.MIN_ACCOUNT_TOKEN_LENGTH, credentials.MAX_ACCOUNT_TOKEN_LENGTH
    v.check(
        shortest <= len(token) <= longest and token.isprintable(),
        "account_token",
        f"must be {shortest} to {longest} printable characters",
    )
    return PaymentAccount(provider, token)


class MembersApi:
    members: Members
    payment_accounts: PaymentAccounts
    consents: Consents
    erasure: Erasure

    async def RegisterMember(self, request: pb.RegisterMemberRequest, context: Any) -> pb.RegisterMemberResponse:
        v = Violations()
        if not request.HasField("member"):
            raise InvalidArgument.field("member", "is required")
        values = _profile(v, request.member, "member")
        if not values["home_store_id"]:
            home = default_home_store(current_principal())
            if home is None:
                v.add("member.home_store_id", "is required for staff working in several stores")
            values["home_store_id"] = home or ""
        # Checked before removing repeats, so a violation names the request's own index.
        for index, purpose in enumerate(request.consents):
            v.enum(f"consents[{index}]", purpose, PURPOSES)
        consents = tuple(dict.fromkeys(request.consents))
        v.raise_if_any()
        row = await self.members.register(NewMember(MemberProfile(**values), consents))
        return pb.RegisterMemberResponse(member=member_pb(row))

    async def GetMember(self, request: pb.GetMemberRequest, context: Any) -> pb.GetMemberResponse:
        v = Violations()
        v.resource_id("member_id", request.member_id)
        v.raise_if_any()
        return pb.GetMemberResponse(member=member_pb(await self.members.get(request.member_id)))

    async def ListMembers(self, request: pb.ListMembersRequest, context: Any) -> pb.ListMembersResponse:
        v = Violations()
        phone = members.normalize_phone(request.phone) if request.phone else None
        if not request.phone:
            v.add("phone", "is required")
        elif phone is None:
            v.add("phone", "must be a valid mobile number in international form, e.g. +8613800138000")
        v.raise_if_any()
        assert phone is not None
        page = await self.members.find_by_phone(phone, page_of(request, phone))
        return pb.ListMembersResponse(
            members=[member_pb(card) for card in page.items], next_page_token=page.next_page_token
        )

    async def UpdateMember(self, request: pb.UpdateMemberRequest, context: Any) -> pb.UpdateMemberResponse:
        v = Violations()
        v.resource_id("member.member_id", request.member.member_id)
        wanted = v.field_mask(
            "update_mask", request.update_mask, pb.Member.DESCRIPTOR, allowed=members.UPDATABLE_FIELDS
        )
        values = _profile(v, request.member, "member", wanted) if wanted else {}
        v.raise_if_any()
        row = await self.members.update(MemberChanges(request.member.member_id, values))
        return pb.UpdateMemberResponse(member=member_pb(row))

    async def EraseMember(self, request: pb.EraseMemberRequest, context: Any) -> pb.EraseMemberResponse:
        v = Violations()
        v.resource_id("member_id", request.member_id)
        v.raise_if_any()
        erased_at = await self.erasure.erase(request.member_id)
        return pb.EraseMemberResponse(member_id=request.member_id, erase_time=to_timestamp(erased_at))

    async def LinkPaymentAccount(
        self, request: pb.LinkPaymentAccountRequest, context: Any
    ) -> pb.LinkPaymentAccountResponse:
        v = Violations()
        v.resource_id("member_id", request.member_id)
        account = _payment_account(v, request.provider, request.account_token)
        v.raise_if_any()
        row = await self.payment_accounts.link(request.member_id, account)
        return pb.LinkPaymentAccountResponse(payment_account=payment_account_pb(row))

    async def ResolvePaymentAccount(
        self, request: pb.ResolvePaymentAccountRequest, context: Any
    ) -> pb.ResolvePaymentAccountResponse:
        v = Violations()
        account = _payment_account(v, request.provider, request.account_token)
        v.raise_if_any()
        return pb.ResolvePaymentAccountResponse(member_id=await self.payment_accounts.resolve(account))

    async def SetConsent(self, request: pb.SetConsentRequest, context: Any) -> pb.SetConsentResponse:
        v = Violations()
        v.resource_id("member_id", request.member_id)
        v.enum("purpose", request.purpose, PURPOSES)
        v.raise_if_any()
        consent = await self.consents.set(ConsentChange(request.member_id, request.purpose, request.granted))
        return pb.SetConsentResponse(consent=consent_pb(consent))

    async def GetConsent(self, request: pb.GetConsentRequest, context: Any) -> pb.GetConsentResponse:
        v = Violations()
        v.resource_id("member_id", request.member_id)
        v.raise_if_any()
        return pb.GetConsentResponse(consents=[consent_pb(c) for c in await self.consents.get(request.member_id)])
