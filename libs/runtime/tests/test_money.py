"""The currency table: ISO 4217 currencies with their minor units, nothing that is not money,
and amounts printed the way people read them."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from o2o_runtime.money import Currency, currencies, currency, format_minor, is_currency
from o2o_runtime.validation import Violations

TABLE = currencies()


def test_every_entry_is_a_three_letter_code_with_a_minor_unit_exponent() -> None:
    # The ISO list has about 180 entries; most of them are currencies.
    assert len(TABLE) > 150
    for code, entry in TABLE.items():
        assert re.fullmatch(r"[A-Z]{3}", code), code
        assert entry.code == code
        assert entry.exponent in range(5), (code, entry.exponent)
        assert entry.name


@pytest.mark.parametrize(
    ("code", "exponent"), [("JPY", 0), ("KRW", 0), ("CNY", 2), ("USD", 2), ("EUR", 2), ("BHD", 3), ("KWD", 3)]
)
def test_exponents_of_well_known_currencies(code: str, exponent: int) -> None:
    found = currency(code)
    assert found is not None
    assert found.exponent == exponent
    assert is_currency(code)


@pytest.mark.parametrize(
    "code",
    [
        "XAU",  # gold
        "XAG",  # silver
        "XDR",  # special drawing rights
        "XTS",  # reserved for testing
        "XXX",  # no currency involved
        "USN",  # a fund: US dollar next day
        "CLF",  # a fund: Chilean unidad de fomento
        "BOV",  # a fund: Bolivian mvdol
    ],
)
def test_metals_drawing_rights_test_codes_and_funds_are_not_money(code: str) -> None:
    assert currency(code) is None
    assert not is_currency(code)
    assert code not in TABLE


@pytest.mark.parametrize("code", ["", "cny", "CN", "CNYY", "ABC", " CNY"])
def test_codes_outside_the_list_are_refused(code: str) -> None:
    assert not is_currency(code)


def test_the_table_handed_out_is_a_copy() -> None:
    handed_out = currencies()
    handed_out["ABC"] = Currency("ABC", 2, "Invented")
    assert not is_currency("ABC")
    assert "ABC" not in currencies()


def test_validation_checks_against_the_table() -> None:
    checked = Violations()
    assert checked.currency("store.currency_code", "JPY")
    assert not checked.currency("store.currency_code", "XAU")
    assert not checked.currency("price.currency_code", "")
    assert [v.field for v in checked.items] == ["store.currency_code", "price.currency_code"]


@pytest.mark.parametrize(
    ("amount", "code", "text"),
    [
        (1234, "CNY", "12.34 CNY"),
        (5, "CNY", "0.05 CNY"),
        (0, "CNY", "0.00 CNY"),
        (-1234, "CNY", "-12.34 CNY"),
        (-5, "CNY", "-0.05 CNY"),
        (1234, "JPY", "1234 JPY"),
        (0, "JPY", "0 JPY"),
        (-1234, "JPY", "-1234 JPY"),
        (1234, "BHD", "1.234 BHD"),
        (-500, "BHD", "-0.500 BHD"),
        (0, "BHD", "0.000 BHD"),
        (7, "UYW", "0.0007 UYW"),
    ],
)
def test_format_minor(amount: int, code: str, text: str) -> None:
    assert format_minor(amount, code) == text


@given(
    amount=st.integers(min_value=-(10**15), max_value=10**15),
    code=st.sampled_from(sorted(TABLE)),
)
def test_printed_amounts_read_back_as_the_same_amount(amount: int, code: str) -> None:
    text = format_minor(amount, code)
    number, printed_code = text.split(" ")
    assert printed_code == code
    exponent = TABLE[code].exponent
    # As many decimals as the currency has minor digits, and no point at all when it has none.
    _units, _point, decimals = number.partition(".")
    assert len(decimals) == exponent
    assert bool(_point) == (exponent > 0)
    assert Decimal(number).scaleb(exponent) == amount
