"""The gRPC layer of identity: validates requests, calls the use cases, maps rows to messages."""

from __future__ import annotations

from typing import Any

from o2o.common.v1 import common_pb2
from o2o.identity.v1 import identity_pb2 as pb
from o2o.identity.v1 import identity_pb2_grpc
from o2o_runtime.auth import Kind, Role, current_principal
from o2o_runtime.errors import InvalidArgument
from o2o_runtime.pagination import PageRequest
from o2o_runtime.timeutil import utcnow
from o2o_runtime.validation import Violations
from o2o_runtime.wellknown import to_duration, to_timestamp

from o2o_identity import domain
from o2o_identity.app import Identity, MemberProfile, StaffView
from o2o_identity.store import AdvisorRow, ApiKeyRow, ConsentRow, DeviceRow, FriendRow, MemberRow, StaffRow, StoreRow

PURPOSES = frozenset(common_pb2.ConsentPurpose.values()) - {0}
GENDERS = frozenset(common_pb2.Gender.values())
INCOME_BANDS = frozenset(common_pb2.IncomeBand.values())
ROLES = frozenset(common_pb2.StaffRole.values()) - {0}
DEVICE_KINDS = frozenset(pb.DeviceKind.values()) - {0}
UPDATABLE_MEMBER_FIELDS = frozenset(
    {
        "phone",
        "email",
        "display_name",
        "birth_year",
        "birth_month",
        "birth_day",
        "gender",
        "income_band",
        "tags",
        "home_store_id",
    }
)


# ---- mapping -------------------------------------------------------------------------


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


def member_pb(row: MemberRow) -> pb.Member:
    return pb.Member(
        member_id=row.member_id,
        phone=row.phone or "",
        email=row.email,
        display_name=row.display_name,
        birth_year=row.birth_year,
        birth_month=row.birth_month,
        birth_day=row.birth_day,
        gender=row.gender,  # type: ignore[arg-type]
        income_band=row.income_band,  # type: ignore[arg-type]
        tags=row.tags,
        home_store_id=row.home_store_id,
        state=pb.MEMBER_STATE_ERASED if row.erased else pb.MEMBER_STATE_ACTIVE,
        create_time=to_timestamp(row.created_at),
        update_time=to_timestamp(row.updated_at),
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


def consent_pb(row: ConsentRow) -> pb.Consent:
    return pb.Consent(
        purpose=row.purpose,  # type: ignore[arg-type]
        granted=row.granted,
        update_time=to_timestamp(row.updated_at) if row.updated_at else None,
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


# ---- validation ----------------------------------------------------------------------


def _profile(v: Violations, member: pb.Member, prefix: str, only: frozenset[str] | None = None) -> dict[str, Any]:
    """Validated profile values of the fields named in only (all when None)."""

    def wanted(name: str) -> bool:
        return only is None or name in only

    values: dict[str, Any] = {}
    if wanted("phone"):
        phone = domain.normalize_phone(member.phone) if member.phone else None
        if not member.phone:
            v.add(f"{prefix}.phone", "is required")
        elif phone is None:
            v.add(f"{prefix}.phone", "must be a valid mobile number in international form, e.g. +8613800138000")
        values["phone"] = phone or ""
    if wanted("email"):
        if member.email and (
            len(member.email) > 254 or not member.email.isprintable() or not domain.EMAIL.match(member.email)
        ):
            v.add(f"{prefix}.email", "must be a valid e-mail address")
        values["email"] = member.email.lower()
    if wanted("display_name"):
        v.text(f"{prefix}.display_name", member.display_name, max_len=100)
        values["display_name"] = member.display_name
    for name in ("birth_year", "birth_month", "birth_day"):
        if wanted(name):
            values[name] = getattr(member, name)
    if only is None:
        problem = domain.birth_date_problem(member.birth_year, member.birth_month, member.birth_day, utcnow())
        if problem:
            v.add(f"{prefix}.{problem[0]}", problem[1])
    if wanted("gender"):
        v.enum(f"{prefix}.gender", member.gender, GENDERS, required=False)
        values["gender"] = int(member.gender)
    if wanted("income_band"):
        v.enum(f"{prefix}.income_band", member.income_band, INCOME_BANDS, required=False)
        values["income_band"] = int(member.income_band)
    if wanted("tags"):
        if len(member.tags) > 50:
            v.add(f"{prefix}.tags", "must hold at most 50 tags")
        for index, tag in enumerate(member.tags):
            v.check(
                bool(domain.MEMBER_TAG.match(tag)),
                f"{prefix}.tags[{index}]",
                "must be lower-case letters, digits, - or _",
            )
        values["tags"] = sorted(set(member.tags))
    if wanted("home_store_id"):
        v.resource_id(f"{prefix}.home_store_id", member.home_store_id, required=False)
        values["home_store_id"] = member.home_store_id
    return values


def _page(request: Any, *filters: object) -> PageRequest:
    return PageRequest.parse(request.page_size, request.page_token, *filters)


class IdentityApi(identity_pb2_grpc.IdentityServiceServicer):
    def __init__(self, identity: Identity) -> None:
        self.identity = identity

    # ---- stores ------------------------------------------------------------------

    async def CreateStore(self, request: pb.CreateStoreRequest, context: Any) -> pb.CreateStoreResponse:
        s = request.store
        v = Violations()
        v.check(
            bool(s.code) and len(s.code) <= 32 and s.code.replace("-", "").replace("_", "").isalnum(),
            "store.code",
            "is required: letters, digits, - or _, at most 32",
        )
        v.text("store.name", s.name, required=True, max_len=200)
        v.text("store.region", s.region, required=True, max_len=64)
        v.check(
            bool(s.time_zone) and domain.valid_time_zone(s.time_zone),
            "store.time_zone",
            "must be an IANA time zone such as Asia/Shanghai",
        )
        v.currency("store.currency_code", s.currency_code)
        v.text("store.address", s.address, max_len=500)
        v.raise_if_any()
        row = StoreRow(
            store_id="",
            code=s.code.upper(),
            name=s.name,
            region=s.region.lower(),
            time_zone=s.time_zone,
            currency_code=s.currency_code,
            address=s.address,
        )
        return pb.CreateStoreResponse(store=store_pb(await self.identity.create_store(row)))

    async def GetStore(self, request: pb.GetStoreRequest, context: Any) -> pb.GetStoreResponse:
        v = Violations()
        v.resource_id("store_id", request.store_id)
        v.raise_if_any()
        return pb.GetStoreResponse(store=store_pb(await self.identity.get_store(request.store_id)))

    async def ListStores(self, request: pb.ListStoresRequest, context: Any) -> pb.ListStoresResponse:
        v = Violations()
        v.text("region", request.region, max_len=64)
        v.raise_if_any()
        page = await self.identity.list_stores(request.region.lower(), _page(request, request.region.lower()))
        return pb.ListStoresResponse(stores=[store_pb(r) for r in page.items], next_page_token=page.next_page_token)

    # ---- members -----------------------------------------------------------------

    async def RegisterMember(self, request: pb.RegisterMemberRequest, context: Any) -> pb.RegisterMemberResponse:
        v = Violations()
        if not request.HasField("member"):
            raise InvalidArgument.field("member", "is required")
        values = _profile(v, request.member, "member")
        principal = current_principal()
        if principal.kind is Kind.STAFF and not values["home_store_id"] and not principal.chain_wide:
            if len(principal.store_ids) == 1:
                values["home_store_id"] = next(iter(principal.store_ids))
            else:
                v.add("member.home_store_id", "is required for staff working in several stores")
        # Checked before removing repeats, so a violation names the request's own index.
        for index, purpose in enumerate(request.consents):
            v.enum(f"consents[{index}]", purpose, PURPOSES)
        consents = list(dict.fromkeys(request.consents))
        v.raise_if_any()
        row = await self.identity.register_member(MemberProfile(**values), consents)
        return pb.RegisterMemberResponse(member=member_pb(row))

    async def GetMember(self, request: pb.GetMemberRequest, context: Any) -> pb.GetMemberResponse:
        v = Violations()
        v.resource_id("member_id", request.member_id)
        v.raise_if_any()
        return pb.GetMemberResponse(member=member_pb(await self.identity.get_member(request.member_id)))

    async def UpdateMember(self, request: pb.UpdateMemberRequest, context: Any) -> pb.UpdateMemberResponse:
        v = Violations()
        v.resource_id("member.member_id", request.member.member_id)
        wanted = v.field_mask("update_mask", request.update_mask, pb.Member.DESCRIPTOR, allowed=UPDATABLE_MEMBER_FIELDS)
        changes = _profile(v, request.member, "member", wanted) if wanted else {}
        v.raise_if_any()
        row = await self.identity.update_member(request.member.member_id, changes)
        return pb.UpdateMemberResponse(member=member_pb(row))

    async def EraseMember(self, request: pb.EraseMemberRequest, context: Any) -> pb.EraseMemberResponse:
        v = Violations()
        v.resource_id("member_id", request.member_id)
        v.raise_if_any()
        row = await self.identity.erase_member(request.member_id)
        return pb.EraseMemberResponse(member_id=row.member_id, erase_time=to_timestamp(row.updated_at))

    # ---- payment accounts -------------------------------------------------------

    async def LinkPaymentAccount(
        self, request: pb.LinkPaymentAccountRequest, context: Any
    ) -> pb.LinkPaymentAccountResponse:
        v = Violations()
        v.resource_id("member_id", request.member_id)
        self._payment_account(v, request.provider, request.account_token)
        v.raise_if_any()
        row = await self.identity.link_payment_account(request.member_id, request.provider, request.account_token)
        return pb.LinkPaymentAccountResponse(
            payment_account=pb.PaymentAccount(
                payment_account_id=row.payment_account_id,
                member_id=row.member_id,
                provider=row.provider,
                hint=row.hint,
                create_time=to_timestamp(row.created_at),
            )
        )

    async def ResolvePaymentAccount(
        self, request: pb.ResolvePaymentAccountRequest, context: Any
    ) -> pb.ResolvePaymentAccountResponse:
        v = Violations()
        self._payment_account(v, request.provider, request.account_token)
        v.raise_if_any()
        member_id = await self.identity.resolve_payment_account(request.provider, request.account_token)
        return pb.ResolvePaymentAccountResponse(member_id=member_id)

    @staticmethod
    def _payment_account(v: Violations, provider: str, token: str) -> None:
        v.check(bool(domain.PROVIDER.match(provider)), "provider", "is required: 2-32 lower-case letters, digits or _")
        v.check(
            8 <= len(token) <= 256 and token.isprintable(), "account_token", "must be 8 to 256 printable characters"
        )

    # ---- consent -----------------------------------------------------------------

    async def SetConsent(self, request: pb.SetConsentRequest, context: Any) -> pb.SetConsentResponse:
        v = Violations()
        v.resource_id("member_id", request.member_id)
        v.enum("purpose", request.purpose, PURPOSES)
        v.raise_if_any()
        row = await self.identity.set_consent(request.member_id, request.purpose, request.granted)
        return pb.SetConsentResponse(consent=consent_pb(row))

    async def GetConsent(self, request: pb.GetConsentRequest, context: Any) -> pb.GetConsentResponse:
        v = Violations()
        v.resource_id("member_id", request.member_id)
        v.raise_if_any()
        rows = await self.identity.get_consents(request.member_id)
        return pb.GetConsentResponse(consents=[consent_pb(r) for r in rows])

    # ---- staff -------------------------------------------------------------------

    async def CreateStaff(self, request: pb.CreateStaffRequest, context: Any) -> pb.CreateStaffResponse:
        s = request.staff
        v = Violations()
        v.check(
            bool(domain.LOGIN.match(s.login)), "staff.login", "is required: 3-64 lower-case letters, digits, . _ or -"
        )
        v.text("staff.display_name", s.display_name, max_len=100)
        v.enum("staff.role", s.role, ROLES)
        v.check(
            domain.MIN_PASSWORD_LENGTH <= len(request.password) <= 256,
            "password",
            f"must be {domain.MIN_PASSWORD_LENGTH} to 256 characters",
        )
        for index, store_id in enumerate(s.store_ids):
            v.resource_id(f"staff.store_ids[{index}]", store_id)
        role = domain.ROLE_BY_NUMBER.get(s.role)
        if role in domain.STORE_SCOPED:
            v.check(len(s.store_ids) > 0, "staff.store_ids", "an associate or store manager needs at least one store")
        if role is Role.REGIONAL_MANAGER:
            v.text("staff.region", s.region, required=True, max_len=64)
        v.raise_if_any()
        row = StaffRow(
            staff_id="",
            login=s.login,
            display_name=s.display_name,
            role=s.role,
            region=s.region.lower() if role is Role.REGIONAL_MANAGER else "",
            password_hash="",
        )
        view = await self.identity.create_staff(current_principal(), row, list(s.store_ids), request.password)
        return pb.CreateStaffResponse(staff=staff_pb(view))

    async def GetStaff(self, request: pb.GetStaffRequest, context: Any) -> pb.GetStaffResponse:
        v = Violations()
        v.resource_id("staff_id", request.staff_id)
        v.raise_if_any()
        return pb.GetStaffResponse(staff=staff_pb(await self.identity.get_staff(request.staff_id)))

    async def ListStaff(self, request: pb.ListStaffRequest, context: Any) -> pb.ListStaffResponse:
        v = Violations()
        v.resource_id("store_id", request.store_id, required=False)
        v.raise_if_any()
        page = await self.identity.list_staff(current_principal(), request.store_id, _page(request, request.store_id))
        return pb.ListStaffResponse(staff=[staff_pb(s) for s in page.items], next_page_token=page.next_page_token)

    # ---- advisors ----------------------------------------------------------------

    async def BindAdvisor(self, request: pb.BindAdvisorRequest, context: Any) -> pb.BindAdvisorResponse:
        v = Violations()
        v.resource_id("member_id", request.member_id)
        v.resource_id("staff_id", request.staff_id)
        v.resource_id("store_id", request.store_id, required=False)
        v.raise_if_any()
        row, changed = await self.identity.bind_advisor(
            current_principal(), request.member_id, request.staff_id, request.store_id
        )
        return pb.BindAdvisorResponse(binding=advisor_pb(row), changed=changed)

    async def GetAdvisor(self, request: pb.GetAdvisorRequest, context: Any) -> pb.GetAdvisorResponse:
        v = Violations()
        v.resource_id("member_id", request.member_id)
        v.raise_if_any()
        return pb.GetAdvisorResponse(binding=advisor_pb(await self.identity.get_advisor(request.member_id)))

    async def ListAdvisedMembers(
        self, request: pb.ListAdvisedMembersRequest, context: Any
    ) -> pb.ListAdvisedMembersResponse:
        v = Violations()
        v.resource_id("staff_id", request.staff_id)
        v.raise_if_any()
        page = await self.identity.list_advised(request.staff_id, _page(request, request.staff_id))
        return pb.ListAdvisedMembersResponse(
            bindings=[advisor_pb(r) for r in page.items], next_page_token=page.next_page_token
        )

    # ---- friends -----------------------------------------------------------------

    async def AddFriend(self, request: pb.AddFriendRequest, context: Any) -> pb.AddFriendResponse:
        v = Violations()
        v.resource_id("member_id", request.member_id)
        v.resource_id("friend_member_id", request.friend_member_id)
        v.raise_if_any()
        row = await self.identity.add_friend(request.member_id, request.friend_member_id)
        return pb.AddFriendResponse(link=friend_pb(row))

    async def RemoveFriend(self, request: pb.RemoveFriendRequest, context: Any) -> pb.RemoveFriendResponse:
        v = Violations()
        v.resource_id("member_id", request.member_id)
        v.resource_id("friend_member_id", request.friend_member_id)
        v.raise_if_any()
        await self.identity.remove_friend(request.member_id, request.friend_member_id)
        return pb.RemoveFriendResponse()

    async def ListFriends(self, request: pb.ListFriendsRequest, context: Any) -> pb.ListFriendsResponse:
        v = Violations()
        v.resource_id("member_id", request.member_id)
        v.raise_if_any()
        page = await self.identity.list_friends(request.member_id, _page(request, request.member_id))
        return pb.ListFriendsResponse(links=[friend_pb(r) for r in page.items], next_page_token=page.next_page_token)

    # ---- credentials -------------------------------------------------------------

    async def CreateApiKey(self, request: pb.CreateApiKeyRequest, context: Any) -> pb.CreateApiKeyResponse:
        k = request.api_key
        v = Violations()
        v.text("api_key.partner", k.partner, required=True, max_len=100)
        v.check(len(k.scopes) > 0, "api_key.scopes", "must name at least one scope")
        for index, scope in enumerate(k.scopes):
            v.check(
                scope in domain.KNOWN_SCOPES,
                f"api_key.scopes[{index}]",
                f"must be one of {', '.join(sorted(domain.KNOWN_SCOPES))}",
            )
        v.raise_if_any()
        row, secret = await self.identity.create_api_key(current_principal(), k.partner, list(k.scopes))
        return pb.CreateApiKeyResponse(api_key=api_key_pb(row), secret=secret)

    async def RevokeApiKey(self, request: pb.RevokeApiKeyRequest, context: Any) -> pb.RevokeApiKeyResponse:
        v = Violations()
        v.resource_id("api_key_id", request.api_key_id)
        v.raise_if_any()
        return pb.RevokeApiKeyResponse(api_key=api_key_pb(await self.identity.revoke_api_key(request.api_key_id)))

    async def RegisterDevice(self, request: pb.RegisterDeviceRequest, context: Any) -> pb.RegisterDeviceResponse:
        v = Violations()
        v.resource_id("store_id", request.store_id)
        v.enum("kind", request.kind, DEVICE_KINDS)
        v.text("display_name", request.display_name, max_len=100)
        v.raise_if_any()
        row, secret = await self.identity.register_device(request.store_id, request.kind, request.display_name)
        return pb.RegisterDeviceResponse(device=device_pb(row), device_secret=secret)

    async def IssueToken(self, request: pb.IssueTokenRequest, context: Any) -> pb.IssueTokenResponse:
        grant = request.WhichOneof("grant")
        v = Violations()
        if grant is None:
            raise InvalidArgument.field(
                "grant", "one of staff_password, device, api_key or service_account is required"
            )
        if grant == "staff_password":
            g = request.staff_password
            v.check(
                0 < len(g.login) <= 64 and g.login.isprintable(),
                "staff_password.login",
                "is required: at most 64 printable characters",
            )
            v.check(0 < len(g.password) <= 256, "staff_password.password", "is required")
            v.raise_if_any()
            issued = await self.identity.token_for_staff(g.login.lower(), g.password)
        elif grant == "device":
            d = request.device
            v.resource_id("device.device_id", d.device_id)
            v.check(0 < len(d.device_secret) <= 256, "device.device_secret", "is required")
            v.raise_if_any()
            issued = await self.identity.token_for_device(d.device_id, d.device_secret)
        elif grant == "api_key":
            a = request.api_key
            v.check(
                0 < len(a.api_key) <= 256 and a.api_key.isprintable(),
                "api_key.api_key",
                "is required: at most 256 printable characters",
            )
            v.resource_id("api_key.member_id", a.member_id, required=False)
            v.raise_if_any()
            issued = await self.identity.token_for_api_key(a.api_key, a.member_id)
        else:
            s = request.service_account
            v.check(0 < len(s.service) <= 64, "service_account.service", "is required")
            v.check(0 < len(s.secret) <= 256, "service_account.secret", "is required")
            v.raise_if_any()
            issued = await self.identity.token_for_service(s.service, s.secret)
        return pb.IssueTokenResponse(
            access_token=issued.token,
            token_type="Bearer",
            expires_in=to_duration(issued.ttl),
            principal_kind=PRINCIPAL_KINDS[issued.principal.kind],
            subject=issued.principal.subject,
        )

    async def GetJwks(self, request: pb.GetJwksRequest, context: Any) -> pb.GetJwksResponse:
        return pb.GetJwksResponse(keys=[pb.Jwk(**k) for k in await self.identity.public_jwks()])


PRINCIPAL_KINDS = {
    Kind.MEMBER: common_pb2.PRINCIPAL_KIND_MEMBER,
    Kind.STAFF: common_pb2.PRINCIPAL_KIND_STAFF,
    Kind.DEVICE: common_pb2.PRINCIPAL_KIND_DEVICE,
    Kind.PARTNER: common_pb2.PRINCIPAL_KIND_PARTNER,
    Kind.SERVICE: common_pb2.PRINCIPAL_KIND_SERVICE,
}
