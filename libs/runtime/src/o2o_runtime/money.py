"""Money: integer minor units plus an ISO 4217 code, one currency table for the platform.

The table comes from the `iso4217` package (the ISO maintenance agency's list). Only codes
with a minor-unit exponent are tradeable: funds, precious metals and test codes have none and
are refused wherever a currency is checked.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from iso4217 import Currency as _Iso4217


@dataclass(frozen=True)
class Currency:
    code: str
    # Digits after the decimal point: 2 for CNY, 0 for JPY, 3 for BHD.
    exponent: int
    name: str


@functools.cache
def _table() -> dict[str, Currency]:
    return {
        entry.code: Currency(entry.code, int(entry.exponent), str(entry.currency_name))
        for entry in _Iso4217
        if entry.exponent is not None
    }


def currencies() -> dict[str, Currency]:
    """Every active ISO 4217 currency the platform can record money in, by code."""
    return dict(_table())


def currency(code: str) -> Currency | None:
    return _table().get(code)


def is_currency(code: str) -> bool:
    return code in _table()


def format_minor(amount_minor: int, code: str) -> str:
    """'12.34 CNY', '1234 JPY', '-0.500 BHD': the amount as people read it."""
    found = currency(code)
    exponent = found.exponent if found is not None else 2
    sign = "-" if amount_minor < 0 else ""
    units, minor = divmod(abs(amount_minor), 10**exponent)
    text = f"{units}.{minor:0{exponent}d}" if exponent else str(units)
    return f"{sign}{text} {code}"
