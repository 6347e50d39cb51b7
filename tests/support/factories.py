"""factory_boy factories for every model the tests create directly. Objects in later
life-cycle states are built through the services (tests.support.world.hire and the
settlement services), so their audit trail and invariants are real; these factories are
for rows a test stores as another process or an older import would have left them (a
touchpoint, a sale as ingestion stores it, a run a dead worker left behind)."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import factory
from django.utils import timezone

from contracts.models import Contract, ContractVersion, Partner, PartnerMembership, Payee, Placement
from core.models import LoginThrottle, User
from employees.models import DigitalEmployee
from ledger.models import Account
from revenue.models import (
    Inquiry,
    Outcome,
    Sale,
    SaleUpload,
    SaleUploadRejection,
    SettlementRun,
    Statement,
    Touchpoint,
)
from tests.support.world import design_terms

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    role = User.Role.PARTNER
    password = factory.django.Password(PASSWORD)


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partner

    slug = factory.Sequence(lambda n: f"partner-{n}")
    name = factory.Sequence(lambda n: f"Partner {n}")
    industry = "convenience_retail"
    currency = "JPY"
    timezone = "Asia/Tokyo"
    account_manager = factory.SubFactory(UserFactory, role=User.Role.ACCOUNT_MANAGER)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PartnerMembership

    user = factory.SubFactory(UserFactory)
    partner = factory.SubFactory(PartnerFactory)
    role = PartnerMembership.Role.OWNER


class PayeeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Payee
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"studio-{n}")
    name = factory.LazyAttribute(lambda p: p.slug.title())
    kind = Payee.Kind.STUDIO


class EmployeeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DigitalEmployee

    slug = factory.Sequence(lambda n: f"employee-{n}")
    name = factory.Sequence(lambda n: f"Employee {n}")
    title = "Coupon promoter"
    persona = "Cheerful and concise."
    resume = "Ran coupon campaigns for convenience stores."
    skills = factory.LazyFunction(lambda: ["coupon_promoter"])
    languages = factory.LazyFunction(lambda: ["ja", "en"])
    industries = factory.LazyFunction(lambda: ["convenience_retail"])
    built_by = "Studio Aoi"
    status = DigitalEmployee.Status.PUBLISHED
    published_at = factory.LazyFunction(timezone.now)


# --- contracts: rows as an import of older contracts would leave them --------------------------


class PlacementFactory(factory.django.DjangoModelFactory):
    """An active placement stored directly (bulk set-up); a hire with its history goes through
    tests.support.world.hire."""

    class Meta:
        model = Placement

    partner = factory.SubFactory(PartnerFactory)
    employee = factory.SubFactory(EmployeeFactory)
    status = Placement.Status.ACTIVE
    requested_by = factory.SubFactory(UserFactory)


class ContractFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contract

    placement = factory.SubFactory(PlacementFactory)
    currency = factory.LazyAttribute(lambda c: c.placement.partner.currency)


class ContractVersionFactory(factory.django.DjangoModelFactory):
    """An accepted version stored directly, as an import of an older contract would."""

    class Meta:
        model = ContractVersion

    contract = factory.SubFactory(ContractFactory)
    number = factory.Sequence(lambda n: n + 1)
    terms = factory.LazyFunction(design_terms)
    effective_from = date(2026, 1, 1)
    status = ContractVersion.Status.ACCEPTED
    created_by = factory.SubFactory(UserFactory, role=User.Role.ACCOUNT_MANAGER)


# --- revenue: rows as ingestion, uploads and settlement store them ----------------------------


def _period_of(moment, zone: str) -> date:
    return moment.astimezone(ZoneInfo(zone)).date().replace(day=1)


class TouchpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Touchpoint

    placement = factory.SubFactory(PlacementFactory)
    partner = factory.LazyAttribute(lambda t: t.placement.partner)
    kind = Touchpoint.Kind.COUPON
    key = factory.Sequence(lambda n: f"C{n}")
    occurred_at = factory.LazyFunction(timezone.now)
    source = "agent"


class SaleFactory(factory.django.DjangoModelFactory):
    """A sale as ingestion stores it: its period in the partner's zone, pending attribution."""

    class Meta:
        model = Sale

    partner = factory.SubFactory(PartnerFactory)
    external_id = factory.Sequence(lambda n: f"sale-{n}")
    type = "sale"
    occurred_at = factory.LazyFunction(timezone.now)
    amount = 1000
    currency = factory.LazyAttribute(lambda s: s.partner.currency)
    period = factory.LazyAttribute(lambda s: _period_of(s.occurred_at, s.partner.timezone))
    content_digest = "x"


class OutcomeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Outcome

    placement = factory.SubFactory(PlacementFactory)
    partner = factory.LazyAttribute(lambda o: o.placement.partner)
    kind = "resolution"
    external_id = factory.Sequence(lambda n: f"outcome-{n}")
    occurred_at = factory.LazyFunction(timezone.now)
    period = factory.LazyAttribute(lambda o: _period_of(o.occurred_at, o.placement.partner.timezone))


class SaleUploadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SaleUpload

    partner = factory.SubFactory(PartnerFactory)
    file = "uploads/october.csv"
    original_name = "october.csv"
    uploaded_by = factory.SubFactory(UserFactory)


class SaleUploadRejectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SaleUploadRejection

    upload = factory.SubFactory(SaleUploadFactory)
    row_number = factory.Sequence(lambda n: n + 2)
    column = "amount"
    code = "invalid"
    reason = "x"


class SettlementRunFactory(factory.django.DjangoModelFactory):
    """A queued run; hand its pk to settlement_run_execute, or give it the status a dead
    worker left."""

    class Meta:
        model = SettlementRun

    period = date(2026, 10, 1)


class StatementFactory(factory.django.DjangoModelFactory):
    """A statement row stored directly (listing and paging tests); a rated statement comes
    from settlement_run_execute."""

    class Meta:
        model = Statement

    contract = factory.SubFactory(ContractFactory)
    period = date(2026, 10, 1)
    currency = factory.LazyAttribute(lambda s: s.contract.currency)
    version_number = 1


class InquiryFactory(factory.django.DjangoModelFactory):
    """An inquiry row stored directly (the isolation matrix); a real one comes from
    revenue.services.inquiries.inquiry_open."""

    class Meta:
        model = Inquiry

    statement = factory.SubFactory(StatementFactory)
    partner = factory.LazyAttribute(lambda i: i.statement.contract.placement.partner)
    line_kind = "attributed_sales"
    reason = "other"
    comment = "A question about the sales."
    opened_via = "someone"


# --- ledger and core ---------------------------------------------------------------------------


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    code = factory.Sequence(lambda n: f"partner_receivable:partner-{n}")
    currency = "JPY"
    kind = "asset"
    name = factory.LazyAttribute(lambda a: a.code)


class LoginThrottleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LoginThrottle

    scope = "username"
    key = factory.Sequence(lambda n: f"user{n}")
