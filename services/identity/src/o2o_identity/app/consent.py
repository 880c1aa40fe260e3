"""Consent: what each member allows their data to be used for."""

from __future__ import annotations

from o2o_runtime.timeutil import utcnow
from o2o_runtime.upsert import upsert

from o2o_identity import publish
from o2o_identity.app.units import Units
from o2o_identity.domain.consent import Consent, ConsentChange, consent_list, ends_friendships
from o2o_identity.domain.members import require_active
from o2o_identity.tables import ConsentRow


class Consents:
    def __init__(self, uow: Units) -> None:
        self.uow = uow

    async def set(self, change: ConsentChange) -> Consent:
        member_id = change.member_id
        now = utcnow()
        async with self.uow() as uow:
            require_active(await uow.repo.member(member_id), member_id)
            answer = {"member_id": member_id, "purpose": change.purpose, "granted": change.granted, "updated_at": now}
            await upsert(
                uow.session, ConsentRow, [answer], keys=["member_id", "purpose"], replace=["granted", "updated_at"]
            )
            uow.emit(publish.consent_changed(member_id, change.purpose, change.granted, now), member_id)
            if ends_friendships(change.purpose, change.granted):
                for friend_id in await uow.repo.remove_friendships(member_id):
                    uow.emit(publish.friend_link_changed(member_id, friend_id, linked=False), member_id)
        return Consent(change.purpose, change.granted, now)

    async def get(self, member_id: str) -> list[Consent]:
        async with self.uow.read() as repo:
            require_active(await repo.member(member_id), member_id)
            rows = await repo.consents(member_id)
        return consent_list({row.purpose: Consent(row.purpose, row.granted, row.updated_at) for row in rows})
