"""Identity's use cases by area, wired once: each is one unit of work over identity's
repository, rules from `domain`, events through the outbox. Callers (the gRPC layer, the
operator commands) pass plain command values and get rows or read models back."""

from __future__ import annotations

from o2o_runtime.db import Database
from o2o_runtime.revocation import ErasedMembers

from o2o_identity.app.consent import Consents
from o2o_identity.app.credentials import Credentials, Passwords
from o2o_identity.app.erasure import Erasure
from o2o_identity.app.members import Members, PaymentAccounts
from o2o_identity.app.relations import Advisors, Friends
from o2o_identity.app.staff import Staff
from o2o_identity.app.stores import Stores
from o2o_identity.app.tokens import SignIn, SigningKeys
from o2o_identity.app.units import units_of_work
from o2o_identity.settings import IdentitySettings
from o2o_identity.signing import Signer


class Identity:
    def __init__(
        self, database: Database, settings: IdentitySettings, erased_members: ErasedMembers | None = None
    ) -> None:
        self.settings = settings
        uow = units_of_work(database)
        secret_key = settings.secret_key.get_secret_value().encode()
        signer = Signer(secret_key, settings.token_issuer, settings.token_audience)
        passwords = Passwords()
        self.stores = Stores(uow)
        self.members = Members(uow)
        self.payment_accounts = PaymentAccounts(uow, secret_key)
        self.consents = Consents(uow)
        self.erasure = Erasure(uow, erased_members if erased_members is not None else ErasedMembers())
        self.staff = Staff(uow, passwords)
        self.advisors = Advisors(uow)
        self.friends = Friends(uow)
        self.credentials = Credentials(uow)
        self.sign_in = SignIn(uow, signer, passwords, settings)
        self.signing_keys = SigningKeys(uow, signer, secret_key, settings)
        self.signer = signer

    async def start(self) -> None:
        """Before serving: recent erasures remembered, signing keys loaded (the first one
        made), the first administrator."""
        await self.erasure.remember_recent()
        await self.signing_keys.reload()
        if not self.signer.has_keys:
            await self.signing_keys.rotate()
        await self.staff.bootstrap_admin(
            self.settings.bootstrap_admin_login, self.settings.bootstrap_admin_password.get_secret_value()
        )
