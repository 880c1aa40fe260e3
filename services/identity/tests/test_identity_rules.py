"""Identity's domain rules and its answers to bad input, over real gRPC on both databases.

Every refusal is checked by its exact status code; bad input also by the exact field the
BadRequest details name, because clients highlight that field to the user.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import grpc
import pytest
from google.protobuf import field_mask_pb2
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_status import rpc_status
from o2o.common.v1 import common_pb2
from o2o.events.v1 import identity_events_pb2 as events
from o2o.identity.v1 import identity_pb2 as pb
from o2o_runtime.ids import new_id
from o2o_runtime.testing.bus import published
from o2o_runtime.testing.chain import Actor, Chain, unique, unique_phone
from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.status import precondition_violations, violated_fields

E = TypeVar("E", bound=Message)

ASSOCIATE = common_pb2.STAFF_ROLE_ASSOCIATE
STORE_MANAGER = common_pb2.STAFF_ROLE_STORE_MANAGER
REGIONAL_MANAGER = common_pb2.STAFF_ROLE_REGIONAL_MANAGER
OWNER = common_pb2.STAFF_ROLE_OWNER
MARKETING = common_pb2.CONSENT_PURPOSE_MARKETING
SOCIAL = common_pb2.CONSENT_PURPOSE_SOCIAL
UNSPECIFIED_PURPOSE = common_pb2.CONSENT_PURPOSE_UNSPECIFIED
# Open enums carry numbers a newer client may know and this server does not.
UNKNOWN_PURPOSE = common_pb2.ConsentPurpose.ValueType(99)
GOOD_PASSWORD = "a-long-enough-password"


# ---- helpers -------------------------------------------------------------------------


async def refused(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def invalid_fields(call: Awaitable[object]) -> list[str]:
    error = await refused(call)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error.details()
    return violated_fields(error)


async def status_of(call: Awaitable[object]) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def wait_for_event(
    platform: Platform, payload_type: type[E], matches: Callable[[E], bool], timeout_s: float = 20
) -> list[E]:
    """Every published event of payload_type that matches, once at least one has arrived
    (the outbox relay publishes shortly after the commit, not during the call)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        found = [p for _, p in await published(platform.nats.url, "identity", payload_type) if matches(p)]
        if found or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.3)


def page_token(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()


def when(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


async def register(chain: Chain, member: pb.Member, consents: Sequence[int] = ()) -> pb.Member:
    reply = await chain.identity.RegisterMember(
        pb.RegisterMemberRequest(member=member, consents=consents),  # type: ignore[arg-type]
        metadata=(await chain.admin()).auth,
    )
    return reply.member


def staff_request(stores: Sequence[str], **overrides: Any) -> pb.CreateStaffRequest:
    """A valid request for a new associate of the stores, with the given fields replaced."""
    password = overrides.pop("password", GOOD_PASSWORD)
    fields: dict[str, Any] = {"login": unique("rules."), "role": ASSOCIATE, "store_ids": list(stores)}
    fields.update(overrides)
    return pb.CreateStaffRequest(staff=pb.Staff(**fields), password=password)


async def consent_states(chain: Chain, member_id: str) -> dict[int, bool]:
    reply = await chain.identity.GetConsent(
        pb.GetConsentRequest(member_id=member_id), metadata=(await chain.admin()).auth
    )
    return {c.purpose: c.granted for c in reply.consents}


async def friends_of(chain: Chain, member: Actor) -> list[str]:
    reply = await chain.identity.ListFriends(pb.ListFriendsRequest(member_id=member.subject), metadata=member.auth)
    return [link.friend_member_id for link in reply.links]


async def advised_by(chain: Chain, staff: Actor) -> list[str]:
    reply = await chain.identity.ListAdvisedMembers(
        pb.ListAdvisedMembersRequest(staff_id=staff.subject), metadata=staff.auth
    )
    return [binding.member_id for binding in reply.bindings]


# ---- bad input -----------------------------------------------------------------------

THIS_YEAR = datetime.now(UTC).year


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param({"phone": ""}, ["member.phone"], id="phone-missing"),
        pytest.param({"phone": "12345"}, ["member.phone"], id="phone-without-country"),
        pytest.param({"phone": "+86138"}, ["member.phone"], id="phone-too-short"),
        pytest.param({"phone": "+86 138 0013 8000" + " 0" * 10}, ["member.phone"], id="phone-oversized"),
        pytest.param({"email": "not-an-address"}, ["member.email"], id="email-malformed"),
        pytest.param({"email": "li\x00na@example.com"}, ["member.email"], id="email-with-control-character"),
        pytest.param({"display_name": "x" * 101}, ["member.display_name"], id="display-name-oversized"),
        pytest.param({"birth_year": 1899}, ["member.birth_year"], id="birth-year-too-early"),
        pytest.param({"birth_year": THIS_YEAR + 1}, ["member.birth_year"], id="birth-year-in-future"),
        pytest.param({"birth_month": 13}, ["member.birth_month"], id="birth-month-out-of-range"),
        pytest.param({"birth_day": 12}, ["member.birth_month"], id="birth-day-without-month"),
        pytest.param({"birth_year": 2001, "birth_month": 2, "birth_day": 29}, ["member.birth_day"], id="no-such-day"),
        pytest.param({"gender": 99}, ["member.gender"], id="gender-unknown"),
        pytest.param({"tags": ["vip", "Big Spender"]}, ["member.tags[1]"], id="tag-malformed"),
        pytest.param({"tags": [f"t{i}" for i in range(51)]}, ["member.tags"], id="too-many-tags"),
        pytest.param({"home_store_id": "SH-001"}, ["member.home_store_id"], id="home-store-malformed"),
        pytest.param({"home_store_id": new_id()}, ["member.home_store_id"], id="home-store-unknown"),
    ],
)
async def test_register_member_names_the_bad_field(
    chain: Chain, overrides: dict[str, Any], expected: list[str]
) -> None:
    member = pb.Member(**{"phone": unique_phone(), **overrides})
    request = pb.RegisterMemberRequest(member=member)
    assert await invalid_fields(chain.identity.RegisterMember(request, metadata=(await chain.admin()).auth)) == expected


async def test_register_member_without_member_or_with_bad_consents(chain: Chain) -> None:
    admin = await chain.admin()
    no_member = pb.RegisterMemberRequest()
    assert await invalid_fields(chain.identity.RegisterMember(no_member, metadata=admin.auth)) == ["member"]
    # The offending consent is named by its position in the request, repeats included.
    bad_consents = pb.RegisterMemberRequest(
        member=pb.Member(phone=unique_phone()), consents=[MARKETING, MARKETING, UNSPECIFIED_PURPOSE, UNKNOWN_PURPOSE]
    )
    assert await invalid_fields(chain.identity.RegisterMember(bad_consents, metadata=admin.auth)) == [
        "consents[2]",
        "consents[3]",
    ]


async def test_register_member_by_staff_of_several_stores_needs_a_home_store(chain: Chain) -> None:
    first, second = await chain.store(), await chain.store()
    manager = await chain.staff(STORE_MANAGER, [first.store_id, second.store_id])
    request = pb.RegisterMemberRequest(member=pb.Member(phone=unique_phone()))
    assert await invalid_fields(chain.identity.RegisterMember(request, metadata=manager.auth)) == [
        "member.home_store_id"
    ]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param({"code": ""}, ["store.code"], id="code-missing"),
        pytest.param({"code": "SH 001"}, ["store.code"], id="code-with-space"),
        pytest.param({"code": "S" * 33}, ["store.code"], id="code-oversized"),
        pytest.param({"name": ""}, ["store.name"], id="name-missing"),
        pytest.param({"name": "n" * 201}, ["store.name"], id="name-oversized"),
        pytest.param({"region": ""}, ["store.region"], id="region-missing"),
        pytest.param({"time_zone": ""}, ["store.time_zone"], id="time-zone-missing"),
        pytest.param({"time_zone": "Mars/Olympus_Mons"}, ["store.time_zone"], id="time-zone-unknown"),
        pytest.param({"time_zone": "../../etc/passwd"}, ["store.time_zone"], id="time-zone-path"),
        pytest.param({"time_zone": "America"}, ["store.time_zone"], id="time-zone-directory"),
        pytest.param({"currency_code": ""}, ["store.currency_code"], id="currency-missing"),
        pytest.param({"currency_code": "cny"}, ["store.currency_code"], id="currency-lower-case"),
        pytest.param({"currency_code": "YUAN"}, ["store.currency_code"], id="currency-too-long"),
        pytest.param({"currency_code": "ABC"}, ["store.currency_code"], id="currency-not-in-iso-4217"),
        pytest.param({"currency_code": "XAU"}, ["store.currency_code"], id="currency-gold-has-no-minor-unit"),
        pytest.param({"address": "a" * 501}, ["store.address"], id="address-oversized"),
    ],
)
async def test_create_store_names_the_bad_field(chain: Chain, overrides: dict[str, Any], expected: list[str]) -> None:
    fields = {
        "code": unique("R-"),
        "name": "Rules store",
        "region": "east",
        "time_zone": "Asia/Shanghai",
        "currency_code": "CNY",
        **overrides,
    }
    request = pb.CreateStoreRequest(store=pb.Store(**fields))
    assert await invalid_fields(chain.identity.CreateStore(request, metadata=(await chain.admin()).auth)) == expected


@pytest.mark.parametrize("currency", ["CNY", "JPY", "BHD", "EUR"])
async def test_a_store_may_keep_any_active_iso_4217_currency(chain: Chain, currency: str) -> None:
    store = await chain.store(currency=currency)
    assert store.currency_code == currency


async def test_create_store_without_a_store_names_every_required_field(chain: Chain) -> None:
    fields = await invalid_fields(
        chain.identity.CreateStore(pb.CreateStoreRequest(), metadata=(await chain.admin()).auth)
    )
    assert fields == ["store.code", "store.name", "store.region", "store.time_zone", "store.currency_code"]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param({"login": ""}, ["staff.login"], id="login-missing"),
        pytest.param({"login": "Li.Na"}, ["staff.login"], id="login-upper-case"),
        pytest.param({"login": "ab"}, ["staff.login"], id="login-too-short"),
        pytest.param({"login": "l" * 65}, ["staff.login"], id="login-oversized"),
        pytest.param({"password": ""}, ["password"], id="password-empty"),
        pytest.param({"password": "x" * 11}, ["password"], id="password-too-short"),
        pytest.param({"password": "x" * 257}, ["password"], id="password-oversized"),
        pytest.param({"role": common_pb2.STAFF_ROLE_UNSPECIFIED}, ["staff.role"], id="role-unspecified"),
        pytest.param({"role": 99}, ["staff.role"], id="role-unknown"),
        pytest.param({"store_ids": []}, ["staff.store_ids"], id="associate-without-store"),
        pytest.param({"store_ids": ["store-1"]}, ["staff.store_ids[0]"], id="store-id-malformed"),
        pytest.param({"role": REGIONAL_MANAGER, "store_ids": []}, ["staff.region"], id="regional-without-region"),
        pytest.param({"display_name": "d" * 101}, ["staff.display_name"], id="display-name-oversized"),
    ],
)
async def test_create_staff_names_the_bad_field(chain: Chain, overrides: dict[str, Any], expected: list[str]) -> None:
    store = await chain.store()
    request = staff_request([store.store_id], **overrides)
    assert await invalid_fields(chain.identity.CreateStaff(request, metadata=(await chain.admin()).auth)) == expected


async def test_create_staff_names_an_unknown_store_by_its_position_in_the_request(chain: Chain) -> None:
    store = await chain.store()
    # Ids are time ordered, so the unknown id sorts after the existing store: listing it
    # first shows whether the position is the request's own.
    request = staff_request([new_id(), store.store_id])
    assert await invalid_fields(chain.identity.CreateStaff(request, metadata=(await chain.admin()).auth)) == [
        "staff.store_ids[0]"
    ]


@pytest.mark.parametrize(
    ("purpose", "expected"),
    [
        pytest.param(UNSPECIFIED_PURPOSE, ["purpose"], id="unspecified"),
        pytest.param(UNKNOWN_PURPOSE, ["purpose"], id="unknown"),
    ],
)
async def test_set_consent_needs_a_known_purpose(chain: Chain, purpose: int, expected: list[str]) -> None:
    member = await register(chain, pb.Member(phone=unique_phone()))
    request = pb.SetConsentRequest(member_id=member.member_id, purpose=purpose, granted=True)  # type: ignore[arg-type]
    assert await invalid_fields(chain.identity.SetConsent(request, metadata=(await chain.admin()).auth)) == expected
    assert not any((await consent_states(chain, member.member_id)).values())


@pytest.mark.parametrize(
    "member_id",
    [
        pytest.param("", id="missing"),
        pytest.param("not-an-id", id="not-a-uuid"),
        pytest.param(new_id().upper(), id="upper-case-uuid"),
    ],
)
async def test_member_ids_must_be_well_formed(chain: Chain, member_id: str) -> None:
    admin = await chain.admin()
    for call, field in (
        (chain.identity.GetMember(pb.GetMemberRequest(member_id=member_id), metadata=admin.auth), "member_id"),
        (chain.identity.GetConsent(pb.GetConsentRequest(member_id=member_id), metadata=admin.auth), "member_id"),
        (chain.identity.EraseMember(pb.EraseMemberRequest(member_id=member_id), metadata=admin.auth), "member_id"),
        (
            chain.identity.UpdateMember(
                pb.UpdateMemberRequest(
                    member=pb.Member(member_id=member_id, display_name="x"),
                    update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
                ),
                metadata=admin.auth,
            ),
            "member.member_id",
        ),
    ):
        assert await invalid_fields(call) == [field]


async def test_ids_are_checked_before_lookup_for_store_scoped_callers_too(chain: Chain) -> None:
    """A store manager's request is resolved to its member or staff before the handler
    runs; an id that cannot exist is still bad input, not a server error."""
    store = await chain.store()
    manager = await chain.staff(STORE_MANAGER, [store.store_id])
    for bad in ("not-an-id", "x" * 300, "a\x00b"):
        assert await invalid_fields(
            chain.identity.GetMember(pb.GetMemberRequest(member_id=bad), metadata=manager.auth)
        ) == ["member_id"]
        assert await invalid_fields(
            chain.identity.GetStaff(pb.GetStaffRequest(staff_id=bad), metadata=manager.auth)
        ) == ["staff_id"]


async def test_sign_in_with_characters_no_credential_holds_is_bad_input(chain: Chain) -> None:
    """Logins and keys are printable; anything else is refused before any lookup, so the
    answer is the same on every database (PostgreSQL cannot even compare a NUL)."""
    staff_grant = pb.StaffPasswordGrant(login="adm\x00in", password=GOOD_PASSWORD)
    assert await invalid_fields(chain.token(staff_password=staff_grant)) == ["staff_password.login"]
    key_grant = pb.ApiKeyGrant(api_key="o2o_00000000000\x00_secret")
    assert await invalid_fields(chain.token(api_key=key_grant)) == ["api_key.api_key"]


@pytest.mark.parametrize(
    ("page_size", "token", "expected"),
    [
        pytest.param(-1, "", ["page_size"], id="negative-page-size"),
        pytest.param(0, "not-a-token", ["page_token"], id="token-not-base64-json"),
        pytest.param(0, page_token(["a", "f"]), ["page_token"], id="token-not-an-object"),
        pytest.param(0, page_token({"a": new_id()}), ["page_token"], id="token-without-fingerprint"),
    ],
)
async def test_list_stores_refuses_bad_paging(chain: Chain, page_size: int, token: str, expected: list[str]) -> None:
    request = pb.ListStoresRequest(page_size=page_size, page_token=token)
    assert await invalid_fields(chain.identity.ListStores(request, metadata=(await chain.admin()).auth)) == expected


async def test_a_page_token_only_continues_the_listing_it_came_from(chain: Chain) -> None:
    admin = await chain.admin()
    region = unique("pr").lower()
    for _ in range(2):
        await chain.store(region=region)
    first = await chain.identity.ListStores(pb.ListStoresRequest(region=region, page_size=1), metadata=admin.auth)
    assert first.next_page_token
    other_region = pb.ListStoresRequest(region="west", page_size=1, page_token=first.next_page_token)
    assert await invalid_fields(chain.identity.ListStores(other_region, metadata=admin.auth)) == ["page_token"]

    store = await chain.store()
    await chain.identity.CreateStaff(staff_request([store.store_id]), metadata=admin.auth)
    await chain.identity.CreateStaff(staff_request([store.store_id]), metadata=admin.auth)
    staff_page = await chain.identity.ListStaff(
        pb.ListStaffRequest(store_id=store.store_id, page_size=1), metadata=admin.auth
    )
    assert staff_page.next_page_token
    other_store = pb.ListStaffRequest(store_id=new_id(), page_size=1, page_token=staff_page.next_page_token)
    assert await invalid_fields(chain.identity.ListStaff(other_store, metadata=admin.auth)) == ["page_token"]


# ---- already exists and not found ----------------------------------------------------


async def test_store_codes_are_unique_whatever_their_case(chain: Chain) -> None:
    admin = await chain.admin()
    code = unique("dup-").lower()
    fields: dict[str, Any] = {"name": "First", "region": "east", "time_zone": "Asia/Shanghai", "currency_code": "CNY"}
    created = await chain.identity.CreateStore(
        pb.CreateStoreRequest(store=pb.Store(code=code, **fields)), metadata=admin.auth
    )
    assert created.store.code == code.upper()
    for again in (code, code.upper()):
        error = await refused(
            chain.identity.CreateStore(pb.CreateStoreRequest(store=pb.Store(code=again, **fields)), metadata=admin.auth)
        )
        assert error.code() is grpc.StatusCode.ALREADY_EXISTS
        assert violated_fields(error) == ["store.code"]


async def test_staff_logins_are_unique(chain: Chain) -> None:
    admin = await chain.admin()
    store = await chain.store()
    first = staff_request([store.store_id])
    await chain.identity.CreateStaff(first, metadata=admin.auth)
    second = staff_request([store.store_id], login=first.staff.login, role=STORE_MANAGER)
    error = await refused(chain.identity.CreateStaff(second, metadata=admin.auth))
    assert error.code() is grpc.StatusCode.ALREADY_EXISTS
    assert violated_fields(error) == ["staff.login"]


async def test_phone_is_normalised_so_another_spelling_is_a_duplicate(chain: Chain) -> None:
    phone = unique_phone()
    member = await register(chain, pb.Member(phone=f"{phone[:3]} {phone[3:6]} {phone[6:10]} {phone[10:]}"))
    assert member.phone == phone
    error = await refused(register(chain, pb.Member(phone=phone)))
    assert error.code() is grpc.StatusCode.ALREADY_EXISTS
    assert violated_fields(error) == ["member.phone"]


async def test_unknown_ids_are_not_found(chain: Chain) -> None:
    admin = await chain.admin()
    store = await chain.store()
    manager = await chain.staff(STORE_MANAGER, [store.store_id])
    missing = new_id()
    for call in (
        chain.identity.GetStore(pb.GetStoreRequest(store_id=missing), metadata=admin.auth),
        chain.identity.GetMember(pb.GetMemberRequest(member_id=missing), metadata=admin.auth),
        chain.identity.GetStaff(pb.GetStaffRequest(staff_id=missing), metadata=admin.auth),
        # Staff scoped to stores learn the same: the id names nothing, rather than "denied".
        chain.identity.GetMember(pb.GetMemberRequest(member_id=missing), metadata=manager.auth),
        chain.identity.GetStaff(pb.GetStaffRequest(staff_id=missing), metadata=manager.auth),
        chain.identity.EraseMember(pb.EraseMemberRequest(member_id=missing), metadata=admin.auth),
        chain.identity.SetConsent(
            pb.SetConsentRequest(member_id=missing, purpose=MARKETING, granted=True), metadata=admin.auth
        ),
        chain.identity.LinkPaymentAccount(
            pb.LinkPaymentAccountRequest(member_id=missing, provider="card", account_token=secrets.token_hex(8)),
            metadata=admin.auth,
        ),
    ):
        assert await status_of(call) is grpc.StatusCode.NOT_FOUND


# ---- nothing half-written ------------------------------------------------------------


async def test_refused_registration_leaves_no_member_consents_or_event(platform: Platform, chain: Chain) -> None:
    store = await chain.store()
    phone = unique_phone()
    # A registration that fails inside the transaction (unknown home store).
    missing_store = new_id()
    error = await refused(register(chain, pb.Member(phone=phone, home_store_id=missing_store), [MARKETING, SOCIAL]))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(error) == ["member.home_store_id"]

    # The phone is still free: nothing of the refused registration was kept.
    member = await register(chain, pb.Member(phone=phone, home_store_id=store.store_id))
    assert await consent_states(chain, member.member_id) == dict.fromkeys(
        (MARKETING, common_pb2.CONSENT_PURPOSE_LOCATION, common_pb2.CONSENT_PURPOSE_PROFILING, SOCIAL), False
    )

    # A duplicate phone with consents neither registers anyone nor grants the existing
    # member those consents.
    duplicate = await refused(register(chain, pb.Member(phone=phone, home_store_id=store.store_id), [MARKETING]))
    assert duplicate.code() is grpc.StatusCode.ALREADY_EXISTS
    assert not any((await consent_states(chain, member.member_id)).values())

    # Events leave in commit order, so once the successful registration is out, an event
    # of either refused one would be out too.
    registered = await wait_for_event(platform, events.MemberRegistered, lambda e: e.member_id == member.member_id)
    assert len(registered) == 1
    assert list(registered[0].consents) == []
    everything = [p for _, p in await published(platform.nats.url, "identity", events.MemberRegistered)]
    assert [e for e in everything if e.home_store_id == missing_store] == []
    assert [e.member_id for e in everything if e.home_store_id == store.store_id] == [member.member_id]


async def test_refused_staff_creation_leaves_no_staff(chain: Chain) -> None:
    admin = await chain.admin()
    store = await chain.store()
    login = unique("half.")
    # Passes the input checks but fails inside the transaction (one store is unknown).
    error = await refused(
        chain.identity.CreateStaff(staff_request([store.store_id, new_id()], login=login), metadata=admin.auth)
    )
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(error) == ["staff.store_ids[1]"]
    # Fails the input checks.
    weak = await refused(
        chain.identity.CreateStaff(staff_request([store.store_id], login=login, password="short"), metadata=admin.auth)
    )
    assert weak.code() is grpc.StatusCode.INVALID_ARGUMENT

    listed = await chain.identity.ListStaff(pb.ListStaffRequest(store_id=store.store_id), metadata=admin.auth)
    assert list(listed.staff) == []
    sign_in = chain.token(staff_password=pb.StaffPasswordGrant(login=login, password=GOOD_PASSWORD))
    assert await status_of(sign_in) is grpc.StatusCode.UNAUTHENTICATED

    created = await chain.identity.CreateStaff(staff_request([store.store_id], login=login), metadata=admin.auth)
    listed = await chain.identity.ListStaff(pb.ListStaffRequest(store_id=store.store_id), metadata=admin.auth)
    assert [s.staff_id for s in listed.staff] == [created.staff.staff_id]
    assert list(listed.staff[0].store_ids) == [store.store_id]


async def test_refused_update_changes_nothing(chain: Chain) -> None:
    admin = await chain.admin()
    member = await register(chain, pb.Member(phone=unique_phone(), display_name="Li Na", birth_year=1990))
    # The new name is fine, the birth date it comes with is not: neither is kept.
    error = await refused(
        chain.identity.UpdateMember(
            pb.UpdateMemberRequest(
                member=pb.Member(member_id=member.member_id, display_name="Wang Fang", birth_month=2, birth_day=30),
                update_mask=field_mask_pb2.FieldMask(paths=["display_name", "birth_month", "birth_day"]),
            ),
            metadata=admin.auth,
        )
    )
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(error) == ["member.birth_day"]
    after = (
        await chain.identity.GetMember(pb.GetMemberRequest(member_id=member.member_id), metadata=admin.auth)
    ).member
    assert after == member


# ---- updating members ----------------------------------------------------------------


async def test_update_member_changes_only_the_masked_fields(chain: Chain) -> None:
    admin = await chain.admin()
    home, other = await chain.store(), await chain.store()
    phone = unique_phone()
    original = await register(
        chain,
        pb.Member(
            phone=phone,
            email="li.na@example.com",
            display_name="Li Na",
            birth_year=1990,
            birth_month=5,
            tags=["vip"],
            home_store_id=home.store_id,
        ),
    )
    replacement = pb.Member(
        member_id=original.member_id,
        phone=unique_phone(),
        email="Wang.Fang@Example.com",
        display_name="Wang Fang",
        birth_year=1985,
        birth_month=7,
        birth_day=14,
        tags=["new", "student"],
        home_store_id=other.store_id,
    )
    updated = (
        await chain.identity.UpdateMember(
            pb.UpdateMemberRequest(
                member=replacement, update_mask=field_mask_pb2.FieldMask(paths=["display_name", "email", "birth_day"])
            ),
            metadata=admin.auth,
        )
    ).member
    assert updated.display_name == "Wang Fang"
    assert updated.email == "wang.fang@example.com"
    assert updated.birth_day == 14
    # Everything outside the mask is as it was, even though the request carried new values.
    assert updated.phone == phone
    assert (updated.birth_year, updated.birth_month) == (1990, 5)
    assert list(updated.tags) == ["vip"]
    assert updated.home_store_id == home.store_id
    assert updated.create_time == original.create_time
    assert when(updated.update_time) >= when(original.update_time)
    read = (
        await chain.identity.GetMember(pb.GetMemberRequest(member_id=original.member_id), metadata=admin.auth)
    ).member
    assert read == updated

    # A masked field with an empty value is cleared.
    cleared = (
        await chain.identity.UpdateMember(
            pb.UpdateMemberRequest(
                member=pb.Member(member_id=original.member_id), update_mask=field_mask_pb2.FieldMask(paths=["tags"])
            ),
            metadata=admin.auth,
        )
    ).member
    assert list(cleared.tags) == []
    assert cleared.display_name == "Wang Fang"


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        pytest.param([], ["update_mask"], id="empty-mask"),
        pytest.param(["state"], ["update_mask"], id="output-only-field"),
        pytest.param(["member_id"], ["update_mask"], id="the-id-itself"),
        pytest.param(["nickname"], ["update_mask"], id="no-such-field"),
    ],
)
async def test_update_member_mask_names_updatable_fields(chain: Chain, paths: list[str], expected: list[str]) -> None:
    member = await register(chain, pb.Member(phone=unique_phone()))
    request = pb.UpdateMemberRequest(
        member=pb.Member(member_id=member.member_id, display_name="x"),
        update_mask=field_mask_pb2.FieldMask(paths=paths),
    )
    assert await invalid_fields(chain.identity.UpdateMember(request, metadata=(await chain.admin()).auth)) == expected


async def test_update_member_to_a_taken_phone_is_already_exists(chain: Chain) -> None:
    admin = await chain.admin()
    taken = await register(chain, pb.Member(phone=unique_phone()))
    member = await register(chain, pb.Member(phone=unique_phone()))
    error = await refused(
        chain.identity.UpdateMember(
            pb.UpdateMemberRequest(
                member=pb.Member(member_id=member.member_id, phone=taken.phone),
                update_mask=field_mask_pb2.FieldMask(paths=["phone"]),
            ),
            metadata=admin.auth,
        )
    )
    assert error.code() is grpc.StatusCode.ALREADY_EXISTS
    assert violated_fields(error) == ["member.phone"]


# ---- payment accounts ----------------------------------------------------------------


async def test_linked_payment_account_resolves_to_its_member(chain: Chain) -> None:
    store = await chain.store()
    member = await chain.member(store.store_id)
    receipts = await chain.service("receipts")
    token = f"wx-openid-{secrets.token_hex(12)}"

    linked = await chain.identity.LinkPaymentAccount(
        pb.LinkPaymentAccountRequest(member_id=member.subject, provider="wechat_pay", account_token=token),
        metadata=member.auth,
    )
    account = linked.payment_account
    assert account.member_id == member.subject
    assert account.provider == "wechat_pay"
    assert account.hint == token[-4:]
    assert token.encode() not in linked.SerializeToString()

    resolved = await chain.identity.ResolvePaymentAccount(
        pb.ResolvePaymentAccountRequest(provider="wechat_pay", account_token=token), metadata=receipts.auth
    )
    assert resolved.member_id == member.subject

    # Linking the same account again is a no-op, not a second account.
    again = await chain.identity.LinkPaymentAccount(
        pb.LinkPaymentAccountRequest(member_id=member.subject, provider="wechat_pay", account_token=token),
        metadata=member.auth,
    )
    assert again.payment_account.payment_account_id == account.payment_account_id


async def test_payment_account_refusals_do_not_echo_the_token(chain: Chain) -> None:
    store = await chain.store()
    member = await chain.member(store.store_id)
    other = await chain.member(store.store_id)
    receipts = await chain.service("receipts")
    token = f"card-{secrets.token_hex(16)}"
    await chain.identity.LinkPaymentAccount(
        pb.LinkPaymentAccountRequest(member_id=member.subject, provider="card", account_token=token),
        metadata=member.auth,
    )

    def echoes(error: grpc.aio.AioRpcError) -> bool:
        status = rpc_status.from_call(error)
        carried = (error.details() or "").encode() + (status.SerializeToString() if status else b"")
        return token.encode() in carried or token[:-4].encode() in carried

    # The token is bound to its provider: the same token under another issuer is unknown.
    for provider, account_token in (("card", f"card-{secrets.token_hex(16)}"), ("alipay", token)):
        error = await refused(
            chain.identity.ResolvePaymentAccount(
                pb.ResolvePaymentAccountRequest(provider=provider, account_token=account_token), metadata=receipts.auth
            )
        )
        assert error.code() is grpc.StatusCode.NOT_FOUND
        assert not echoes(error)

    taken = await refused(
        chain.identity.LinkPaymentAccount(
            pb.LinkPaymentAccountRequest(member_id=other.subject, provider="card", account_token=token),
            metadata=other.auth,
        )
    )
    assert taken.code() is grpc.StatusCode.ALREADY_EXISTS
    assert violated_fields(taken) == ["account_token"]
    assert not echoes(taken)

    for provider, account_token, field in (
        ("Card", token, "provider"),
        ("", token, "provider"),
        ("card", "short", "account_token"),
        ("card", "x" * 257, "account_token"),
        ("card", "line\nbreak-token", "account_token"),
    ):
        error = await refused(
            chain.identity.ResolvePaymentAccount(
                pb.ResolvePaymentAccountRequest(provider=provider, account_token=account_token), metadata=receipts.auth
            )
        )
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert violated_fields(error) == [field]
        assert not echoes(error)


# ---- consent -------------------------------------------------------------------------


async def test_consent_round_trip_and_withdrawal(chain: Chain) -> None:
    store = await chain.store()
    member = await chain.member(store.store_id)
    initial = (
        await chain.identity.GetConsent(pb.GetConsentRequest(member_id=member.subject), metadata=member.auth)
    ).consents
    # One entry per purpose; purposes never set read as not granted and carry no time.
    assert [c.purpose for c in initial] == [
        MARKETING,
        common_pb2.CONSENT_PURPOSE_LOCATION,
        common_pb2.CONSENT_PURPOSE_PROFILING,
        SOCIAL,
    ]
    assert not any(c.granted or c.HasField("update_time") for c in initial)

    before = datetime.now(UTC) - timedelta(seconds=1)
    given = (
        await chain.identity.SetConsent(
            pb.SetConsentRequest(member_id=member.subject, purpose=MARKETING, granted=True), metadata=member.auth
        )
    ).consent
    assert given.purpose == MARKETING
    assert given.granted
    assert before <= when(given.update_time) <= datetime.now(UTC) + timedelta(seconds=1)
    read = {
        c.purpose: c
        for c in (
            await chain.identity.GetConsent(pb.GetConsentRequest(member_id=member.subject), metadata=member.auth)
        ).consents
    }
    assert read[MARKETING] == given
    assert not read[SOCIAL].granted

    withdrawn = (
        await chain.identity.SetConsent(
            pb.SetConsentRequest(member_id=member.subject, purpose=MARKETING, granted=False), metadata=member.auth
        )
    ).consent
    assert not withdrawn.granted
    assert when(withdrawn.update_time) >= when(given.update_time)
    read = {
        c.purpose: c
        for c in (
            await chain.identity.GetConsent(pb.GetConsentRequest(member_id=member.subject), metadata=member.auth)
        ).consents
    }
    assert read[MARKETING] == withdrawn


async def test_consent_changes_are_published(platform: Platform, chain: Chain) -> None:
    store = await chain.store()
    member = await chain.member(store.store_id)
    for granted in (True, False):
        await chain.identity.SetConsent(
            pb.SetConsentRequest(member_id=member.subject, purpose=MARKETING, granted=granted), metadata=member.auth
        )
    changes = await wait_for_event(
        platform, events.ConsentChanged, lambda e: e.member_id == member.subject and not e.granted
    )
    assert len(changes) == 1
    every = [
        (p.purpose, p.granted)
        for _, p in await published(platform.nats.url, "identity", events.ConsentChanged)
        if p.member_id == member.subject
    ]
    assert every == [(MARKETING, True), (MARKETING, False)]


# ---- friends -------------------------------------------------------------------------


async def test_friends_need_both_members_social_consent(chain: Chain) -> None:
    store = await chain.store()
    alice = await chain.member(store.store_id, consents=[SOCIAL])
    bob = await chain.member(store.store_id, consents=[MARKETING])

    add = pb.AddFriendRequest(member_id=alice.subject, friend_member_id=bob.subject)
    error = await refused(chain.identity.AddFriend(add, metadata=alice.auth))
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert precondition_violations(error) == [("CONSENT_SOCIAL", bob.subject)]
    assert await friends_of(chain, alice) == []

    await chain.identity.SetConsent(
        pb.SetConsentRequest(member_id=bob.subject, purpose=SOCIAL, granted=True), metadata=bob.auth
    )
    link = (await chain.identity.AddFriend(add, metadata=alice.auth)).link
    assert (link.member_id, link.friend_member_id) == (alice.subject, bob.subject)
    assert link.HasField("create_time")
    assert await friends_of(chain, alice) == [bob.subject]
    assert await friends_of(chain, bob) == [alice.subject]
    # Adding again keeps the one link.
    again = (await chain.identity.AddFriend(add, metadata=alice.auth)).link
    assert again.create_time == link.create_time
    assert await friends_of(chain, alice) == [bob.subject]

    # Either side may remove it; it goes from both lists.
    await chain.identity.RemoveFriend(
        pb.RemoveFriendRequest(member_id=bob.subject, friend_member_id=alice.subject), metadata=bob.auth
    )
    assert await friends_of(chain, alice) == []
    assert await friends_of(chain, bob) == []
    gone = pb.RemoveFriendRequest(member_id=alice.subject, friend_member_id=bob.subject)
    assert await status_of(chain.identity.RemoveFriend(gone, metadata=alice.auth)) is grpc.StatusCode.NOT_FOUND


async def test_withdrawing_social_consent_ends_friendships(chain: Chain) -> None:
    store = await chain.store()
    alice = await chain.member(store.store_id, consents=[SOCIAL])
    bob = await chain.member(store.store_id, consents=[SOCIAL])
    carol = await chain.member(store.store_id, consents=[SOCIAL])
    for friend in (bob, carol):
        await chain.identity.AddFriend(
            pb.AddFriendRequest(member_id=alice.subject, friend_member_id=friend.subject), metadata=alice.auth
        )
    assert sorted(await friends_of(chain, alice)) == sorted([bob.subject, carol.subject])

    await chain.identity.SetConsent(
        pb.SetConsentRequest(member_id=bob.subject, purpose=SOCIAL, granted=False), metadata=bob.auth
    )
    assert await friends_of(chain, alice) == [carol.subject]
    assert await friends_of(chain, bob) == []
    assert await friends_of(chain, carol) == [alice.subject]


async def test_a_member_cannot_befriend_themself_or_nobody(chain: Chain) -> None:
    store = await chain.store()
    alice = await chain.member(store.store_id, consents=[SOCIAL])
    themself = pb.AddFriendRequest(member_id=alice.subject, friend_member_id=alice.subject)
    assert await invalid_fields(chain.identity.AddFriend(themself, metadata=alice.auth)) == ["friend_member_id"]
    malformed = pb.AddFriendRequest(member_id=alice.subject, friend_member_id="bob")
    assert await invalid_fields(chain.identity.AddFriend(malformed, metadata=alice.auth)) == ["friend_member_id"]
    nobody = pb.AddFriendRequest(member_id=alice.subject, friend_member_id=new_id())
    assert await status_of(chain.identity.AddFriend(nobody, metadata=alice.auth)) is grpc.StatusCode.NOT_FOUND
    bad_page = pb.ListFriendsRequest(member_id=alice.subject, page_size=-5)
    assert await invalid_fields(chain.identity.ListFriends(bad_page, metadata=alice.auth)) == ["page_size"]


# ---- advisors ------------------------------------------------------------------------


async def test_first_associate_stays_advisor_until_a_manager_changes_it(chain: Chain, platform: Platform) -> None:
    store = await chain.store()
    first = await chain.staff(ASSOCIATE, [store.store_id])
    second = await chain.staff(ASSOCIATE, [store.store_id])
    manager = await chain.staff(STORE_MANAGER, [store.store_id])
    member = await chain.member(store.store_id)

    def bind(staff_id: str) -> pb.BindAdvisorRequest:
        return pb.BindAdvisorRequest(member_id=member.subject, staff_id=staff_id, store_id=store.store_id)

    served = await chain.identity.BindAdvisor(bind(first.subject), metadata=first.auth)
    assert served.changed
    assert (served.binding.staff_id, served.binding.store_id, served.binding.bound_by) == (
        first.subject,
        store.store_id,
        first.subject,
    )

    # A second associate serving the member later does not take them over.
    later = await chain.identity.BindAdvisor(bind(second.subject), metadata=second.auth)
    assert not later.changed
    assert later.binding.staff_id == first.subject
    assert later.binding.bind_time == served.binding.bind_time
    # Nor may an associate bind a colleague.
    assert (
        await status_of(chain.identity.BindAdvisor(bind(second.subject), metadata=first.auth))
        is grpc.StatusCode.PERMISSION_DENIED
    )
    assert await advised_by(chain, first) == [member.subject]
    assert await advised_by(chain, second) == []

    changed = await chain.identity.BindAdvisor(bind(second.subject), metadata=manager.auth)
    assert changed.changed
    assert (changed.binding.staff_id, changed.binding.bound_by) == (second.subject, manager.subject)
    current = await chain.identity.GetAdvisor(pb.GetAdvisorRequest(member_id=member.subject), metadata=member.auth)
    assert current.binding == changed.binding
    assert await advised_by(chain, second) == [member.subject]
    assert await advised_by(chain, first) == []
    # Binding the current advisor again changes nothing.
    same = await chain.identity.BindAdvisor(bind(second.subject), metadata=manager.auth)
    assert not same.changed
    assert same.binding == changed.binding
    # Each change is published with when it was made: receipts attributes sales as of their time.
    bound = await wait_for_event(
        platform, events.AdvisorBound, lambda e: e.member_id == member.subject and e.staff_id == second.subject
    )
    assert [(e.store_id, e.bind_time) for e in bound] == [(store.store_id, changed.binding.bind_time)]


async def test_a_service_binds_only_the_first_advisor(chain: Chain) -> None:
    store = await chain.store()
    first = await chain.staff(ASSOCIATE, [store.store_id])
    second = await chain.staff(ASSOCIATE, [store.store_id])
    member = await chain.member(store.store_id)
    receipts = await chain.service("receipts")
    for associate, expected_changed in ((first, True), (second, False)):
        reply = await chain.identity.BindAdvisor(
            pb.BindAdvisorRequest(member_id=member.subject, staff_id=associate.subject), metadata=receipts.auth
        )
        assert reply.changed is expected_changed
        assert reply.binding.staff_id == first.subject
        # Without a store named, the binding is made in the advisor's store.
        assert reply.binding.store_id == store.store_id
        assert reply.binding.bound_by == "receipts"


async def test_advisor_must_be_store_staff_working_in_the_store(chain: Chain) -> None:
    store, elsewhere = await chain.store(), await chain.store()
    manager = await chain.staff(STORE_MANAGER, [store.store_id])
    outside_associate = await chain.staff(ASSOCIATE, [elsewhere.store_id])
    owner = await chain.staff(OWNER)
    member = await chain.member(store.store_id)
    admin = await chain.admin()

    wrong_store = await refused(
        chain.identity.BindAdvisor(
            pb.BindAdvisorRequest(
                member_id=member.subject, staff_id=outside_associate.subject, store_id=store.store_id
            ),
            metadata=manager.auth,
        )
    )
    assert wrong_store.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert precondition_violations(wrong_store) == [("ADVISOR_STORE", "store_id")]

    not_store_staff = await refused(
        chain.identity.BindAdvisor(
            pb.BindAdvisorRequest(member_id=member.subject, staff_id=owner.subject), metadata=admin.auth
        )
    )
    assert not_store_staff.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert precondition_violations(not_store_staff) == [("ADVISOR_ROLE", owner.subject)]

    unknown = pb.BindAdvisorRequest(member_id=member.subject, staff_id=new_id())
    assert await status_of(chain.identity.BindAdvisor(unknown, metadata=admin.auth)) is grpc.StatusCode.NOT_FOUND
    no_advisor = pb.GetAdvisorRequest(member_id=member.subject)
    assert await status_of(chain.identity.GetAdvisor(no_advisor, metadata=admin.auth)) is grpc.StatusCode.NOT_FOUND


async def test_a_manager_cannot_bind_an_advisor_outside_their_stores_by_omitting_the_store(chain: Chain) -> None:
    store, elsewhere = await chain.store(), await chain.store()
    manager_elsewhere = await chain.staff(STORE_MANAGER, [elsewhere.store_id])
    associate = await chain.staff(ASSOCIATE, [store.store_id])
    member = await chain.member(store.store_id)
    # Naming the store is refused; leaving it out must not be a way around that.
    for store_id in (store.store_id, ""):
        request = pb.BindAdvisorRequest(member_id=member.subject, staff_id=associate.subject, store_id=store_id)
        assert (
            await status_of(chain.identity.BindAdvisor(request, metadata=manager_elsewhere.auth))
            is grpc.StatusCode.PERMISSION_DENIED
        )
    assert await advised_by(chain, associate) == []


# ---- erasure -------------------------------------------------------------------------


async def test_erasure_removes_personal_data_and_is_published(platform: Platform, chain: Chain) -> None:
    store = await chain.store()
    manager = await chain.staff(STORE_MANAGER, [store.store_id])
    associate = await chain.staff(ASSOCIATE, [store.store_id])
    receipts = await chain.service("receipts")
    member = await chain.member(
        store.store_id,
        consents=[MARKETING, SOCIAL],
        email="erase.me@example.com",
        display_name="Erase Me",
        birth_year=1980,
        tags=["vip"],
    )
    friend = await chain.member(store.store_id, consents=[SOCIAL])
    token = secrets.token_hex(12)
    profile = (
        await chain.identity.GetMember(pb.GetMemberRequest(member_id=member.subject), metadata=member.auth)
    ).member
    await chain.identity.LinkPaymentAccount(
        pb.LinkPaymentAccountRequest(member_id=member.subject, provider="alipay", account_token=token),
        metadata=member.auth,
    )
    await chain.identity.AddFriend(
        pb.AddFriendRequest(member_id=member.subject, friend_member_id=friend.subject), metadata=member.auth
    )
    await chain.identity.BindAdvisor(
        pb.BindAdvisorRequest(member_id=member.subject, staff_id=associate.subject), metadata=associate.auth
    )

    erased = await chain.identity.EraseMember(pb.EraseMemberRequest(member_id=member.subject), metadata=manager.auth)
    assert erased.member_id == member.subject
    assert erased.HasField("erase_time")

    # Only the id remains, for anonymous totals; with no home store left, only chain-wide
    # staff still reach the record.
    admin = await chain.admin()
    scrubbed = (
        await chain.identity.GetMember(pb.GetMemberRequest(member_id=member.subject), metadata=admin.auth)
    ).member
    assert scrubbed.state == pb.MEMBER_STATE_ERASED
    assert scrubbed.member_id == member.subject
    assert (scrubbed.phone, scrubbed.email, scrubbed.display_name, scrubbed.home_store_id) == ("", "", "", "")
    assert (scrubbed.birth_year, list(scrubbed.tags)) == (0, [])

    resolve = pb.ResolvePaymentAccountRequest(provider="alipay", account_token=token)
    assert await status_of(chain.identity.ResolvePaymentAccount(resolve, metadata=receipts.auth)) is (
        grpc.StatusCode.NOT_FOUND
    )
    assert await friends_of(chain, friend) == []
    assert await advised_by(chain, associate) == []
    for call in (
        chain.identity.GetConsent(pb.GetConsentRequest(member_id=member.subject), metadata=admin.auth),
        chain.identity.SetConsent(
            pb.SetConsentRequest(member_id=member.subject, purpose=MARKETING, granted=True), metadata=admin.auth
        ),
        chain.identity.UpdateMember(
            pb.UpdateMemberRequest(
                member=pb.Member(member_id=member.subject, display_name="Back"),
                update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
            ),
            metadata=admin.auth,
        ),
        chain.identity.LinkPaymentAccount(
            pb.LinkPaymentAccountRequest(member_id=member.subject, provider="alipay", account_token=token),
            metadata=admin.auth,
        ),
    ):
        assert await status_of(call) is grpc.StatusCode.FAILED_PRECONDITION
    # The phone number is free again.
    again = await register(chain, pb.Member(phone=profile.phone))
    assert again.member_id != member.subject

    # Erasing twice answers the first erasure.
    twice = await chain.identity.EraseMember(pb.EraseMemberRequest(member_id=member.subject), metadata=admin.auth)
    assert twice.erase_time == erased.erase_time

    notices = await wait_for_event(platform, events.MemberErased, lambda e: e.member_id == member.subject)
    assert len(notices) == 1
    assert notices[0].erase_time == erased.erase_time


# ---- listing -------------------------------------------------------------------------


async def test_list_stores_pages_through_every_store_once(chain: Chain) -> None:
    admin = await chain.admin()
    region = unique("page").lower()
    created = {(await chain.store(region=region)).store_id for _ in range(7)}
    await chain.store(region=unique("other").lower())

    seen: list[str] = []
    sizes: list[int] = []
    token = ""
    while True:
        page = await chain.identity.ListStores(
            pb.ListStoresRequest(region=region.upper(), page_size=3, page_token=token), metadata=admin.auth
        )
        sizes.append(len(page.stores))
        seen += [s.store_id for s in page.stores]
        assert all(s.region == region for s in page.stores)
        token = page.next_page_token
        if not token:
            break
    assert sizes == [3, 3, 1]
    assert len(seen) == len(set(seen))
    assert set(seen) == created


async def test_list_staff_pages_through_every_member_of_staff_once(chain: Chain) -> None:
    admin = await chain.admin()
    store = await chain.store()
    created = set()
    for _ in range(6):
        reply = await chain.identity.CreateStaff(staff_request([store.store_id]), metadata=admin.auth)
        created.add(reply.staff.staff_id)
    await chain.identity.CreateStaff(staff_request([(await chain.store()).store_id]), metadata=admin.auth)

    seen: list[str] = []
    sizes: list[int] = []
    token = ""
    while True:
        page = await chain.identity.ListStaff(
            pb.ListStaffRequest(store_id=store.store_id, page_size=3, page_token=token), metadata=admin.auth
        )
        sizes.append(len(page.staff))
        seen += [s.staff_id for s in page.staff]
        assert all(list(s.store_ids) == [store.store_id] for s in page.staff)
        token = page.next_page_token
        if not token:
            break
    # A last page that is exactly full carries no token to an empty page.
    assert sizes == [3, 3]
    assert len(seen) == len(set(seen))
    assert set(seen) == created


async def test_a_store_manager_lists_only_their_stores_staff(chain: Chain) -> None:
    store, elsewhere = await chain.store(), await chain.store()
    manager = await chain.staff(STORE_MANAGER, [store.store_id])
    colleague = await chain.staff(ASSOCIATE, [store.store_id])
    await chain.staff(ASSOCIATE, [elsewhere.store_id])
    listed = await chain.identity.ListStaff(pb.ListStaffRequest(), metadata=manager.auth)
    assert {s.staff_id for s in listed.staff} == {manager.subject, colleague.subject}
    outside = pb.ListStaffRequest(store_id=elsewhere.store_id)
    assert await status_of(chain.identity.ListStaff(outside, metadata=manager.auth)) is (
        grpc.StatusCode.PERMISSION_DENIED
    )
