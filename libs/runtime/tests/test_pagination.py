"""Page tokens round trip, and a token that was tampered with or reused with other filters
is refused with INVALID_ARGUMENT naming page_token; keyset queries walk a real table on both
backends, ascending and descending, every row once."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from google.rpc import error_details_pb2
from o2o_runtime.db import Database, utc_timestamp
from o2o_runtime.errors import InvalidArgument
from o2o_runtime.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, PageRequest, keyset
from o2o_runtime.timeutil import as_utc
from sqlmodel import Field, SQLModel, col, select


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


def test_typed_keys_survive_the_token() -> None:
    moment = datetime(2026, 12, 1, 9, 30, 15, 123456, tzinfo=UTC)
    token = PageRequest.parse(2, "", "store-1").next_token(moment, "r-7", 3, date(2026, 12, 1))
    after = PageRequest.parse(2, token, "store-1").after_key
    assert after == (moment, "r-7", 3, date(2026, 12, 1))
    assert [type(value) for value in after] == [datetime, str, int, date]
    # A time given in another zone is the same instant after the round trip.
    shanghai = moment.astimezone(timezone(timedelta(hours=8)))
    assert PageRequest.parse(2, PageRequest.parse(2, "").next_token(shanghai)).after_key == (moment,)


# ---- keyset queries against a real table ---------------------------------------------------


class Visit(SQLModel, table=True):
    __tablename__ = "runtime_test_visit"

    visit_id: str = Field(primary_key=True, max_length=36)
    store_id: str = Field(max_length=36)
    occurred_at: datetime = utc_timestamp()


NewDatabase = Callable[..., Awaitable[Database]]
KEY_COLUMNS = [col(Visit.occurred_at), col(Visit.visit_id)]
BASE = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def visit_key(visit: Visit) -> tuple[datetime, str]:
    return as_utc(visit.occurred_at), visit.visit_id


async def visits_table(new_database: NewDatabase) -> tuple[Database, list[tuple[datetime, str]]]:
    """23 visits to store s-1, many at the very same moment, and a few to another store."""
    database = await new_database(Visit)
    shuffled = random.Random(7).sample(range(23), 23)
    ours = [
        Visit(visit_id=f"v-{number:03d}", store_id="s-1", occurred_at=BASE + timedelta(microseconds=number % 4 * 250))
        for number in shuffled
    ]
    others = [Visit(visit_id=f"v-{number:03d}", store_id="s-2", occurred_at=BASE) for number in range(100, 105)]
    async with database.transaction() as session:
        session.add_all(ours + others)
    return database, sorted(visit_key(visit) for visit in ours)


async def walk(database: Database, *, descending: bool, size: int = 4) -> list[list[tuple[datetime, str]]]:
    """Every page of store s-1's visits, following the tokens."""
    pages: list[list[tuple[datetime, str]]] = []
    token = ""
    for _ in range(50):
        request = PageRequest.parse(size, token, "s-1", descending)
        query = keyset(select(Visit).where(col(Visit.store_id) == "s-1"), KEY_COLUMNS, request, descending=descending)
        async with database.read() as session:
            rows = (await session.exec(query)).all()
        page = Page.of(rows, request, key=visit_key)
        pages.append([visit_key(visit) for visit in page.items])
        token = page.next_page_token
        if not token:
            return pages
    raise AssertionError("the pages never ended")


@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
async def test_keyset_walks_every_row_once_in_order(new_database: NewDatabase, descending: bool) -> None:
    database, expected = await visits_table(new_database)
    assert len({moment for moment, _ in expected}) == 4  # so most rows share their first key
    pages = await walk(database, descending=descending)
    assert [len(page) for page in pages] == [4, 4, 4, 4, 4, 3]
    assert [key for page in pages for key in page] == (expected[::-1] if descending else expected)


async def test_keyset_last_page_that_is_exactly_full_has_no_token(new_database: NewDatabase) -> None:
    database, expected = await visits_table(new_database)
    pages = await walk(database, descending=False, size=23)
    assert pages == [expected]


async def test_token_reused_with_other_filters_is_refused_naming_page_token(new_database: NewDatabase) -> None:
    database, _ = await visits_table(new_database)
    first = PageRequest.parse(4, "", "s-1", False)
    async with database.read() as session:
        rows = (await session.exec(keyset(select(Visit), KEY_COLUMNS, first))).all()
    token = Page.of(rows, first, key=visit_key).next_page_token
    assert token
    assert refused_field(4, token, "s-2", False) == "page_token"
    assert refused_field(4, token, "s-1", True) == "page_token"


def keyset_refusal(request: PageRequest) -> str:
    with pytest.raises(InvalidArgument) as error:
        keyset(select(Visit), KEY_COLUMNS, request)
    (violation,) = error.value.violations
    return violation.field


async def test_token_with_another_key_shape_is_refused_naming_page_token(new_database: NewDatabase) -> None:
    database, _ = await visits_table(new_database)
    one_column = PageRequest.parse(4, "", "s-1").next_token("v-003")
    three_columns = PageRequest.parse(4, "", "s-1").next_token(BASE, "v-003", "extra")
    # Right arity, wrong types: a text where the time is stored, a time where the id is.
    mistyped = PageRequest.parse(4, "", "s-1").next_token("2026-12-01", BASE)
    for token in (one_column, three_columns, mistyped):
        assert keyset_refusal(PageRequest.parse(4, token, "s-1")) == "page_token"
    # What the database would have been sent is never sent: the query still runs for a good token.
    good = PageRequest.parse(4, PageRequest.parse(4, "", "s-1").next_token(BASE, "v-003"), "s-1")
    async with database.read() as session:
        rows = (await session.exec(keyset(select(Visit), KEY_COLUMNS, good))).all()
    assert all(visit_key(row) > (BASE, "v-003") for row in rows)
    assert rows
