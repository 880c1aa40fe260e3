"""Members: registration, the profile, the stores they belong to, and their payment accounts."""

from __future__ import annotations

from contextvars import ContextVar

from o2o_runtime.auth import Resource
from o2o_runtime.errors import AlreadyExists, InvalidArgument, NotFound
from o2o_runtime.ids import new_id
from o2o_runtime.pagination import Page, PageRequest
from o2o_runtime.timeutil import utcnow
from sqlalchemy.exc import IntegrityError

from o2o_identity import publish
from o2o_identity.app.units import Units, could_exist
from o2o_identity.domain import credentials
from o2o_identity.domain.credentials import PaymentAccount
from o2o_identity.domain.members import (
    MemberCard,
    MemberChanges,
    NewMember,
    birth_date_problem,
    normalize_phone,
    require_active,
)
from o2o_identity.repository import MemberCards
from o2o_identity.tables import ConsentRow, MemberRow, PaymentAccountRow

# The member the access check of the current call read: the handler answers from it instead
# of reading the member again. Each gRPC call runs in a task of its own, so it never crosses
# calls; it is used once, and only by reads (changes read their row again, locked).
_checked: ContextVar[MemberCard | None] = ContextVar("o2o_identity_checked_member", default=None)


def _phone_taken() -> AlreadyExists:
    return AlreadyExists("a member with this phone number exists", "member.phone")


def _unknown_home_store() -> InvalidArgument:
    return InvalidArgument.field("member.home_store_id", "is not a known store")


class Members:
    def __init__(self, uow: Units) -> None:
        self.uow = uow
        self.cards = MemberCards(uow.database)

    async def register(self, new: NewMember) -> MemberRow:
        now = utcnow()
        profile = new.profile
        row = MemberRow(
            member_id=new_id(),
            created_at=now,
            updated_at=now,
            phone=profile.phone,
            email=profile.email,
            display_name=profile.display_name,
            birth_year=profile.birth_year,
            birth_month=profile.birth_month,
            birth_day=profile.birth_day,
            gender=profile.gender,
            income_band=profile.income_band,
            tags=list(profile.tags),
            home_store_id=profile.home_store_id,
        )
        try:
            async with self.uow() as uow:
                if row.home_store_id and await uow.repo.store(row.home_store_id) is None:
                    raise _unknown_home_store()
                if await uow.repo.member_by_phone(profile.phone):
                    raise _phone_taken()
                uow.repo.add(row)
                await uow.repo.flush()
                uow.repo.add(
                    *(
                        ConsentRow(member_id=row.member_id, purpose=p, granted=True, updated_at=now)
                        for p in new.consents
                    )
                )
                uow.emit(publish.member_registered(row, new.consents), row.member_id)
        except IntegrityError:
            raise _phone_taken() from None
        return row

    async def get(self, member_id: str) -> MemberCard:
        card = _checked.get()
        if card is not None:
            _checked.set(None)
        if card is None or card.member_id != member_id:
            card = await self.cards.card(member_id)
        if card is None:
            raise NotFound("member", member_id)
        return card

    async def resource(self, member_id: str) -> Resource | None:
        """For access rules: the member and the stores they belong to (one statement)."""
        if not could_exist(member_id):
            return None
        card = await self.cards.card(member_id)
        if card is None:
            return None
        _checked.set(card)
        return Resource(member_id=member_id, store_ids=card.store_ids)

    async def resource_by_phone(self, phone: str) -> Resource | None:
        """For access rules of a search by phone: the member with that number, as `resource`
        does for an id (None for a number that is not valid or not a member's)."""
        normalized = normalize_phone(phone)
        card = await self.cards.card_by_phone(normalized) if normalized else None
        if card is None:
            return None
        _checked.set(card)
        return Resource(member_id=card.member_id, store_ids=card.store_ids)

    async def find_by_phone(self, phone: str, page: PageRequest) -> Page[MemberCard]:
        """The member with this (normalised) number, as a page of at most one."""
        card = _checked.get()
        if card is not None:
            _checked.set(None)
        if card is None or card.phone != phone:
            card = await self.cards.card_by_phone(phone)
        found = [card] if card is not None and card.member_id > page.after else []
        return Page.of(found, page, "member_id")

    async def update(self, changes: MemberChanges) -> MemberRow:
        member_id, values = changes.member_id, changes.values
        try:
            async with self.uow() as uow:
                row = require_active(await uow.repo.member(member_id, for_update=True), member_id, subject=member_id)
                year, month, day = (
                    int(values.get(name, getattr(row, name))) for name in ("birth_year", "birth_month", "birth_day")
                )
                problem = birth_date_problem(year, month, day, utcnow())
                if problem:
                    raise InvalidArgument.field(f"member.{problem[0]}", problem[1])
                new_phone = values.get("phone", row.phone)
                if new_phone != row.phone and await uow.repo.member_by_phone(str(new_phone)) is not None:
                    raise _phone_taken()
                if values.get("home_store_id") and await uow.repo.store(str(values["home_store_id"])) is None:
                    raise _unknown_home_store()
                for name, value in values.items():
                    setattr(row, name, list(value) if name == "tags" else value)
                row.updated_at = utcnow()
                uow.repo.add(row)
                uow.emit(publish.member_updated(row), member_id)
        except IntegrityError:
            raise _phone_taken() from None
        return row


class PaymentAccounts:
    """Cards and wallets linked to members, so a sale paid with one finds its member. Only a
    keyed hash of the provider's token is kept: resolvable, never reversible."""

    def __init__(self, uow: Units, secret_key: bytes) -> None:
        self.uow = uow
        self.secret_key = secret_key

    async def link(self, member_id: str, account: PaymentAccount) -> PaymentAccountRow:
        account_hash = credentials.keyed_hash(self.secret_key, account.provider, account.token)
        linked_elsewhere = AlreadyExists("this payment account is linked to another member", "account_token")
        try:
            async with self.uow() as uow:
                require_active(await uow.repo.member(member_id), member_id)
                existing = await uow.repo.payment_account_by_hash(account_hash)
                if existing is not None:
                    if existing.member_id == member_id:
                        return existing
                    raise linked_elsewhere
                row = PaymentAccountRow(
                    payment_account_id=new_id(),
                    member_id=member_id,
                    provider=account.provider,
                    account_hash=account_hash,
                    hint=credentials.hint_of(account.token),
                    created_at=utcnow(),
                )
                uow.repo.add(row)
        except IntegrityError:
            raise linked_elsewhere from None
        return row

    async def resolve(self, account: PaymentAccount) -> str:
        """The member the account is linked to."""
        account_hash = credentials.keyed_hash(self.secret_key, account.provider, account.token)
        async with self.uow.read() as repo:
            row = await repo.payment_account_by_hash(account_hash)
        if row is None:
            raise NotFound("payment account", f"{account.provider}:…{credentials.hint_of(account.token)}")
        return row.member_id
