"""ISO 4217 currencies and their minor-unit exponents.

Amounts are stored as integers in the minor unit, so the exponent is what tells 1280 JPY
(¥1,280) from 1280 USD ($12.80). Only active codes; funds and precious metals are left
out because partners do not sell in them.
"""

from __future__ import annotations

from decimal import Decimal

_ZERO_DECIMAL = {
    "BIF",
    "CLP",
    "DJF",
    "GNF",
    "ISK",
    "JPY",
    "KMF",
    "KRW",
    "PYG",
    "RWF",
    "UGX",
    "VND",
    "VUV",
    "XAF",
    "XOF",
    "XPF",
}
_THREE_DECIMAL = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"}
_TWO_DECIMAL = {
    "AED",
    "AFN",
    "ALL",
    "AMD",
    "ANG",
    "AOA",
    "ARS",
    "AUD",
    "AWG",
    "AZN",
    "BAM",
    "BBD",
    "BDT",
    "BGN",
    "BMD",
    "BND",
    "BOB",
    "BRL",
    "BSD",
    "BTN",
    "BWP",
    "BYN",
    "BZD",
    "CAD",
    "CDF",
    "CHF",
    "CNY",
    "COP",
    "CRC",
    "CUP",
    "CVE",
    "CZK",
    "DKK",
    "DOP",
    "DZD",
    "EGP",
    "ERN",
    "ETB",
    "EUR",
    "FJD",
    "FKP",
    "GBP",
    "GEL",
    "GHS",
    "GIP",
    "GMD",
    "GTQ",
    "GYD",
    "HKD",
    "HNL",
    "HTG",
    "HUF",
    "IDR",
    "ILS",
    "INR",
    "IRR",
    "JMD",
    "KES",
    "KGS",
    "KHR",
    "KPW",
    "KYD",
    "KZT",
    "LAK",
    "LBP",
    "LKR",
    "LRD",
    "LSL",
    "MAD",
    "MDL",
    "MGA",
    "MKD",
    "MMK",
    "MNT",
    "MOP",
    "MRU",
    "MUR",
    "MVR",
    "MWK",
    "MXN",
    "MYR",
    "MZN",
    "NAD",
    "NGN",
    "NIO",
    "NOK",
    "NPR",
    "NZD",
    "PAB",
    "PEN",
    "PGK",
    "PHP",
    "PKR",
    "PLN",
    "QAR",
    "RON",
    "RSD",
    "RUB",
    "SAR",
    "SBD",
    "SCR",
    "SDG",
    "SEK",
    "SGD",
    "SHP",
    "SLE",
    "SOS",
    "SRD",
    "SSP",
    "STN",
    "SVC",
    "SYP",
    "SZL",
    "THB",
    "TJS",
    "TMT",
    "TOP",
    "TRY",
    "TTD",
    "TWD",
    "TZS",
    "UAH",
    "USD",
    "UYU",
    "UZS",
    "VES",
    "WST",
    "XCD",
    "YER",
    "ZAR",
    "ZMW",
    "ZWG",
}

MINOR_UNIT_EXPONENT: dict[str, int] = {
    **{code: 0 for code in _ZERO_DECIMAL},
    **{code: 2 for code in _TWO_DECIMAL},
    **{code: 3 for code in _THREE_DECIMAL},
}

CURRENCY_CHOICES = sorted((code, code) for code in MINOR_UNIT_EXPONENT)


def is_known_currency(code: object) -> bool:
    return isinstance(code, str) and code in MINOR_UNIT_EXPONENT


def minor_unit_exponent(code: str) -> int:
    return MINOR_UNIT_EXPONENT[code]


def to_major(amount_minor: int, code: str) -> Decimal:
    """1280 JPY → Decimal('1280'); 1280 USD → Decimal('12.80'). Exact, no float."""
    return Decimal(amount_minor).scaleb(-MINOR_UNIT_EXPONENT[code])


def format_money(amount_minor: int | None, code: str) -> str:
    if amount_minor is None:
        return "—"
    exponent = MINOR_UNIT_EXPONENT[code]
    major = to_major(amount_minor, code)
    return f"{code} {major:,.{exponent}f}"
