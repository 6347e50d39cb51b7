"""Reading tax: the rate in force on a day, a partner's profile and treatment, and the tax an
invoice of a statement carries (payments.tax has the rules)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Q

from contracts.models import Partner
from contracts.selectors import next_period_start
from core.errors import ValidationFailed
from payments import tax
from payments.models import Invoice, TaxProfile, TaxRate

STANDARD = "standard"


def tax_profile_of(partner: Partner) -> TaxProfile | None:
    return TaxProfile.objects.filter(partner=partner).first()


def tax_rate_in_force(*, jurisdiction: str, on: date, category: str = STANDARD) -> TaxRate:
    rates = list(
        TaxRate.objects.filter(jurisdiction=jurisdiction, category=category, valid_from__lte=on).filter(
            Q(valid_to__isnull=True) | Q(valid_to__gte=on)
        )[:2]
    )
    if len(rates) != 1:
        # None: nothing known for that day; two: overlapping rows. Either way, no guess.
        raise ValidationFailed(
            f"{'No' if not rates else 'More than one'} {category} tax rate for {jurisdiction} on {on}; "
            "finance must fix the tax rates before this can be invoiced."
        )
    return rates[0]


def tax_point_of(period: date) -> date:
    """The tax point of a statement's invoice: the last day of its period. It is known when
    the statement is approved, and does not move with the day a worker issues the invoice
    (so a retried or late issue never changes the rate)."""
    return next_period_start(period) - timedelta(days=1)


@dataclass(frozen=True)
class InvoiceTax:
    treatment: str
    tax_point: date
    lines: list[tax.TaxLine] = field(default_factory=list)
    note: str = ""
    seller_registration_number: str = ""
    buyer_registration_number: str = ""

    @property
    def amount(self) -> int:
        return sum(line.tax for line in self.lines)


def partner_treatment(partner: Partner) -> tuple[str, TaxProfile | None]:
    profile = tax_profile_of(partner)
    if profile is None:
        # No profile: invoiced as before, without tax, until finance records one.
        return tax.NONE, None
    return (
        tax.treatment_derive(
            chosen=profile.treatment,
            country=profile.country,
            registration_number=profile.registration_number,
            platform_country=settings.PLATFORM_TAX_COUNTRY,
        ),
        profile,
    )


def invoice_tax_for(*, partner: Partner, subtotal: int, period: date) -> InvoiceTax:
    """The tax on an invoice of `subtotal` (the statement's payable) for `period`."""
    treatment, profile = partner_treatment(partner)
    point = tax_point_of(period)
    buyer = profile.registration_number if profile else ""
    if treatment == tax.DOMESTIC:
        if not settings.PLATFORM_TAX_REGISTRATION_NUMBER:
            raise ValidationFailed(
                "The platform's tax registration number (PLATFORM_TAX_REGISTRATION_NUMBER) is not set; "
                "a domestic invoice must show it."
            )
        jurisdiction = settings.PLATFORM_TAX_COUNTRY
        rate = tax_rate_in_force(jurisdiction=jurisdiction, on=point)
        return InvoiceTax(
            treatment=treatment,
            tax_point=point,
            lines=tax.tax_lines_compute([(jurisdiction, STANDARD, rate.rate, subtotal)]),
            seller_registration_number=settings.PLATFORM_TAX_REGISTRATION_NUMBER,
            buyer_registration_number=buyer,
        )
    if treatment == tax.REVERSE_CHARGE:
        country = profile.country if profile else ""
        return InvoiceTax(
            treatment=treatment,
            tax_point=point,
            lines=tax.tax_lines_compute([(country, "reverse_charge", Decimal(0), subtotal)]),
            note=tax.REVERSE_CHARGE_NOTE,
            seller_registration_number=settings.PLATFORM_TAX_REGISTRATION_NUMBER,
            buyer_registration_number=buyer,
        )
    return InvoiceTax(treatment=tax.NONE, tax_point=point, buyer_registration_number=buyer)


def invoice_tax_lines(invoice: Invoice) -> list[tax.TaxLine]:
    return [tax.TaxLine.from_dict(line) for line in invoice.tax_breakdown]
