"""Page tokens round trip, and a token that was tampered with or reused with other filters
is refused with INVALID_ARGUMENT naming page_token."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import pytest
from google.rpc import error_details_pb2
from o2o_runtime.errors import InvalidArgument
from o2o_runtime.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, PageRequest


@dataclass(frozen=True)
class Row:
    member_id: str


def refused_field(page_size: int, token: str, *filters: object) -> str:
    with pytest.raises(InvalidArgument) as error:
        PageRequest.parse(page_size, token, *filters)
    status = error.value.to_status()
    (packed,) = status.details
    bad = error_details_pb2.BadRequest()
    assert packed.Unpack(bad)
    assert len(bad.field_violations) == 1
    return str(bad.field_violations[0].field)


def test_first_page_defaults_and_caps_the_size() -> None:
    assert PageRequest.parse(0, "").size == DEFAULT_PAGE_SIZE
    assert PageRequest.parse(7, "").size == 7
    assert PageRequest.parse(MAX_PAGE_SIZE + 1, "").size == MAX_PAGE_SIZE
    assert PageRequest.parse(5, "", "store-1").after == ""


def test_negative_page_size_names_page_size() -> None:
    assert refused_field(-1, "") == "page_size"


def test_token_round_trip_walks_every_row_once() -> None:
    rows = [Row(f"id-{i:03d}") for i in range(7)]
    seen: list[str] = []
    token = ""
    for _ in range(10):
        request = PageRequest.parse(3, token, "store-1", 2)
        remaining = [r for r in rows if r.member_id > request.after]
        page = Page.of(remaining[: request.size + 1], request, "member_id")
        seen.extend(r.member_id for r in page.items)
        token = page.next_page_token
        if not token:
            break
    assert seen == [r.member_id for r in rows]


def test_next_token_remembers_the_last_key() -> None:
    request = PageRequest.parse(2, "", "filter")
    page = Page.of([Row("a"), Row("b"), Row("c")], request, "member_id")
    assert [r.member_id for r in page.items] == ["a", "b"]
    assert PageRequest.parse(2, page.next_page_token, "filter").after == "b"


def test_last_page_has_no_token() -> None:
    request = PageRequest.parse(3, "")
    assert Page.of([Row("a"), Row("b")], request, "member_id").next_page_token == ""
    assert Page.of([Row("a"), Row("b"), Row("c")], request, "member_id").next_page_token == ""
    assert Page.of([], request, "member_id").next_page_token == ""


def test_token_reused_with_other_filters_is_refused() -> None:
    token = PageRequest.parse(2, "", "store-1", "active").next_token("id-002")
    assert PageRequest.parse(2, token, "store-1", "active").after == "id-002"
    assert refused_field(2, token, "store-2", "active") == "page_token"
    assert refused_field(2, token, "store-1") == "page_token"
    # A different page size is not a different query: the token stays valid.
    assert PageRequest.parse(9, token, "store-1", "active").after == "id-002"


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "token",
    [
        "garbage!",
        "%%%%",
        _encode(b"not json"),
        _encode(b"[1, 2]"),
        _encode(b'"a string"'),
        _encode(json.dumps({"a": "id-1"}).encode()),
        _encode(json.dumps({"f": "x"}).encode()),
        _encode(b"\xff\xfe"),
    ],
)
def test_tampered_token_is_refused(token: str) -> None:
    assert refused_field(2, token, "store-1") == "page_token"


def test_flipped_character_is_refused() -> None:
    token = PageRequest.parse(2, "", "store-1").next_token("id-002")
    # Change one character of the fingerprint part: valid encoding, wrong content.
    raw = json.loads(base64.urlsafe_b64decode(token + "=="))
    raw["f"] = ("0" if raw["f"][0] != "0" else "1") + raw["f"][1:]
    assert refused_field(2, _encode(json.dumps(raw).encode()), "store-1") == "page_token"
