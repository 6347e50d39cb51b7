"""Tax on invoices and credit notes: pure functions, no database (the rates come in as
arguments; `payments.selectors.tax` reads them).

Rules (README, "Tax on invoices"):
- the treatment: a partner in the platform's country is `domestic` (standard-rated, at
  the rate in force at the tax point); an EU partner with a VAT id, while the platform is
  not in its country, is `reverse_charge` (0 tax, the recipient accounts for the VAT); any
  other partner — or one without a tax profile — is `none` (no tax line);
- tax is added on top of the statement's payable (DESIGN.md §5a figures do not change);
- one rounding per rate per document: the taxable amounts of a rate are summed first and
  the tax on the sum is rounded once, **down** (切り捨て, what Japanese qualified invoices
  usually do; the same rule everywhere, credit notes included), so tax is never
  overstated and never negative;
- amounts are integers in the currency's minor unit, so a JPY tax has no decimals by
  construction; rates are `Decimal`, never floats.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from django.utils.translation import gettext as _

DOMESTIC, REVERSE_CHARGE, NONE = "domestic", "reverse_charge", "none"
REVERSE_CHARGE_NOTE = "Reverse charge: VAT to be accounted for by the recipient, Art. 196 Directive 2006/112/EC"

EU_COUNTRIES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    ]
)
# A VAT id carries its country's prefix; Greece's is EL, not GR.
VAT_PREFIX = {country: ("EL" if country == "GR" else country) for country in EU_COUNTRIES}
# Plausible bodies (the shape, not the checksum): VIES is the authority on validity.
VAT_BODY = {
    "AT": r"U\d{8}",
    "BE": r"[01]\d{9}",
    "BG": r"\d{9,10}",
    "CY": r"\d{8}[A-Z]",
    "CZ": r"\d{8,10}",
    "DE": r"\d{9}",
    "DK": r"\d{8}",
    "EE": r"\d{9}",
    "ES": r"[A-Z0-9]\d{7}[A-Z0-9]",
    "FI": r"\d{8}",
    "FR": r"[A-HJ-NP-Z0-9]{2}\d{9}",
    "GR": r"\d{9}",
    "HR": r"\d{11}",
    "HU": r"\d{8}",
    "IE": r"\d[A-Z0-9+*]\d{5}[A-Z]{1,2}",
    "IT": r"\d{11}",
    "LT": r"(\d{9}|\d{12})",
    "LU": r"\d{8}",
    "LV": r"\d{11}",
    "MT": r"\d{8}",
    "NL": r"\d{9}B\d{2}",
    "PL": r"\d{10}",
    "PT": r"\d{9}",
    "RO": r"\d{2,10}",
    "SE": r"\d{12}",
    "SI": r"\d{8}",
    "SK": r"\d{10}",
}
JP_NUMBER = re.compile(r"T\d{13}")
COUNTRY = re.compile(r"[A-Z]{2}")


def normalize_registration_number(value: str) -> str:
    return re.sub(r"[\s.\-]", "", value or "").upper()


def registration_number_error(country: str, number: str) -> str | None:
    """Why `number` is not a plausible registration number for `country`, or None."""
    if not number:
        return None
    if country == "JP":
        if not JP_NUMBER.fullmatch(number):
            return _("A Japanese registration number is T followed by 13 digits (e.g. T1234567890123).")
        return None
    if country in EU_COUNTRIES:
        prefix = VAT_PREFIX[country]
        if not number.startswith(prefix):
            return _("An EU VAT id starts with its country prefix (%(prefix)s).") % {"prefix": prefix}
        if not re.fullmatch(VAT_BODY[country], number[len(prefix) :]):
            return _("This is not the shape of a %(country)s VAT id.") % {"country": country}
        return None
    if not re.fullmatch(r"[A-Z0-9]{4,32}", number):
        return _("A registration number has 4 to 32 letters and digits.")
    return None


def country_error(country: str) -> str | None:
    if not COUNTRY.fullmatch(country or ""):
        return _("A country is two capital letters (ISO 3166-1 alpha-2, e.g. JP, DE, US).")
    return None


def treatment_derive(*, chosen: str, country: str, registration_number: str, platform_country: str) -> str:
    """The treatment a partner's invoices get. A chosen treatment stands; `auto` follows
    the rules in the module's docstring."""
    if chosen and chosen != "auto":
        return chosen
    if country == platform_country:
        return DOMESTIC
    if country in EU_COUNTRIES and registration_number:
        return REVERSE_CHARGE
    return NONE


@dataclass(frozen=True)
class TaxLine:
    """The tax of one rate on one document: its taxable amount and the tax, rounded once."""

    jurisdiction: str
    category: str
    rate: Decimal
    taxable: int
    tax: int

    def as_dict(self) -> dict:
        return {
            "jurisdiction": self.jurisdiction,
            "category": self.category,
            "rate": str(self.rate),
            "taxable": self.taxable,
            "tax": self.tax,
        }

    @classmethod
    def from_dict(cls, data: dict) -> TaxLine:
        return cls(data["jurisdiction"], data["category"], Decimal(data["rate"]), data["taxable"], data["tax"])


def tax_round(taxable: int, rate: Decimal) -> int:
    """The one rounding: down, toward zero (a negative taxable is refused upstream)."""
    return int((Decimal(taxable) * rate).to_integral_value(rounding=ROUND_DOWN))


def tax_lines_compute(items: list[tuple[str, str, Decimal, int]]) -> list[TaxLine]:
    """Items are (jurisdiction, category, rate, amount in minor units). Amounts of the same
    rate are summed and rounded once; a rate whose taxable sum is not positive is refused
    (an invoice never carries negative tax — a reduction is a credit note)."""
    taxable: dict[tuple[str, str, Decimal], int] = defaultdict(int)
    for jurisdiction, category, rate, amount in items:
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise TypeError(f"amounts are integers in minor units; got {amount!r}")
        if not (Decimal(0) <= rate < Decimal(1)):
            raise ValueError(f"a rate is a fraction in [0, 1); got {rate}")
        taxable[(jurisdiction, category, rate)] += amount
    lines = []
    for (jurisdiction, category, rate), base in sorted(taxable.items()):
        if base < 0:
            raise ValueError(f"the taxable amount at {rate} is negative ({base}); that is a credit note")
        lines.append(TaxLine(jurisdiction, category, rate, base, tax_round(base, rate)))
    return lines


def credit_split(amount: int, bases: list[int]) -> list[int]:
    """Split a credit of `amount` among rate groups with these taxable `bases`, in
    proportion, by largest remainder (ties to the first): the parts sum to `amount`."""
    total = sum(bases)
    if amount < 0 or total <= 0 or amount > total:
        raise ValueError(f"cannot split {amount} over {bases}")
    exact = [Decimal(amount) * base / total for base in bases]
    parts = [int(x) for x in exact]  # non-negative, so int() is floor
    order = sorted(range(len(bases)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[: amount - sum(parts)]:
        parts[i] += 1
    return parts


def credit_tax_lines(amount: int, invoice_lines: list[TaxLine]) -> list[TaxLine]:
    """The tax reduction of a credit of `amount` (tax-exclusive) against an invoice with
    these tax lines: the credit is split over the invoice's rates by their taxable
    amounts, and each part's tax rounded once, down, like the invoice's."""
    if not invoice_lines:
        return []
    parts = credit_split(amount, [line.taxable for line in invoice_lines])
    return [
        TaxLine(line.jurisdiction, line.category, line.rate, part, tax_round(part, line.rate))
        for line, part in zip(invoice_lines, parts, strict=True)
        if part
    ]


def rate_percent(rate: Decimal | str) -> str:
    """0.1000 → "10", 0.0775 → "7.75": how a rate is printed."""
    return f"{(Decimal(rate) * 100).normalize():f}"


def clawback_split(total: int, precise: list[Decimal]) -> list[int]:
    """Split a rounded clawback `total` among the original statements it came from, by
    largest remainder of their precise (unrounded) parts: each part is floored, and the
    units left go to the largest remainders (ties to the first). The parts sum to `total`
    and each is within one unit of its precise part."""
    if any(p < 0 for p in precise):
        raise ValueError("precise parts are not negative")
    floors = [int(p) for p in precise]  # non-negative, so int() is floor
    left = total - sum(floors)
    if not 0 <= left <= len(precise):
        raise ValueError(f"{total} is not a rounding of the parts {precise}")
    order = sorted(range(len(precise)), key=lambda i: (-(precise[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += 1
    return floors
