"""Members' phone numbers are taken as typed or not at all: letters or symbols among the digits
are refused (INVALID_ARGUMENT naming member.phone), never read as some other number and stored.
The usual separators in their usual places are fine, and the number is stored in E.164."""

from __future__ import annotations

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st
from o2o.identity.v1 import identity_pb2 as pb
from o2o_identity.domain.members import normalize_phone
from o2o_runtime.testing.chain import Chain, unique_phone
from o2o_runtime.testing.status import violated_fields

SEPARATORS = " -."
FULL_WIDTH = {ord(d): 0xFF10 + int(d) for d in "0123456789"}
# Chinese mobile numbers: +86, then 1 and ten more digits.
MOBILE = st.builds(lambda rest: f"+86138{rest:08d}", st.integers(0, 10**8 - 1))
# Anything that is not an ASCII digit or a usual separator: letters, symbols, other scripts'
# digits, control characters, a second +.
FOREIGN = st.characters(codec="utf-8").filter(lambda c: c not in "0123456789" + SEPARATORS + "()")


@given(MOBILE, st.lists(st.tuples(st.integers(0, 14), FOREIGN), min_size=1, max_size=3))
def test_letters_or_symbols_mixed_into_the_digits_are_refused(number: str, insertions: list[tuple[int, str]]) -> None:
    typed = number
    for position, character in insertions:
        typed = typed[:position] + character + typed[position:]
    assert normalize_phone(typed) is None, typed


@given(MOBILE, st.data())
def test_usual_separators_between_digit_groups_give_the_same_number(number: str, data: st.DataObject) -> None:
    groups = [number[:3], number[3:6], number[6:10], number[10:]]
    separator = data.draw(st.sampled_from(SEPARATORS))
    bracketed = data.draw(st.sampled_from([None, 1]))
    parts = [f"({g})" if i == bracketed else g for i, g in enumerate(groups)]
    assert normalize_phone(separator.join(parts)) == number


@pytest.mark.parametrize(
    "typed",
    [
        "+86 138 0013 8000 ",  # trailing space
        "+86  138 0013 8000",  # doubled separator
        "+86 -138 0013 8000",
        "-+86 138 0013 8000",
        "+86 (138) (0013) 8000",  # two bracketed groups
        "+86 (138 0013) 8000",  # a separator inside the brackets
        "+86 138 0013 8000)",
        "+(86) 138 0013 8000",
        "+8613800138000\n",
    ],
)
def test_separators_out_of_place_are_refused(typed: str) -> None:
    assert normalize_phone(typed) is None


@pytest.mark.parametrize(
    "typed",
    [
        "+86 138abc0013 8000",  # the parser would read "abc" as keypad digits
        "+8613800138000x",
        "+86 138 0013 8000 ext 5",
        "tel:+8613800138000",
        "+86" + "13800138000".translate(FULL_WIDTH),  # digits of another script
        "+86 138/0013/8000",
        "+8613800138000;",
    ],
)
async def test_registration_refuses_a_phone_with_letters_or_symbols(chain: Chain, typed: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await chain.identity.RegisterMember(
            pb.RegisterMemberRequest(member=pb.Member(phone=typed)), metadata=(await chain.admin()).auth
        )
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(refused.value) == ["member.phone"]


async def test_a_phone_typed_with_brackets_and_dashes_is_stored_in_e164(chain: Chain) -> None:
    phone = unique_phone()
    typed = f"{phone[:3]} ({phone[3:6]}) {phone[6:10]}-{phone[10:]}"
    reply = await chain.identity.RegisterMember(
        pb.RegisterMemberRequest(member=pb.Member(phone=typed)), metadata=(await chain.admin()).auth
    )
    assert reply.member.phone == phone
