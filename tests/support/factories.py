"""factory_boy factories for test set-up. Objects in later life-cycle states are built
through the services (see conftest's helpers), so their audit trail and invariants are real."""

from __future__ import annotations

import factory
from django.utils import timezone

from contracts.models import Partner, PartnerMembership, Payee
from core.models import User
from employees.models import DigitalEmployee

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
