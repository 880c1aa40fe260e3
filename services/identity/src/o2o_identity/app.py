"""Identity's use cases: one transaction each, rules from domain, rows from store, events
through the outbox. Callers (the gRPC layer) pass validated values and get rows back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from o2o.common.v1 import common_pb2
from o2o.events.v1 import identity_events_pb2 as events
from o2o_runtime.auth import Kind, Principal, Resource, Role
from o2o_runtime.db import Database
from o2o_runtime.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
)
from o2o_runtime.events import emit
from o2o_runtime.ids import new_id
from o2o_runtime.pagination import Page, PageRequest
from o2o_runtime.revocation import ErasedMembers
from o2o_runtime.timeutil import as_utc, utcnow
from o2o_runtime.validation import Violations
from o2o_runtime.wellknown import to_timestamp
from sqlalchemy.exc import IntegrityError

from o2o_identity import domain
from o2o_identity.settings import IdentitySettings
from o2o_identity.store import (
    AdvisorRow,
    ApiKeyRow,
    ConsentRow,
    DeviceRow,
    FriendRow,
    LoginAttemptRow,
    MemberRow,
    PaymentAccountRow,
    Repository,
    StaffRow,
    StaffStoreRow,
    StoreRow,
)
from o2o_identity.tokens import Signer, new_signing_key, retire_previous

SegmentEvent = TypeVar("SegmentEvent", events.MemberRegistered, events.MemberUpdated)
PRODUCER = "identity"
log = logging.getLogger("o2o.identity")
INVALID_CREDENTIALS = "invalid credentials"
SOCIAL = common_pb2.CONSENT_PURPOSE_SOCIAL
ALL_PURPOSES = (
    common_pb2.CONSENT_PURPOSE_MARKETING,
    common_pb2.CONSENT_PURPOSE_LOCATION,
    common_pb2.CONSENT_PURPOSE_PROFILING,
    common_pb2.CONSENT_PURPOSE_SOCIAL,
)


@dataclass
class MemberProfile:
    phone: str = ""
    email: str = ""
    display_name: str = ""
    birth_year: int = 0
    birth_month: int = 0
    birth_day: int = 0
    gender: int = 0
    income_band: int = 0
    tags: list[str] = field(default_factory=list)
    home_store_id: str = ""


PROFILE_FIELDS = tuple(MemberProfile.__dataclass_fields__)


@dataclass(frozen=True)
class IssuedToken:
    token: str
    ttl: timedelta
    principal: Principal


@dataclass(frozen=True)
class StaffView:
    row: StaffRow
    store_ids: list[str]


def _could_exist(resource_id: str) -> bool:
    """Whether an id has the shape of one the platform mints. Access checks resolve ids
    before the handler validates them; anything else names nothing and is kept from the
    database (PostgreSQL refuses some strings, such as ones holding NUL, outright)."""
    return Violations().resource_id("id", resource_id)


def _segment(row: MemberRow, event: type[SegmentEvent]) -> SegmentEvent:
    """The member's segment attributes, as carried by MemberRegistered and MemberUpdated."""
    return event(
        member_id=row.member_id,
        home_store_id=row.home_store_id,
        birth_year=row.birth_year,
        birth_month=row.birth_month,
        birth_day=row.birth_day,
        gender=row.gender,  # type: ignore[arg-type]
        income_band=row.income_band,  # type: ignore[arg-type]
        tags=list(row.tags),
    )


class Identity:
    def __init__(
        self, database: Database, settings: IdentitySettings, erased_members: ErasedMembers | None = None
    ) -> None:
        self.db = database
        self.settings = settings
        # Whose tokens this process refuses: identity adds each erasure as it commits.
        self.erased_members = erased_members if erased_members is not None else ErasedMembers()
        self.secret_key = settings.secret_key.get_secret_value().encode()
        self.signer = Signer(self.secret_key, settings.token_issuer, settings.token_audience)
        self.passwords = PasswordHasher()
        # Verifying against this when a login is unknown keeps response times alike.
        self._dummy_hash = self.passwords.hash(domain.new_secret())
        self._service_hashes = {name: domain.secret_hash(s) for name, s in settings.services().items()}

    # ---- stores ------------------------------------------------------------------

    async def create_store(self, store: StoreRow) -> StoreRow:
        store.store_id = new_id()
        store.created_at = utcnow()
        try:
            async with self.db.transaction() as session:
                repo = Repository(session)
                if await repo.store_by_code(store.code):
                    raise AlreadyExists(f"a store with code {store.code!r} exists", "store.code")
                repo.add(store)
        except IntegrityError:
            raise AlreadyExists(f"a store with code {store.code!r} exists", "store.code") from None
        return store

    async def get_store(self, store_id: str) -> StoreRow:
        async with self.db.read() as session:
            store = await Repository(session).store(store_id)
        if store is None:
            raise NotFound("store", store_id)
        return store

    async def list_stores(self, region: str, page: PageRequest) -> Page[StoreRow]:
        async with self.db.read() as session:
            rows = await Repository(session).stores(region, page)
        return Page.of(rows, page, "store_id")

    # ---- members -----------------------------------------------------------------

    async def register_member(self, profile: MemberProfile, consents: Sequence[int]) -> MemberRow:
        now = utcnow()
        row = MemberRow(member_id=new_id(), created_at=now, updated_at=now, **profile.__dict__)
        try:
            async with self.db.transaction() as session:
                repo = Repository(session)
                if row.home_store_id and await repo.store(row.home_store_id) is None:
                    raise InvalidArgument.field("member.home_store_id", "is not a known store")
                if await repo.member_by_phone(profile.phone):
                    raise AlreadyExists("a member with this phone number exists", "member.phone")
                repo.add(row)
                await repo.flush()
                repo.add(
                    *(ConsentRow(member_id=row.member_id, purpose=p, granted=True, updated_at=now) for p in consents)
                )
                registered = _segment(row, events.MemberRegistered)
                registered.consents.extend(consents)  # type: ignore[arg-type]
                emit(session, PRODUCER, registered, row.member_id)
        except IntegrityError:
            raise AlreadyExists("a member with this phone number exists", "member.phone") from None
        return row

    async def get_member(self, member_id: str) -> MemberRow:
        async with self.db.read() as session:
            row = await Repository(session).member(member_id)
        if row is None:
            raise NotFound("member", member_id)
        return row

    async def update_member(self, member_id: str, changes: dict[str, Any]) -> MemberRow:
        try:
            async with self.db.transaction() as session:
                repo = Repository(session)
                row = await repo.member(member_id, for_update=True)
                if row is None:
                    raise NotFound("member", member_id)
                if row.erased:
                    raise FailedPrecondition("the member was erased", "MEMBER_ERASED", member_id)
                year, month, day = (
                    int(changes.get(name, getattr(row, name))) for name in ("birth_year", "birth_month", "birth_day")
                )
                problem = domain.birth_date_problem(year, month, day, utcnow())
                if problem:
                    raise InvalidArgument.field(f"member.{problem[0]}", problem[1])
                if "phone" in changes and changes["phone"] != row.phone:
                    other = await repo.member_by_phone(str(changes["phone"]))
                    if other is not None:
                        raise AlreadyExists("a member with this phone number exists", "member.phone")
                if changes.get("home_store_id") and await repo.store(str(changes["home_store_id"])) is None:
                    raise InvalidArgument.field("member.home_store_id", "is not a known store")
                for name, value in changes.items():
                    setattr(row, name, value)
                row.updated_at = utcnow()
                session.add(row)
                emit(session, PRODUCER, _segment(row, events.MemberUpdated), member_id)
        except IntegrityError:
            raise AlreadyExists("a member with this phone number exists", "member.phone") from None
        return row

    async def erase_member(self, member_id: str) -> MemberRow:
        async with self.db.transaction() as session:
            repo = Repository(session)
            row = await repo.member(member_id, for_update=True)
            if row is None:
                raise NotFound("member", member_id)
            if row.erased:
                return row
            now = utcnow()
            blank = MemberProfile()
            for name in PROFILE_FIELDS:
                setattr(row, name, getattr(blank, name))
            row.phone = None
            row.erased = True
            row.updated_at = now
            session.add(row)
            await repo.erase_member_links(member_id)
            emit(session, PRODUCER, events.MemberErased(member_id=member_id, erase_time=to_timestamp(now)), member_id)
        self.erased_members.add(member_id, now)
        return row

    async def remember_erased(self) -> None:
        """Members erased recently enough that tokens of theirs may still be unexpired."""
        since = utcnow() - self.erased_members.remember_for
        async with self.db.read() as session:
            for member_id, erased_at in await Repository(session).erased_since(since):
                self.erased_members.add(member_id, as_utc(erased_at))

    async def member_resource(self, member_id: str) -> Resource | None:
        """A member belongs to their home store and the store where their advisor serves them."""
        if not _could_exist(member_id):
            return None
        async with self.db.read() as session:
            repo = Repository(session)
            row = await repo.member(member_id)
            if row is None:
                return None
            advisor = await repo.advisor(member_id)
        stores = {row.home_store_id} - {""}
        if advisor is not None:
            stores.add(advisor.store_id)
        return Resource(member_id=member_id, store_ids=frozenset(stores))

    async def _active_member(self, repo: Repository, member_id: str, field_name: str = "member_id") -> MemberRow:
        row = await repo.member(member_id)
        if row is None:
            raise NotFound("member", member_id)
        if row.erased:
            raise FailedPrecondition(f"member {member_id!r} was erased", "MEMBER_ERASED", field_name)
        return row

    # ---- payment accounts -------------------------------------------------------

    async def link_payment_account(self, member_id: str, provider: str, token: str) -> PaymentAccountRow:
        account_hash = domain.keyed_hash(self.secret_key, provider, token)
        try:
            async with self.db.transaction() as session:
                repo = Repository(session)
                await self._active_member(repo, member_id)
                existing = await repo.payment_account_by_hash(account_hash)
                if existing is not None:
                    if existing.member_id == member_id:
                        return existing
                    raise AlreadyExists("this payment account is linked to another member", "account_token")
                row = PaymentAccountRow(
                    payment_account_id=new_id(),
                    member_id=member_id,
                    provider=provider,
                    account_hash=account_hash,
                    hint=domain.hint_of(token),
                    created_at=utcnow(),
                )
                repo.add(row)
        except IntegrityError:
            raise AlreadyExists("this payment account is linked to another member", "account_token") from None
        return row

    async def resolve_payment_account(self, provider: str, token: str) -> str:
        async with self.db.read() as session:
            row = await Repository(session).payment_account_by_hash(domain.keyed_hash(self.secret_key, provider, token))
        if row is None:
            raise NotFound("payment account", f"{provider}:…{domain.hint_of(token)}")
        return row.member_id

    # ---- consent -----------------------------------------------------------------

    async def set_consent(self, member_id: str, purpose: int, granted: bool) -> ConsentRow:
        async with self.db.transaction() as session:
            repo = Repository(session)
            await self._active_member(repo, member_id)
            now = utcnow()
            row = await repo.consent(member_id, purpose)
            if row is None:
                row = ConsentRow(member_id=member_id, purpose=purpose, granted=granted, updated_at=now)
            else:
                row.granted, row.updated_at = granted, now
            session.add(row)
            emit(
                session,
                PRODUCER,
                events.ConsentChanged(
                    member_id=member_id,
                    purpose=purpose,  # type: ignore[arg-type]
                    granted=granted,
                    update_time=to_timestamp(now),
                ),
                member_id,
            )
            if purpose == SOCIAL and not granted:
                # Friend links live only while both members consent.
                page = PageRequest(size=10_000, after="", fingerprint="")
                for link in await repo.friends(member_id, page):
                    await repo.remove_friend_link(member_id, link.friend_member_id)
                    emit(
                        session,
                        PRODUCER,
                        events.FriendLinkChanged(
                            member_id=member_id, friend_member_id=link.friend_member_id, linked=False
                        ),
                        member_id,
                    )
        return row

    async def get_consents(self, member_id: str) -> list[ConsentRow]:
        async with self.db.read() as session:
            repo = Repository(session)
            await self._active_member(repo, member_id)
            rows = {r.purpose: r for r in await repo.consents(member_id)}
        return [rows.get(p) or ConsentRow(member_id=member_id, purpose=p, granted=False) for p in ALL_PURPOSES]

    # ---- staff -------------------------------------------------------------------

    async def create_staff(
        self, creator: Principal | None, staff: StaffRow, requested_store_ids: Sequence[str], password: str
    ) -> StaffView:
        """requested_store_ids in request order, so an unknown store is named by its index there."""
        store_ids = frozenset(requested_store_ids)
        role = domain.ROLE_BY_NUMBER[staff.role]
        if creator is not None:
            domain.check_staff_creation(creator, role, store_ids, staff.region)
        staff.staff_id = new_id()
        staff.created_at = utcnow()
        staff.password_hash = await asyncio.to_thread(self.passwords.hash, password)
        try:
            async with self.db.transaction() as session:
                repo = Repository(session)
                if await repo.staff_by_login(staff.login):
                    raise AlreadyExists(f"login {staff.login!r} is taken", "staff.login")
                for index, store_id in enumerate(requested_store_ids):
                    if await repo.store(store_id) is None:
                        raise InvalidArgument.field(f"staff.store_ids[{index}]", "is not a known store")
                repo.add(staff)
                await repo.flush()
                repo.add(*(StaffStoreRow(staff_id=staff.staff_id, store_id=s) for s in store_ids))
        except IntegrityError:
            raise AlreadyExists(f"login {staff.login!r} is taken", "staff.login") from None
        return StaffView(staff, sorted(store_ids))

    async def get_staff(self, staff_id: str) -> StaffView:
        async with self.db.read() as session:
            repo = Repository(session)
            row = await repo.staff(staff_id)
            if row is None:
                raise NotFound("staff", staff_id)
            return StaffView(row, await repo.staff_store_ids(staff_id))

    async def list_staff(self, viewer: Principal, store_id: str, page: PageRequest) -> Page[StaffView]:
        if store_id and not viewer.chain_wide and store_id not in viewer.store_ids:
            raise PermissionDenied("that store is outside the caller's reach")
        stores: list[str] | None = [store_id] if store_id else None
        if stores is None and not viewer.chain_wide:
            stores = sorted(viewer.store_ids)
        async with self.db.read() as session:
            repo = Repository(session)
            rows = await repo.staff_list(stores, page)
            views = [StaffView(r, await repo.staff_store_ids(r.staff_id)) for r in rows]
        result = Page.of([v.row for v in views], page, "staff_id")
        return Page(views[: len(result.items)], result.next_page_token)

    async def staff_resource(self, staff_id: str) -> Resource | None:
        if not _could_exist(staff_id):
            return None
        async with self.db.read() as session:
            repo = Repository(session)
            if await repo.staff(staff_id) is None:
                return None
            return Resource(staff_id=staff_id, store_ids=frozenset(await repo.staff_store_ids(staff_id)))

    async def bootstrap_admin(self) -> None:
        login = self.settings.bootstrap_admin_login
        password = self.settings.bootstrap_admin_password.get_secret_value()
        if not login or not password:
            return
        async with self.db.read() as session:
            if await Repository(session).has_admin(domain.NUMBER_BY_ROLE[Role.ADMIN]):
                return
        admin = StaffRow(
            staff_id="",
            login=login,
            display_name="Administrator",
            role=domain.NUMBER_BY_ROLE[Role.ADMIN],
            password_hash="",
        )
        try:
            await self.create_staff(None, admin, (), password)
            log.info("created the first administrator", extra={"login": login})
        except AlreadyExists:
            pass

    # ---- advisors ----------------------------------------------------------------

    async def bind_advisor(
        self, actor: Principal, member_id: str, staff_id: str, store_id: str
    ) -> tuple[AdvisorRow, bool]:
        async with self.db.transaction() as session:
            repo = Repository(session)
            await self._active_member(repo, member_id)
            staff = await repo.staff(staff_id)
            if staff is None:
                raise NotFound("staff", staff_id)
            staff_stores = await repo.staff_store_ids(staff_id)
            if store_id and store_id not in staff_stores:
                raise FailedPrecondition("the advisor does not work in that store", "ADVISOR_STORE", "store_id")
            # Without a store named, the binding is made in the advisor's first store; the
            # access rule only sees a named store, so staff must reach this one here.
            where = store_id or next(iter(staff_stores), "")
            if actor.kind is Kind.STAFF and not actor.chain_wide and where and where not in actor.store_ids:
                raise PermissionDenied("the advisor's store is outside the caller's reach")
            current = await repo.advisor(member_id, for_update=True)
            decision = domain.decide_advisor(
                actor, current.staff_id if current else None, staff_id, domain.ROLE_BY_NUMBER[staff.role]
            )
            if not decision.bind:
                assert current is not None
                return current, False
            row = current or AdvisorRow(member_id=member_id, staff_id=staff_id, store_id="", bound_by="")
            row.staff_id = staff_id
            row.store_id = store_id or staff_stores[0]
            row.bound_by = actor.subject
            row.bound_at = utcnow()
            session.add(row)
            emit(
                session,
                PRODUCER,
                events.AdvisorBound(member_id=member_id, staff_id=staff_id, store_id=row.store_id),
                member_id,
            )
        return row, True

    async def get_advisor(self, member_id: str) -> AdvisorRow:
        async with self.db.read() as session:
            repo = Repository(session)
            await self._active_member(repo, member_id)
            row = await repo.advisor(member_id)
        if row is None:
            raise NotFound("advisor binding", member_id)
        return row

    async def list_advised(self, staff_id: str, page: PageRequest) -> Page[AdvisorRow]:
        async with self.db.read() as session:
            repo = Repository(session)
            if await repo.staff(staff_id) is None:
                raise NotFound("staff", staff_id)
            rows = await repo.advised(staff_id, page)
        return Page.of(rows, page, "member_id")

    # ---- friends -----------------------------------------------------------------

    async def add_friend(self, member_id: str, friend_member_id: str) -> FriendRow:
        if member_id == friend_member_id:
            raise InvalidArgument.field("friend_member_id", "must be another member")
        try:
            async with self.db.transaction() as session:
                repo = Repository(session)
                await self._active_member(repo, member_id)
                await self._active_member(repo, friend_member_id, "friend_member_id")
                for who in (member_id, friend_member_id):
                    consent = await repo.consent(who, SOCIAL)
                    if consent is None or not consent.granted:
                        raise FailedPrecondition("both members must have given social consent", "CONSENT_SOCIAL", who)
                existing = await repo.friend(member_id, friend_member_id)
                if existing is not None:
                    return existing
                now = utcnow()
                row = FriendRow(member_id=member_id, friend_member_id=friend_member_id, created_at=now)
                repo.add(row, FriendRow(member_id=friend_member_id, friend_member_id=member_id, created_at=now))
                emit(
                    session,
                    PRODUCER,
                    events.FriendLinkChanged(member_id=member_id, friend_member_id=friend_member_id, linked=True),
                    member_id,
                )
        except IntegrityError:
            raise AlreadyExists("these members are already friends", "friend_member_id") from None
        return row

    async def remove_friend(self, member_id: str, friend_member_id: str) -> None:
        async with self.db.transaction() as session:
            repo = Repository(session)
            if not await repo.remove_friend_link(member_id, friend_member_id):
                raise NotFound("friend link", f"{member_id}/{friend_member_id}")
            emit(
                session,
                PRODUCER,
                events.FriendLinkChanged(member_id=member_id, friend_member_id=friend_member_id, linked=False),
                member_id,
            )

    async def list_friends(self, member_id: str, page: PageRequest) -> Page[FriendRow]:
        async with self.db.read() as session:
            repo = Repository(session)
            await self._active_member(repo, member_id)
            rows = await repo.friends(member_id, page)
        return Page.of(rows, page, "friend_member_id")

    # ---- partner keys and devices -----------------------------------------------

    async def create_api_key(self, creator: Principal, partner: str, scopes: list[str]) -> tuple[ApiKeyRow, str]:
        prefix, secret = domain.new_api_key()
        row = ApiKeyRow(
            api_key_id=new_id(),
            partner=partner,
            scopes=sorted(set(scopes)),
            prefix=prefix,
            secret_hash=domain.secret_hash(secret),
            created_by=creator.subject,
            created_at=utcnow(),
        )
        async with self.db.transaction() as session:
            Repository(session).add(row)
        return row, secret

    async def revoke_api_key(self, api_key_id: str) -> ApiKeyRow:
        async with self.db.transaction() as session:
            row = await Repository(session).api_key(api_key_id)
            if row is None:
                raise NotFound("api key", api_key_id)
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                session.add(row)
        return row

    async def register_device(self, store_id: str, kind: int, display_name: str) -> tuple[DeviceRow, str]:
        secret = domain.new_secret()
        row = DeviceRow(
            device_id=new_id(),
            store_id=store_id,
            kind=kind,
            display_name=display_name,
            secret_hash=domain.secret_hash(secret),
            created_at=utcnow(),
        )
        async with self.db.transaction() as session:
            repo = Repository(session)
            if await repo.store(store_id) is None:
                raise NotFound("store", store_id)
            repo.add(row)
        return row, secret

    # ---- tokens ------------------------------------------------------------------

    def _issue(self, principal: Principal, ttl_s: int) -> IssuedToken:
        ttl = timedelta(seconds=ttl_s)
        return IssuedToken(self.signer.sign(principal, ttl), ttl, principal)

    async def token_for_staff(self, login: str, password: str) -> IssuedToken:
        now = utcnow()
        async with self.db.transaction() as session:
            attempt = await Repository(session).login_attempt(login)
            if attempt is not None and attempt.locked_until is not None and as_utc(attempt.locked_until) > now:
                wait = (as_utc(attempt.locked_until) - now).total_seconds()
                raise ResourceExhausted("too many failed sign-ins; try again later", retry_after_s=wait)
        async with self.db.read() as session:
            repo = Repository(session)
            staff = await repo.staff_by_login(login)
            store_ids = await repo.staff_store_ids(staff.staff_id) if staff else []
            role = domain.ROLE_BY_NUMBER[staff.role] if staff else Role.ASSOCIATE
            region_stores = (
                await repo.store_ids_in_region(staff.region) if staff and role is Role.REGIONAL_MANAGER else []
            )
        if not await asyncio.to_thread(self._password_ok, staff.password_hash if staff else None, password):
            await self._record_failure(login)
            raise Unauthenticated(INVALID_CREDENTIALS)
        assert staff is not None
        await self._clear_failures(login)
        principal = Principal(
            kind=Kind.STAFF,
            subject=staff.staff_id,
            role=role,
            store_ids=domain.token_stores(role, store_ids, region_stores),
            region=staff.region,
        )
        return self._issue(principal, self.settings.token_ttl_s)

    def _password_ok(self, password_hash: str | None, password: str) -> bool:
        try:
            return self.passwords.verify(password_hash or self._dummy_hash, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    async def _record_failure(self, login: str) -> None:
        now = utcnow()
        try:
            async with self.db.transaction() as session:
                repo = Repository(session)
                attempt = await repo.login_attempt(login)
                if attempt is None:
                    attempt = LoginAttemptRow(login=login)
                failures = (
                    domain.failures_so_far(
                        attempt.failures, as_utc(attempt.last_failure_at) if attempt.last_failure_at else None, now
                    )
                    + 1
                )
                attempt.failures = failures
                attempt.last_failure_at = now
                attempt.locked_until = domain.lock_after_failure(failures, now)
                session.add(attempt)
        except IntegrityError:
            # A concurrent failure for the same login created the row; one count is enough.
            pass

    async def _clear_failures(self, login: str) -> None:
        async with self.db.transaction() as session:
            attempt = await Repository(session).login_attempt(login)
            if attempt is not None and attempt.failures:
                attempt.failures, attempt.locked_until = 0, None
                session.add(attempt)

    async def token_for_device(self, device_id: str, secret: str) -> IssuedToken:
        async with self.db.read() as session:
            device = await Repository(session).device(device_id)
        if device is None or not domain.constant_time_equal(device.secret_hash, domain.secret_hash(secret)):
            raise Unauthenticated(INVALID_CREDENTIALS)
        principal = Principal(kind=Kind.DEVICE, subject=device.device_id, store_ids=frozenset({device.store_id}))
        return self._issue(principal, self.settings.device_token_ttl_s)

    async def token_for_api_key(self, api_key: str, member_id: str) -> IssuedToken:
        prefix = domain.api_key_prefix(api_key)
        async with self.db.read() as session:
            repo = Repository(session)
            row = await repo.api_key_by_prefix(prefix) if prefix else None
            if (
                row is None
                or row.revoked_at is not None
                or not domain.constant_time_equal(row.secret_hash, domain.secret_hash(api_key))
            ):
                raise Unauthenticated(INVALID_CREDENTIALS)
            if member_id:
                if "members:write" not in row.scopes and "members:read" not in row.scopes:
                    raise PermissionDenied("this api key may not act for members")
                await self._active_member(repo, member_id)
                principal = Principal(kind=Kind.MEMBER, subject=member_id, partner=row.partner)
            else:
                principal = Principal(
                    kind=Kind.PARTNER, subject=row.api_key_id, scopes=frozenset(row.scopes), partner=row.partner
                )
        return self._issue(principal, self.settings.token_ttl_s)

    async def token_for_service(self, service: str, secret: str) -> IssuedToken:
        expected = self._service_hashes.get(service)
        if expected is None or not domain.constant_time_equal(expected, domain.secret_hash(secret)):
            raise Unauthenticated(INVALID_CREDENTIALS)
        return self._issue(Principal(kind=Kind.SERVICE, subject=service), self.settings.token_ttl_s)

    # ---- signing keys ------------------------------------------------------------

    async def public_jwks(self) -> list[dict[str, str]]:
        return self.signer.jwks()

    async def reload_keys(self) -> None:
        async with self.db.read() as session:
            rows = list(await Repository(session).signing_keys())
        self.signer.load(rows, utcnow())

    async def rotate_keys(self, *, only_if_older_than: timedelta | None = None) -> bool:
        """Adds a new signing key; previous keys stay published until their tokens expire."""
        async with self.signer.lock:
            now = utcnow()
            async with self.db.transaction() as session:
                repo = Repository(session)
                rows = list(await repo.signing_keys())
                live = [r for r in rows if r.retire_at is None]
                if only_if_older_than is not None and live and now - as_utc(live[-1].created_at) < only_if_older_than:
                    return False
                newest = new_signing_key(self.secret_key, now)
                keep_for = timedelta(seconds=max(self.settings.token_ttl_s, self.settings.device_token_ttl_s) + 300)
                retire_previous(rows, newest, keep_for, now)
                repo.add(newest, *rows)
            await self.reload_keys()
            return True

    async def refresh_keys(self) -> None:
        """Picks up keys rotated by another replica, and rotates when the newest is due."""
        await self.reload_keys()
        await self.rotate_keys(only_if_older_than=timedelta(days=self.settings.key_rotation_days))
