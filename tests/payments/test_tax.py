"""Tax rules (payments.tax), the rates by tax point (payments.selectors.tax) and the tax
profile service: pure functions with hypothesis properties, then the database."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_DOWN, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import PermissionDenied, ValidationFailed
from core.models import AuditLog
from payments import tax
from payments.models import TaxProfile, TaxRate
from payments.selectors.tax import invoice_tax_for, tax_point_of, tax_rate_in_force
from payments.services.tax import tax_profile_update
from tests.support.snapshot import db_snapshot

RATES = st.sampled_from([Decimal("0.08"), Decimal("0.10"), Decimal("0.19"), Decimal("0.21"), Decimal("0.23")])
AMOUNTS = st.integers(min_value=0, max_value=10**12)


# --- rounding: once per rate, down ---------------------------------------------------------------


def test_tax_is_rounded_once_per_rate_not_per_line():
    # given three lines of 15 at 10% (1.5 each)
    lines = tax.tax_lines_compute([("JP", "standard", Decimal("0.10"), 15)] * 3)
    # then one line for the rate: 45 taxable, 4 tax (4.5 rounded down once), not 3 × 1
    assert [line.as_dict() for line in lines] == [
        {"jurisdiction": "JP", "category": "standard", "rate": "0.10", "taxable": 45, "tax": 4}
    ]


@given(st.lists(st.tuples(RATES, AMOUNTS), min_size=1, max_size=12))
def test_per_rate_tax_is_the_rounded_down_tax_of_the_rate_sum(items):
    lines = tax.tax_lines_compute([("JP", "standard", rate, amount) for rate, amount in items])
    by_rate: dict[Decimal, int] = {}
    for rate, amount in items:
        by_rate[rate] = by_rate.get(rate, 0) + amount
    assert {line.rate: line.taxable for line in lines} == by_rate
    for line in lines:
        exact = Decimal(line.taxable) * line.rate
        assert isinstance(line.tax, int) and line.tax >= 0
        assert line.tax == int(exact.to_integral_value(rounding=ROUND_DOWN))
        assert 0 <= exact - line.tax < 1  # one rounding, less than one minor unit lost
    assert sum(line.taxable for line in lines) == sum(amount for _, amount in items)


@given(st.integers(min_value=-(10**9), max_value=-1), RATES)
def test_a_negative_taxable_sum_is_refused_never_negative_tax(amount, rate):
    with pytest.raises(ValueError):
        tax.tax_lines_compute([("JP", "standard", rate, amount)])


def test_amounts_are_integers_in_minor_units_so_jpy_tax_has_no_decimals():
    with pytest.raises(TypeError):
        tax.tax_lines_compute([("JP", "standard", Decimal("0.10"), 1.5)])  # type: ignore[list-item]
    [line] = tax.tax_lines_compute([("JP", "standard", Decimal("0.10"), 300_009)])
    assert (line.tax, type(line.tax)) == (30_000, int)


@given(st.integers(min_value=0, max_value=10**9), st.lists(st.integers(min_value=0, max_value=10**9), min_size=1))
def test_a_credit_split_over_rates_adds_up_and_stays_within_each_base(amount, bases):
    total = sum(bases)
    if total == 0:
        return
    amount = amount % (total + 1)
    parts = tax.credit_split(amount, bases)
    assert sum(parts) == amount
    assert all(0 <= part <= base for part, base in zip(parts, bases, strict=True))
    for part, base in zip(parts, bases, strict=True):
        assert abs(Decimal(part) - Decimal(amount) * base / total) < 1


@given(RATES, st.integers(min_value=1, max_value=10**10), st.lists(st.integers(min_value=1, max_value=10**6)))
def test_credit_notes_never_give_back_more_tax_than_the_invoice_charged(rate, subtotal, credits):
    [invoice_line] = tax.tax_lines_compute([("JP", "standard", rate, subtotal)])
    given_back, credited = 0, 0
    for credit in credits:
        if credited + credit > subtotal:
            break
        [part] = tax.credit_tax_lines(credit, [invoice_line]) or [None]
        given_back += part.tax if part else 0
        credited += credit
        assert part is None or part.tax == int((Decimal(credit) * rate).to_integral_value(rounding=ROUND_DOWN))
    assert 0 <= given_back <= invoice_line.tax


# --- treatment and formats -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chosen", "country", "number", "expected"),
    [
        ("auto", "JP", "T1234567890123", "domestic"),
        ("auto", "JP", "", "domestic"),
        ("auto", "DE", "DE123456789", "reverse_charge"),
        ("auto", "DE", "", "none"),  # an EU consumer-like partner without a VAT id: not ours to guess
        ("auto", "US", "", "none"),
        ("none", "JP", "", "none"),  # finance's choice stands
    ],
)
def test_treatment_follows_country_and_number_unless_chosen(chosen, country, number, expected):
    assert (
        tax.treatment_derive(chosen=chosen, country=country, registration_number=number, platform_country="JP")
        == expected
    )


@pytest.mark.parametrize(
    ("country", "number", "ok"),
    [
        ("JP", "T1234567890123", True),
        ("JP", "1234567890123", False),
        ("JP", "T123456789012", False),
        ("DE", "DE123456789", True),
        ("DE", "FR123456789", False),
        ("DE", "DE12345678", False),
        ("NL", "NL123456789B01", True),
        ("FR", "FRXX123456789", True),
        ("IE", "IE1234567WA", True),
        ("GR", "EL123456789", True),
        ("GR", "GR123456789", False),
        ("US", "12-3456789", False),
        ("US", "123456789", True),
    ],
)
def test_registration_number_formats(country, number, ok):
    assert (tax.registration_number_error(country, number) is None) is ok


# --- rates by tax point ----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("jurisdiction", "period", "rate"),
    [
        ("JP", date(2019, 9, 1), "0.0800"),  # tax point 2019-09-30
        ("JP", date(2019, 10, 1), "0.1000"),
        ("JP", date(2026, 10, 1), "0.1000"),
        ("DE", date(2020, 6, 1), "0.1900"),
        ("DE", date(2020, 7, 1), "0.1600"),
        ("DE", date(2021, 1, 1), "0.1900"),
        ("IE", date(2021, 2, 1), "0.2100"),
        ("FR", date(2026, 1, 1), "0.2000"),
        ("NL", date(2026, 1, 1), "0.2100"),
    ],
)
def test_the_seeded_rate_in_force_at_the_periods_end(tax_rates, jurisdiction, period, rate):
    assert tax_rate_in_force(jurisdiction=jurisdiction, on=tax_point_of(period)).rate == Decimal(rate)


@pytest.mark.django_db
def test_no_rate_or_overlapping_rates_refuse_rather_than_guess(tax_rates):
    with pytest.raises(ValidationFailed):
        tax_rate_in_force(jurisdiction="JP", on=date(2000, 1, 1))
    TaxRate.objects.create(jurisdiction="JP", category="standard", rate=Decimal("0.12"), valid_from=date(2026, 1, 1))
    with pytest.raises(ValidationFailed):
        tax_rate_in_force(jurisdiction="JP", on=date(2026, 5, 31))


@pytest.mark.django_db
def test_tax_of_an_invoice_by_profile(world, settings):
    settings.PLATFORM_TAX_COUNTRY, settings.PLATFORM_TAX_REGISTRATION_NUMBER = "JP", "T9876543210123"
    oct_ = date(2026, 10, 1)
    # no profile: no tax, as before
    assert invoice_tax_for(partner=world.hoshi, subtotal=300_000, period=oct_).amount == 0
    tax_profile_update(actor=world.finance, partner=world.hoshi, country="JP", registration_number="", treatment="auto")
    jp = invoice_tax_for(partner=world.hoshi, subtotal=300_005, period=oct_)
    assert (jp.treatment, jp.amount, jp.tax_point, jp.seller_registration_number) == (
        "domestic",
        30_000,
        date(2026, 10, 31),
        "T9876543210123",
    )
    tax_profile_update(
        actor=world.finance, partner=world.hoshi, country="DE", registration_number="DE 123 456 789", treatment="auto"
    )
    eu = invoice_tax_for(partner=world.hoshi, subtotal=300_000, period=oct_)
    assert (eu.treatment, eu.amount, eu.note, eu.buyer_registration_number) == (
        "reverse_charge",
        0,
        tax.REVERSE_CHARGE_NOTE,
        "DE123456789",
    )
    # a domestic invoice without the platform's own number is refused
    tax_profile_update(actor=world.finance, partner=world.hoshi, country="JP", registration_number="", treatment="auto")
    settings.PLATFORM_TAX_REGISTRATION_NUMBER = ""
    with pytest.raises(ValidationFailed):
        invoice_tax_for(partner=world.hoshi, subtotal=1, period=oct_)


# --- the profile service ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_finance_and_the_account_manager_edit_the_profile_audited(world):
    profile = tax_profile_update(
        actor=world.hoshi_manager,
        partner=world.hoshi,
        country="jp",
        registration_number="t1234567890123",
        treatment="auto",
    )
    assert (profile.country, profile.registration_number, profile.updated_by) == (
        "JP",
        "T1234567890123",
        world.hoshi_manager,
    )
    tax_profile_update(actor=world.finance, partner=world.hoshi, country="JP", registration_number="", treatment="none")
    assert list(
        AuditLog.objects.filter(action="tax_profile.updated").order_by("id").values_list("actor__username", "changes")
    ) == [
        (
            world.hoshi_manager.username,
            {
                "country": [None, "JP"],
                "registration_number": [None, "T1234567890123"],
                "treatment": [None, "auto"],
            },
        ),
        (world.finance.username, {"registration_number": ["T1234567890123", ""], "treatment": ["auto", "none"]}),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "values", "error", "field"),
    [
        ("hoshi_owner", {}, PermissionDenied, None),
        ("wayfarer_manager", {}, PermissionDenied, None),
        ("finance", {"country": "Japan"}, ValidationFailed, "country"),
        ("finance", {"registration_number": "1234567890123"}, ValidationFailed, "registration_number"),
        ("finance", {"treatment": "zero"}, ValidationFailed, "treatment"),
        ("finance", {"treatment": "reverse_charge"}, ValidationFailed, "treatment"),  # JP: not an EU VAT case
    ],
)
def test_a_refused_profile_changes_nothing(world, who, values, error, field):
    tax_profile_update(actor=world.finance, partner=world.hoshi, country="JP", registration_number="", treatment="auto")
    before = db_snapshot(TaxProfile, AuditLog)
    arguments = {"country": "JP", "registration_number": "T1234567890123", "treatment": "auto", **values}
    with pytest.raises(error) as raised:
        tax_profile_update(actor=getattr(world, who), partner=world.hoshi, **arguments)
    if field:
        assert list(raised.value.fields) == [field]
    assert db_snapshot(TaxProfile, AuditLog) == before
