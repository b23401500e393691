"""Money for people: integer minor units printed with their currency's ISO 4217 minor unit.

The one place amounts become text (alerts, reconciler summaries, templates, the app and the
CLI all call ``format_minor``). Amounts stay ``int`` end to end; no float ever touches one.

The minor units come from the ``iso4217`` package (the ISO 4217 list as published, kept up to
date upstream): JPY and UGX 0 decimals, EUR 2, KWD 3. A code the list does not know, or one
without a minor unit (XAU, XDR: "N.A." in the list), prints with ``FALLBACK_EXPONENT`` (2)
decimals, so a typo'd or private code still shows every digit, just in the common shape.
"""

from __future__ import annotations

from functools import cache

from iso4217 import Currency

FALLBACK_EXPONENT = 2
MINUS = "−"  # U+2212, what the app and the CLI print; Markdown documents pass minus="-"


@cache
def minor_unit(currency: str) -> int:
    """Decimal places of ``currency``'s minor unit (``FALLBACK_EXPONENT`` when unknown)."""
    try:
        exponent = Currency(currency.strip().upper()).exponent
    except ValueError:
        return FALLBACK_EXPONENT
    return FALLBACK_EXPONENT if exponent is None else int(exponent)


def is_known(currency: str) -> bool:
    try:
        Currency(currency.strip().upper())
    except ValueError:
        return False
    return True


def format_minor(
    amount: int, currency: str, *, signed: bool = False, minus: str = MINUS
) -> str:
    """1204331 EUR -> '12,043.31 EUR', -4724185 JPY -> '−4,724,185 JPY'.

    ``signed`` also marks positive amounts with '+' (a delta); ``minus`` is the sign printed
    for negatives."""
    value = int(amount)
    exponent = minor_unit(currency)
    sign = minus if value < 0 else ("+" if signed and value > 0 else "")
    whole, frac = divmod(abs(value), 10**exponent)
    body = f"{whole:,}" + (f".{frac:0{exponent}d}" if exponent else "")
    return f"{sign}{body} {currency}".strip()


def format_maybe(amount: int | None, currency: str | None, *, missing: str = "—") -> str:
    """``format_minor``, or ``missing`` where there is no amount (an account without entries)."""
    return missing if amount is None else format_minor(amount, currency or "")
