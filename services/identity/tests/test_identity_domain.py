"""Identity's pure rules, without a server: store reach, members and consent, staff creation,
advisors and friends, sign-in throttling, signing-key lifetimes and erasure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from o2o.common.v1 import common_pb2
from o2o_identity.domain import consent, credentials, erasure, members, relations, staff, stores, tokens
from o2o_runtime.auth import Kind, Principal, Role
from o2o_runtime.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
A, B, C = "store-a", "store-b", "store-c"


def staff_principal(role: Role, *store_ids: str, subject: str = "staff-1") -> Principal:
    return Principal(kind=Kind.STAFF, subject=subject, role=role, store_ids=frozenset(store_ids))


MEMBER = Principal(kind=Kind.MEMBER, subject="member-1")
SERVICE = Principal(kind=Kind.SERVICE, subject="receipts")
OWNER = staff_principal(Role.OWNER)
ADMIN = staff_principal(Role.ADMIN)


# ---- store reach ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("principal", "store_id", "reached"),
    [
        (staff_principal(Role.ASSOCIATE, A), A, True),
        (staff_principal(Role.ASSOCIATE, A), B, False),
        (staff_principal(Role.REGIONAL_MANAGER, A, B), B, True),
        (OWNER, C, True),
        (ADMIN, C, True),
        (SERVICE, C, True),
        (MEMBER, A, False),
    ],
)
def test_store_reach(principal: Principal, store_id: str, reached: bool) -> None:
    assert stores.reaches(principal, store_id) is reached


def test_reaching_several_stores_needs_every_one() -> None:
    manager = staff_principal(Role.STORE_MANAGER, A, B)
    assert stores.reaches_all(manager, {A, B})
    assert not stores.reaches_all(manager, {A, C})
    assert stores.reaches_all(OWNER, {A, B, C})


def test_staff_listing_is_bound_to_the_viewers_stores() -> None:
    manager = staff_principal(Role.STORE_MANAGER, B, A)
    assert stores.staff_listing_stores(manager, "") == [A, B]
    assert stores.staff_listing_stores(manager, A) == [A]
    with pytest.raises(PermissionDenied):
        stores.staff_listing_stores(manager, C)
    assert stores.staff_listing_stores(OWNER, "") is None
    assert stores.staff_listing_stores(OWNER, C) == [C]


@pytest.mark.parametrize(
    ("registrar", "home"),
    [
        (staff_principal(Role.ASSOCIATE, A), A),
        (staff_principal(Role.STORE_MANAGER, A, B), None),
        (staff_principal(Role.REGIONAL_MANAGER), None),
        (OWNER, ""),
        (Principal(kind=Kind.PARTNER, subject="key-1", scopes=frozenset({"members:write"})), ""),
    ],
)
def test_default_home_store_is_the_registrars_only_store(registrar: Principal, home: str | None) -> None:
    assert stores.default_home_store(registrar) == home


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        ("SH-001", True),
        ("sh_001", True),
        ("-", False),
        ("", False),
        ("A" * 32, True),
        ("A" * 33, False),
        ("SH 001", False),
        ("SH/001", False),
    ],
)
def test_store_codes(code: str, valid: bool) -> None:
    assert stores.valid_store_code(code) is valid


@pytest.mark.parametrize(
    ("zone", "valid"),
    [("Asia/Shanghai", True), ("UTC", True), ("Mars/Olympus_Mons", False), ("../../etc/passwd", False)],
)
def test_store_time_zones_are_iana_names(zone: str, valid: bool) -> None:
    assert stores.valid_time_zone(zone) is valid


# ---- members -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("+8613800138000", "+8613800138000"),
        ("+86 138 0013 8000", "+8613800138000"),
        ("12", None),
        ("+86", None),
        ("not a number", None),
    ],
)
def test_phone_numbers_are_normalized_to_e164(raw: str, normalized: str | None) -> None:
    assert members.normalize_phone(raw) == normalized


@pytest.mark.parametrize(
    ("email", "valid"),
    [("li.na@example.com", True), ("li.na@example", False), ("@example.com", False), ("a\x00@b.cn", False)],
)
def test_email_addresses(email: str, valid: bool) -> None:
    assert members.valid_email(email) is valid


@pytest.mark.parametrize(
    ("year", "month", "day", "problem"),
    [
        (0, 0, 0, None),
        (1992, 0, 0, None),
        (1992, 2, 29, None),
        (1899, 0, 0, "birth_year"),
        (2027, 0, 0, "birth_year"),
        (0, 13, 0, "birth_month"),
        (0, 2, 32, "birth_day"),
        (0, 0, 5, "birth_month"),
        (1993, 2, 29, "birth_day"),
        (0, 2, 30, None),
    ],
)
def test_birth_date_parts(year: int, month: int, day: int, problem: str | None) -> None:
    found = members.birth_date_problem(year, month, day, NOW)
    assert (found[0] if found else None) == problem


def test_a_member_belongs_to_their_home_store_and_their_advisors_store() -> None:
    assert members.member_stores(A, B) == {A, B}
    assert members.member_stores(A, "") == {A}
    assert members.member_stores("", "") == frozenset()


@dataclass
class Found:
    erased: bool


def test_only_an_existing_active_member_can_be_acted_on() -> None:
    active = Found(erased=False)
    assert members.require_active(active, "m-1") is active
    with pytest.raises(NotFound):
        members.require_active(None, "m-1")
    with pytest.raises(FailedPrecondition) as refused:
        members.require_active(Found(erased=True), "m-1", "friend_member_id")
    assert (refused.value.violation_type, refused.value.subject) == ("MEMBER_ERASED", "friend_member_id")


# ---- consent -----------------------------------------------------------------------


def test_every_purpose_is_listed_and_an_unanswered_one_is_not_granted() -> None:
    marketing = consent.Consent(common_pb2.CONSENT_PURPOSE_MARKETING, True, NOW)
    listed = consent.consent_list({marketing.purpose: marketing})
    assert [c.purpose for c in listed] == list(consent.ALL_PURPOSES)
    assert listed[0] == marketing
    assert all(not c.granted and c.updated_at is None for c in listed[1:])


def test_only_withdrawing_social_consent_ends_friendships() -> None:
    assert consent.ends_friendships(consent.SOCIAL, granted=False)
    assert not consent.ends_friendships(consent.SOCIAL, granted=True)
    assert not consent.ends_friendships(common_pb2.CONSENT_PURPOSE_MARKETING, granted=False)


def test_friendship_needs_both_members_social_consent() -> None:
    consent.require_social_consent(("m-1", "m-2"), {"m-1": True, "m-2": True})
    for answers, lacking in (({"m-1": True}, "m-2"), ({"m-1": False, "m-2": True}, "m-1")):
        with pytest.raises(FailedPrecondition) as refused:
            consent.require_social_consent(("m-1", "m-2"), answers)
        assert (refused.value.violation_type, refused.value.subject) == ("CONSENT_SOCIAL", lacking)


# ---- staff -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("creator", "role", "store_ids", "allowed"),
    [
        (ADMIN, Role.ADMIN, set(), True),
        (OWNER, Role.REGIONAL_MANAGER, set(), True),
        (OWNER, Role.OWNER, set(), False),
        (staff_principal(Role.REGIONAL_MANAGER, A, B), Role.STORE_MANAGER, {A, B}, True),
        (staff_principal(Role.REGIONAL_MANAGER, A, B), Role.REGIONAL_MANAGER, set(), False),
        (staff_principal(Role.REGIONAL_MANAGER, A), Role.ASSOCIATE, {C}, False),
        (staff_principal(Role.STORE_MANAGER, A), Role.ASSOCIATE, {A}, True),
        (staff_principal(Role.STORE_MANAGER, A), Role.ASSOCIATE, {A, B}, False),
        (staff_principal(Role.STORE_MANAGER, A), Role.STORE_MANAGER, {A}, False),
        (staff_principal(Role.ASSOCIATE, A), Role.ASSOCIATE, {A}, False),
    ],
)
def test_who_may_create_which_staff(creator: Principal, role: Role, store_ids: set[str], allowed: bool) -> None:
    if allowed:
        staff.check_staff_creation(creator, role, frozenset(store_ids))
    else:
        with pytest.raises(PermissionDenied):
            staff.check_staff_creation(creator, role, frozenset(store_ids))


def test_a_staff_token_acts_in_the_stores_of_the_role() -> None:
    assert staff.token_stores(Role.ASSOCIATE, [A], [A, B, C]) == {A}
    assert staff.token_stores(Role.REGIONAL_MANAGER, [A], [B, C]) == {B, C}
    assert staff.token_stores(Role.OWNER, [A], [B]) == frozenset()


def test_roles_are_ordered_by_reach() -> None:
    ranks = [staff.RANK[staff.ROLE_BY_NUMBER[n]] for n in sorted(staff.ROLE_BY_NUMBER)]
    assert ranks == sorted(ranks)
    assert staff.ROLE_BY_NUMBER[common_pb2.STAFF_ROLE_ADMIN] is Role.ADMIN
    assert all(staff.NUMBER_BY_ROLE[role] == number for number, role in staff.ROLE_BY_NUMBER.items())


# ---- advisors and friends ----------------------------------------------------------


def test_the_first_associate_stays_advisor_until_a_manager_changes_it() -> None:
    first = staff_principal(Role.ASSOCIATE, A, subject="assoc-1")
    second = staff_principal(Role.ASSOCIATE, A, subject="assoc-2")
    manager = staff_principal(Role.STORE_MANAGER, A, subject="manager-1")
    assert relations.rebinds_advisor(first, None, "assoc-1", Role.ASSOCIATE)
    assert not relations.rebinds_advisor(first, "assoc-1", "assoc-1", Role.ASSOCIATE)
    assert not relations.rebinds_advisor(second, "assoc-1", "assoc-2", Role.ASSOCIATE)
    assert relations.rebinds_advisor(manager, "assoc-1", "assoc-2", Role.ASSOCIATE)
    assert relations.rebinds_advisor(SERVICE, None, "assoc-1", Role.ASSOCIATE)
    assert not relations.rebinds_advisor(SERVICE, "assoc-1", "assoc-2", Role.ASSOCIATE)


def test_an_associate_binds_only_themself_and_an_advisor_serves_in_stores() -> None:
    with pytest.raises(PermissionDenied):
        relations.rebinds_advisor(
            staff_principal(Role.ASSOCIATE, A, subject="assoc-1"), None, "assoc-2", Role.ASSOCIATE
        )
    for role in (Role.REGIONAL_MANAGER, Role.OWNER, Role.ADMIN):
        with pytest.raises(FailedPrecondition) as refused:
            relations.rebinds_advisor(OWNER, None, "staff-9", role)
        assert refused.value.violation_type == "ADVISOR_ROLE"


def test_the_advisor_is_bound_where_they_work() -> None:
    assert relations.advisor_store(B, [A, B]) == B
    assert relations.advisor_store("", [A, B]) == A
    assert relations.advisor_store("", []) == ""
    with pytest.raises(FailedPrecondition) as refused:
        relations.advisor_store(C, [A, B])
    assert refused.value.violation_type == "ADVISOR_STORE"


def test_a_binding_in_the_advisors_first_store_must_be_within_the_callers_reach() -> None:
    relations.check_advisor_store_reach(staff_principal(Role.STORE_MANAGER, A), A)
    relations.check_advisor_store_reach(OWNER, C)
    relations.check_advisor_store_reach(SERVICE, C)
    with pytest.raises(PermissionDenied):
        relations.check_advisor_store_reach(staff_principal(Role.STORE_MANAGER, A), B)


def test_a_member_cannot_befriend_themself() -> None:
    relations.check_friendship(relations.Friendship("m-1", "m-2"))
    with pytest.raises(InvalidArgument):
        relations.check_friendship(relations.Friendship("m-1", "m-1"))


# ---- credentials and sign-in throttling --------------------------------------------


def test_api_keys_are_found_by_their_prefix() -> None:
    prefix, key = credentials.new_api_key()
    assert credentials.api_key_prefix(key) == prefix
    for malformed in ("", "o2o_short_x", f"key_{prefix}_x", prefix):
        assert credentials.api_key_prefix(malformed) is None


def test_payment_account_hashes_are_keyed_and_hints_short() -> None:
    assert credentials.keyed_hash(b"k1", "card", "4111") != credentials.keyed_hash(b"k2", "card", "4111")
    assert credentials.keyed_hash(b"k1", "card", "4111") != credentials.keyed_hash(b"k1", "car", "d4111")
    assert credentials.hint_of("4111111111111111") == "1111"
    assert credentials.hint_of("12345678") == ""


def test_only_member_scopes_act_for_members() -> None:
    assert credentials.may_act_for_members(["members:read"])
    assert not credentials.may_act_for_members(["stores:read", "receipts:write"])


def test_the_first_failures_are_free_then_waits_double() -> None:
    free = credentials.FREE_FAILURES
    assert all(credentials.lock_after_failure(n, NOW) is None for n in range(free))
    waits = [credentials.lock_after_failure(free + n, NOW) for n in range(3)]
    assert [w - NOW for w in waits if w] == [timedelta(seconds=1), timedelta(seconds=2), timedelta(seconds=4)]


@given(st.integers(min_value=0, max_value=10**6))
def test_a_lock_never_exceeds_the_longest_wait(failures: int) -> None:
    locked = credentials.lock_after_failure(failures, NOW)
    assert locked is None or NOW < locked <= NOW + credentials.MAX_LOCK


def test_a_login_failing_for_days_stays_locked_for_the_longest_wait() -> None:
    assert credentials.lock_after_failure(10_000, NOW) == NOW + credentials.MAX_LOCK


def test_old_failures_are_forgotten() -> None:
    recent = NOW - credentials.FAILURE_MEMORY + timedelta(seconds=1)
    assert credentials.failures_so_far(7, recent, NOW) == 7
    assert credentials.failures_so_far(7, NOW - credentials.FAILURE_MEMORY - timedelta(seconds=1), NOW) == 0
    assert credentials.failures_so_far(7, None, NOW) == 0


def test_wait_left_of_a_locked_login() -> None:
    assert credentials.wait_left(NOW + timedelta(seconds=3), NOW) == 3.0
    assert credentials.wait_left(NOW, NOW) == 0.0
    assert credentials.wait_left(None, NOW) == 0.0


# ---- signing keys --------------------------------------------------------------------


def test_a_retired_key_stays_published_until_its_last_token_expired() -> None:
    assert tokens.keep_published_for(900, 3600) == timedelta(seconds=3600) + tokens.RETIREMENT_MARGIN
    assert tokens.keep_published_for(7200, 3600) == timedelta(seconds=7200) + tokens.RETIREMENT_MARGIN


def test_rotation_is_due_on_demand_without_keys_or_once_the_newest_is_old() -> None:
    every = timedelta(days=30)
    assert tokens.rotation_due(NOW, NOW, None)
    assert tokens.rotation_due(None, NOW, every)
    assert tokens.rotation_due(NOW - every, NOW, every)
    assert not tokens.rotation_due(NOW - every + timedelta(seconds=1), NOW, every)


def test_jwk_integers_are_unpadded_base64url() -> None:
    assert tokens.b64url_uint(65537) == "AQAB"


# ---- erasure -------------------------------------------------------------------------


def test_erasure_blanks_every_profile_field_and_frees_the_phone() -> None:
    blanked = erasure.erased_profile()
    assert set(members.PROFILE_FIELDS) <= set(blanked)
    assert blanked["phone"] is None
    assert blanked["erased"] is True
    personal = {name: value for name, value in blanked.items() if name not in ("phone", "erased")}
    assert all(not value for value in personal.values())
