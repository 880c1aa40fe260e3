"""Tokens: signing in (staff passwords, devices, API keys, platform services) and the signing
keys that sign them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from o2o_runtime.auth import Kind, Principal, Role
from o2o_runtime.errors import NotFound, PermissionDenied, ResourceExhausted, Unauthenticated
from o2o_runtime.timeutil import as_utc, utcnow
from sqlalchemy.exc import IntegrityError

from o2o_identity.app.credentials import Passwords
from o2o_identity.app.units import Units
from o2o_identity.domain import credentials
from o2o_identity.domain.staff import ROLE_BY_NUMBER, token_stores
from o2o_identity.domain.tokens import keep_published_for, rotation_due
from o2o_identity.settings import IdentitySettings
from o2o_identity.signing import Signer, new_signing_key, retire_previous
from o2o_identity.tables import LoginAttemptRow, SigningKeyRow

# One answer for every bad credential, so a refusal tells nothing about what exists.
INVALID_CREDENTIALS = "invalid credentials"


@dataclass(frozen=True)
class IssuedToken:
    token: str
    ttl: timedelta
    principal: Principal


class SignIn:
    def __init__(self, uow: Units, signer: Signer, passwords: Passwords, settings: IdentitySettings) -> None:
        self.uow = uow
        self.signer = signer
        self.passwords = passwords
        self.token_ttl = timedelta(seconds=settings.token_ttl_s)
        self.device_token_ttl = timedelta(seconds=settings.device_token_ttl_s)
        self._service_hashes = {name: credentials.secret_hash(s) for name, s in settings.services().items()}

    def _issue(self, principal: Principal, ttl: timedelta) -> IssuedToken:
        return IssuedToken(self.signer.sign(principal, ttl), ttl, principal)

    async def staff(self, login: str, password: str) -> IssuedToken:
        now = utcnow()
        async with self.uow.read() as repo:
            attempt = await repo.login_attempt(login)
            wait = credentials.wait_left(
                as_utc(attempt.locked_until) if attempt and attempt.locked_until else None, now
            )
            if wait > 0:
                raise ResourceExhausted("too many failed sign-ins; try again later", retry_after_s=wait)
            staff = await repo.staff_by_login(login)
            store_ids = await repo.staff_store_ids(staff.staff_id) if staff else []
            role = ROLE_BY_NUMBER[staff.role] if staff else Role.ASSOCIATE
            region_stores = (
                await repo.store_ids_in_region(staff.region) if staff and role is Role.REGIONAL_MANAGER else []
            )
        if not await self.passwords.verify(staff.password_hash if staff else None, password):
            await self._record_failure(login)
            raise Unauthenticated(INVALID_CREDENTIALS)
        assert staff is not None
        if attempt is not None and attempt.failures:
            await self._clear_failures(login)
        principal = Principal(
            kind=Kind.STAFF,
            subject=staff.staff_id,
            role=role,
            store_ids=token_stores(role, store_ids, region_stores),
            region=staff.region,
        )
        return self._issue(principal, self.token_ttl)

    async def _record_failure(self, login: str) -> None:
        now = utcnow()
        try:
            async with self.uow() as uow:
                attempt = await uow.repo.login_attempt(login, for_update=True) or LoginAttemptRow(login=login)
                last = as_utc(attempt.last_failure_at) if attempt.last_failure_at else None
                attempt.failures = credentials.failures_so_far(attempt.failures, last, now) + 1
                attempt.last_failure_at = now
                attempt.locked_until = credentials.lock_after_failure(attempt.failures, now)
                uow.repo.add(attempt)
        except IntegrityError:
            # A concurrent failure for the same login created the row; one count is enough.
            pass

    async def _clear_failures(self, login: str) -> None:
        async with self.uow() as uow:
            attempt = await uow.repo.login_attempt(login, for_update=True)
            if attempt is not None and attempt.failures:
                attempt.failures, attempt.locked_until = 0, None
                uow.repo.add(attempt)

    async def device(self, device_id: str, secret: str) -> IssuedToken:
        async with self.uow.read() as repo:
            device = await repo.device(device_id)
        if device is None or not credentials.constant_time_equal(device.secret_hash, credentials.secret_hash(secret)):
            raise Unauthenticated(INVALID_CREDENTIALS)
        principal = Principal(kind=Kind.DEVICE, subject=device.device_id, store_ids=frozenset({device.store_id}))
        return self._issue(principal, self.device_token_ttl)

    async def api_key(self, api_key: str, member_id: str) -> IssuedToken:
        """A partner's token, or with member_id a token acting for a member who signed in to
        the partner's app."""
        prefix = credentials.api_key_prefix(api_key)
        async with self.uow.read() as repo:
            row = await repo.api_key_by_prefix(prefix) if prefix else None
            if (
                row is None
                or row.revoked_at is not None
                or not credentials.constant_time_equal(row.secret_hash, credentials.secret_hash(api_key))
            ):
                raise Unauthenticated(INVALID_CREDENTIALS)
            if member_id:
                if not credentials.may_act_for_members(row.scopes):
                    raise PermissionDenied("this api key may not act for members")
                member = await repo.member(member_id)
                # An erased member is gone for partners, as one never registered is: no token acts
                # for either, and the caller is told the member does not exist.
                if member is None or member.erased:
                    raise NotFound("member", member_id)
                principal = Principal(kind=Kind.MEMBER, subject=member_id, partner=row.partner)
            else:
                principal = Principal(
                    kind=Kind.PARTNER, subject=row.api_key_id, scopes=frozenset(row.scopes), partner=row.partner
                )
        return self._issue(principal, self.token_ttl)

    async def service(self, service: str, secret: str) -> IssuedToken:
        expected = self._service_hashes.get(service)
        if expected is None or not credentials.constant_time_equal(expected, credentials.secret_hash(secret)):
            raise Unauthenticated(INVALID_CREDENTIALS)
        return self._issue(Principal(kind=Kind.SERVICE, subject=service), self.token_ttl)


class SigningKeys:
    """The keys tokens are signed with: published as a JWKS, rotated on a schedule or on
    demand, reloaded by every replica so a rotation made by one reaches all."""

    def __init__(self, uow: Units, signer: Signer, secret_key: bytes, settings: IdentitySettings) -> None:
        self.uow = uow
        self.signer = signer
        self.secret_key = secret_key
        self.keep_for = keep_published_for(settings.token_ttl_s, settings.device_token_ttl_s)
        self.rotate_every = timedelta(days=settings.key_rotation_days)

    async def public_jwks(self) -> list[dict[str, str]]:
        return self.signer.jwks()

    async def reload(self) -> None:
        async with self.uow.read() as repo:
            rows = await repo.signing_keys()
        self.signer.load(rows, utcnow())

    async def rotate(self, *, every: timedelta | None = None) -> bool:
        """Adds a new signing key (with every: only when the newest is that old); previous
        keys stay published until their tokens expire."""
        async with self.signer.lock:
            now = utcnow()
            async with self.uow() as uow:
                rows = list(await uow.repo.signing_keys())
                # Another replica may have rotated since this one last looked.
                if not rotation_due(_newest_live(rows), now, every):
                    return False
                newest = new_signing_key(self.secret_key, now)
                retire_previous(rows, newest, self.keep_for, now)
                uow.repo.add(newest, *rows)
            await self.reload()
            return True

    async def refresh(self) -> None:
        """Picks up keys rotated by another replica, and rotates when the newest is due."""
        await self.reload()
        # Checked against the keys just loaded first, so a reload with nothing due opens no
        # write transaction.
        if rotation_due(self.signer.newest_created_at(), utcnow(), self.rotate_every):
            await self.rotate(every=self.rotate_every)


def _newest_live(rows: Sequence[SigningKeyRow]) -> datetime | None:
    """When the newest key not yet retired was made (rows in the order they were made)."""
    live = [row for row in rows if row.retire_at is None]
    return as_utc(live[-1].created_at) if live else None
