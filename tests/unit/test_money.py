"""Money is printed with its currency's ISO 4217 minor unit, from one source."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incidentbook.money import FALLBACK_EXPONENT, format_maybe, format_minor, minor_unit

# Minor units as ISO 4217 lists them (list one, published 2026-01-01), written out here by
# hand as the independent truth the package's table must agree with.
ISO_4217_MINOR_UNITS = {
    "EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "HUF": 2,
    "JPY": 0, "KRW": 0, "ISK": 0, "UGX": 0, "VND": 0, "CLP": 0, "XOF": 0,
    "KWD": 3, "BHD": 3, "JOD": 3, "OMR": 3, "TND": 3,
    "CLF": 4, "UYW": 4,
}  # fmt: skip


@pytest.mark.parametrize("currency,exponent", sorted(ISO_4217_MINOR_UNITS.items()))
def test_minor_units_follow_iso_4217(currency: str, exponent: int) -> None:
    assert minor_unit(currency) == exponent


def test_the_amounts_an_operator_reads() -> None:
    assert format_minor(3208857, "EUR") == "32,088.57 EUR"
    assert format_minor(4724185, "JPY") == "4,724,185 JPY"
    assert format_minor(-120433117, "EUR") == "−1,204,331.17 EUR"
    assert format_minor(1234567, "KWD") == "1,234.567 KWD"  # 3 decimals, not 12,345.67
    assert format_minor(1234567, "UGX") == "1,234,567 UGX"  # no decimals, not 12,345.67
    assert format_minor(5, "EUR") == "0.05 EUR"
    assert format_minor(0, "JPY") == "0 JPY"
    assert format_minor(250, "EUR", signed=True) == "+2.50 EUR"
    assert format_minor(-250, "EUR", minus="-") == "-2.50 EUR"


def test_an_unknown_code_prints_every_digit_with_the_stated_fallback() -> None:
    """A code ISO 4217 does not list (a typo, a private unit) and one without a minor unit
    (gold) both print with FALLBACK_EXPONENT (2) decimals and the code as given."""
    assert FALLBACK_EXPONENT == 2
    assert minor_unit("ZZZ") == 2
    assert format_minor(123456, "ZZZ") == "1,234.56 ZZZ"
    assert minor_unit("XAU") == 2
    assert minor_unit("jpy") == 0  # case does not matter for the lookup
    assert format_minor(-7, "") == "−0.07"


def test_a_missing_amount_is_a_dash() -> None:
    assert format_maybe(None, "EUR") == "—"
    assert format_maybe(-1, None) == "−0.01"
    assert format_maybe(1200, "JPY") == "1,200 JPY"


@given(
    amount=st.integers(min_value=-(10**15), max_value=10**15),
    currency=st.sampled_from(sorted(ISO_4217_MINOR_UNITS)),
)
def test_formatting_agrees_with_decimal_arithmetic(amount: int, currency: str) -> None:
    """Built independently: the amount scaled by Decimal, then Python's own grouping."""
    exponent = ISO_4217_MINOR_UNITS[currency]
    value = Decimal(abs(amount)).scaleb(-exponent)
    expected = f"{value:,.{exponent}f} {currency}"
    if amount < 0:
        expected = "−" + expected
    assert format_minor(amount, currency) == expected
    # and back: the digits shown are the integer minor units, nothing rounded away
    digits = format_minor(amount, currency).split()[0].lstrip("−").replace(",", "")
    assert int(digits.replace(".", "")) == abs(amount)
