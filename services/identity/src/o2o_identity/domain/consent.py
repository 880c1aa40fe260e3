"""Consent: the purposes a member may grant, and what needs which consent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from o2o.common.v1 import common_pb2
from o2o_runtime.errors import FailedPrecondition

SOCIAL = common_pb2.CONSENT_PURPOSE_SOCIAL
# Every purpose a member is asked about, in the order GetConsent lists them.
ALL_PURPOSES = (
    common_pb2.CONSENT_PURPOSE_MARKETING,
    common_pb2.CONSENT_PURPOSE_LOCATION,
    common_pb2.CONSENT_PURPOSE_PROFILING,
    common_pb2.CONSENT_PURPOSE_SOCIAL,
)


@dataclass(frozen=True)
class Consent:
    purpose: int
    granted: bool
    # None for a purpose the member was never asked about.
    updated_at: datetime | None = None


@dataclass(frozen=True)
class ConsentChange:
    member_id: str
    purpose: int
    granted: bool


def consent_list(answers: Mapping[int, Consent]) -> list[Consent]:
    """Every purpose with the member's answer; a purpose never answered is not granted."""
    return [answers.get(purpose) or Consent(purpose, False) for purpose in ALL_PURPOSES]


def ends_friendships(purpose: int, granted: bool) -> bool:
    """Friend links live only while both members consent to social features."""
    return purpose == SOCIAL and not granted


def require_social_consent(member_ids: tuple[str, ...], social: Mapping[str, bool]) -> None:
    """Both members of a friendship must have granted social consent; names the first who has not."""
    for member_id in member_ids:
        if not social.get(member_id, False):
            raise FailedPrecondition("both members must have given social consent", "CONSENT_SOCIAL", member_id)
