"""Credentials: partner API keys, store devices, and staff passwords."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from o2o_runtime.auth import Principal
from o2o_runtime.errors import NotFound
from o2o_runtime.ids import new_id
from o2o_runtime.timeutil import utcnow

from o2o_identity.app.units import Units
from o2o_identity.domain import credentials
from o2o_identity.domain.credentials import NewApiKey, NewDevice
from o2o_identity.tables import ApiKeyRow, DeviceRow


class Passwords:
    """argon2id, off the event loop (a hash takes tens of milliseconds of CPU)."""

    def __init__(self) -> None:
        self._hasher = PasswordHasher()
        # Checking against this when a login is unknown keeps response times alike.
        self._dummy_hash = self._hasher.hash(credentials.new_secret())

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """password_hash: None for an unknown login (still checked, against a dummy hash)."""
        return await asyncio.to_thread(self._verify, password_hash, password)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash or self._dummy_hash, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False


class Credentials:
    """API keys for partner apps and secrets for store devices: shown once, kept as hashes."""

    def __init__(self, uow: Units) -> None:
        self.uow = uow

    async def create_api_key(self, creator: Principal, new: NewApiKey) -> tuple[ApiKeyRow, str]:
        prefix, secret = credentials.new_api_key()
        row = ApiKeyRow(
            api_key_id=new_id(),
            partner=new.partner,
            scopes=sorted(set(new.scopes)),
            prefix=prefix,
            secret_hash=credentials.secret_hash(secret),
            created_by=creator.subject,
            created_at=utcnow(),
        )
        async with self.uow() as uow:
            uow.repo.add(row)
        return row, secret

    async def revoke_api_key(self, api_key_id: str) -> ApiKeyRow:
        async with self.uow() as uow:
            row = await uow.repo.api_key(api_key_id)
            if row is None:
                raise NotFound("api key", api_key_id)
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                uow.repo.add(row)
        return row

    async def register_device(self, new: NewDevice) -> tuple[DeviceRow, str]:
        secret = credentials.new_secret()
        row = DeviceRow(
            device_id=new_id(),
            store_id=new.store_id,
            kind=new.kind,
            display_name=new.display_name,
            secret_hash=credentials.secret_hash(secret),
            created_at=utcnow(),
        )
        async with self.uow() as uow:
            if await uow.repo.store(new.store_id) is None:
                raise NotFound("store", new.store_id)
            uow.repo.add(row)
        return row, secret
