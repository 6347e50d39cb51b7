"""Shared set-up for benchmarks: partners, employees and active placements with accepted
contracts, built in bulk (the services would audit and notify a thousand times)."""

from __future__ import annotations

from django.db import connection
from django.utils import timezone

from contracts.models import Contract, ContractVersion, Partner, Payee, Placement
from core.models import User
from employees.models import DigitalEmployee

TERMS = {
    "currency": "JPY", "period": "monthly",
    "share": {"model": "graduated", "tiers": [{"up_to": 1000000, "rate": "0.08"}, {"up_to": None, "rate": "0.05"}]},
    "outcome_fees": {"resolution": 90, "delivered_work": 50000},
    "minimum_per_period": 300000, "cap_per_period": None,
    "attribution": {"window_days": 14, "model": "last_touch", "keys": ["conversation_id", "click_id", "coupon_code"]},
    "hold_days": 30,
    "splits": [{"payee": "platform", "share": "0.70"}, {"payee": "studio-aoi", "share": "0.30"}],
}


def reset_revenue_tables() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE revenue_sale, revenue_touchpoint, revenue_outcome, revenue_statementline, "
            "revenue_statementsplit, revenue_statementadjustment, revenue_statement, revenue_settlementrun, "
            "revenue_journalline, revenue_journalentry, revenue_account, revenue_saleuploadrejection, "
            "revenue_saleupload, contracts_contractversion, contracts_contract, contracts_placementtransition, "
            "contracts_placement, contracts_partnerapikey, contracts_notification, contracts_partnermembership, "
            "contracts_partner, employees_digitalemployee RESTART IDENTITY CASCADE")


def build_placements(count: int, *, per_partner: int = 100) -> list[tuple[int, int]]:
    """`count` active placements; returns (placement id, partner id) pairs."""
    Payee.objects.get_or_create(slug="platform", defaults={"name": "Platform", "kind": "platform"})
    Payee.objects.get_or_create(slug="studio-aoi", defaults={"name": "Studio Aoi", "kind": "studio"})
    manager, _ = User.objects.get_or_create(username="bench-manager", defaults={"role": "account_manager"})
    partners_needed = max(1, -(-count // per_partner))
    partners = Partner.objects.bulk_create(
        Partner(slug=f"bench-{i}", name=f"Bench partner {i}", industry="convenience_retail", currency="JPY",
                timezone="Asia/Tokyo", account_manager=manager) for i in range(partners_needed))
    now = timezone.now()
    employees = DigitalEmployee.objects.bulk_create(
        DigitalEmployee(slug=f"bench-emp-{i}", name=f"Bench {i}", title="Coupon promoter", persona=".", resume=".",
                        skills=["coupon_promoter"], languages=["ja"], industries=["convenience_retail"],
                        built_by="Studio Aoi", status="published", published_at=now)
        for i in range(per_partner))
    placements = Placement.objects.bulk_create(
        Placement(partner=partners[i // per_partner], employee=employees[i % per_partner], status="active",
                  requested_by=manager) for i in range(count))
    contracts = Contract.objects.bulk_create(Contract(placement=p, currency="JPY") for p in placements)
    ContractVersion.objects.bulk_create(
        ContractVersion(contract=c, number=1, terms=TERMS, effective_from="2026-01-01", status="accepted",
                        created_by=manager, proposed_at=now, decided_by=manager, decided_at=now)
        for c in contracts)
    return [(p.pk, p.partner_id) for p in placements]
