"""Settlement made cheaper must settle the same money: the current services and the code
before the change (frozen in tests/revenue/reference/) run on the same generated months,
and every statement, statement line, split, sale's attribution and ledger line must agree.

The months are generated from a seed: two partners in two currencies, four placements under
different rules (last and first touch, windows of 3 to 30 days, different keys counted),
sales carrying no key, one key or several (keys of competing placements), keys no
touchpoint carries, touches outside the window, refunds of unsettled and of settled sales
(clawbacks), and late sales arriving after their month was approved."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction

from contracts.models import Placement
from ledger.models import JournalLine
from revenue.models import Sale, SettlementRun, Statement, StatementLine, StatementSplit, Touchpoint
from revenue.services import attribution as attribution_now
from revenue.services import settlement as settlement_now
from tests.revenue.reference import attribution_before, settlement_before
from tests.support.revenue import backdate, period_of
from tests.support.world import design_terms, hire

OCT, NOV = datetime(2026, 10, 1).date(), datetime(2026, 11, 1).date()
KINDS = (("coupon", "coupon_code"), ("click", "click_id"), ("conversation", "conversation_id"))


def _rules(model: str, window: int, keys: list[str], currency: str) -> dict[str, Any]:
    return design_terms(
        currency=currency,
        attribution={"window_days": window, "model": model, "keys": keys},
        minimum_per_period=30_000 if currency == "JPY" else 500,
    )


def _placements(world) -> list[Placement]:
    """Four placements, two per partner, each counting keys under its own rule."""
    shapes = [
        ("hoshi", "rinna", "last_touch", 14, ["conversation_id", "click_id", "coupon_code"]),
        ("hoshi", "kai", "first_touch", 7, ["coupon_code", "click_id"]),
        ("wayfarer", "rinna", "last_touch", 3, ["click_id", "conversation_id"]),
        ("wayfarer", "kai", "first_touch", 30, ["coupon_code", "click_id", "conversation_id"]),
    ]
    placements = []
    for partner, employee, model, window, keys in shapes:
        currency = getattr(world, partner).currency
        placements.append(
            backdate(hire(world, partner=partner, employee=employee, terms=_rules(model, window, keys, currency)))
        )
    return placements


def _moment(rng: random.Random, zone: str, month: int, *, day_from: int = 1, day_to: int = 28) -> datetime:
    return datetime(
        2026, month, rng.randint(day_from, day_to), rng.randint(0, 23), rng.randint(0, 59), tzinfo=ZoneInfo(zone)
    )


def _touchpoints(rng: random.Random, placements: list[Placement]) -> dict[int, list[tuple[str, str]]]:
    """Touchpoints from mid-September to the end of November; returns each partner's keys as
    (sale column, key)."""
    keys: dict[int, list[tuple[str, str]]] = {}
    rows = []
    for placement in placements:
        zone = placement.partner.timezone
        for number in range(40):
            kind, column = rng.choice(KINDS)
            key = f"{placement.pk}-{kind[:2]}-{number}"
            month = rng.choice((9, 10, 10, 11))
            when = _moment(rng, zone, month, day_from=15 if month == 9 else 1)
            rows.append(
                Touchpoint(
                    partner=placement.partner, placement=placement, kind=kind, key=key, occurred_at=when, source="agent"
                )
            )
            keys.setdefault(placement.partner_id, []).append((column, key))
    Touchpoint.objects.bulk_create(rows)
    return keys


def _sales(rng: random.Random, partner, keys: list[tuple[str, str]], count: int, month: int, prefix: str) -> list[Sale]:
    """`count` sales of `month`: a fifth carry no key, most one, some two or three (possibly
    of different placements), a few a key no touchpoint carries."""
    rows = []
    for number in range(count):
        carried: dict[str, str] = {}
        for _ in range(rng.choice((0, 1, 1, 1, 1, 2, 2, 3))):
            column, key = rng.choice(keys) if rng.random() < 0.9 else (rng.choice(KINDS)[1], f"stray-{number}")
            carried[column] = key
        when = _moment(rng, partner.timezone, month)
        rows.append(
            Sale(
                partner=partner,
                external_id=f"{prefix}-{number}",
                type="sale",
                occurred_at=when,
                amount=rng.randint(1, 400) * (1_000 if partner.currency == "JPY" else 10),
                currency=partner.currency,
                period=period_of(when, partner.timezone),
                content_digest="x",
                **carried,
            )
        )
    return Sale.objects.bulk_create(rows)


def _refunds(rng: random.Random, sales: list[Sale], share: float, month: int, prefix: str) -> list[Sale]:
    rows = []
    for number, original in enumerate(sales):
        if rng.random() >= share:
            continue
        partner = original.partner
        when = max(original.occurred_at + timedelta(hours=1), _moment(rng, partner.timezone, month))
        rows.append(
            Sale(
                partner=partner,
                external_id=f"{prefix}-{number}",
                type="refund",
                refund_of=original,
                occurred_at=when,
                amount=rng.randint(1, original.amount),
                currency=partner.currency,
                period=period_of(when, partner.timezone),
                content_digest="x",
            )
        )
    return Sale.objects.bulk_create(rows)


def _approve_all(world, settlement: ModuleType, period) -> None:
    for statement in Statement.objects.filter(period=period).order_by("contract_id"):
        settlement.statement_submit(actor=world.finance, statement=statement)
        settlement.statement_approve(actor=world.finance2, statement=statement)


def _state() -> dict[str, Any]:
    """Everything the two months left, keyed by what both runs share (placements, contracts,
    periods and external ids; row ids differ, as sequences do not roll back)."""
    statements = {s.pk: (s.contract_id, s.period) for s in Statement.objects.all()}
    return {
        "statements": sorted(
            Statement.objects.values_list(
                "contract_id",
                "period",
                "status",
                "currency",
                "version_number",
                "net",
                "share_precise",
                "effective_rate",
                "wage",
                "clawback",
                "outcome_clawback",
                "carried_credit",
                "total",
                "payable",
                "credit_carried_forward",
                "fingerprint",
            )
        ),
        "lines": sorted(
            (statements[statement_id], *rest)
            for statement_id, *rest in StatementLine.objects.values_list(
                "statement_id", "position", "kind", "description", "quantity", "revenue", "amount_precise", "amount"
            )
        ),
        "splits": sorted(
            (statements[statement_id], *rest)
            for statement_id, *rest in StatementSplit.objects.values_list(
                "statement_id", "payee__slug", "share", "amount"
            )
        ),
        "sales": sorted(
            (external_id, statements.get(statement_id), *rest)
            for external_id, statement_id, *rest in Sale.objects.values_list(
                "external_id",
                "statement_id",
                "type",
                "attribution",
                "placement_id",
                "touchpoint_id",
                "attributed_key",
                "attribution_note",
            )
        ),
        "ledger": sorted(
            JournalLine.objects.values_list(
                "entry__memo", "entry__occurred_on", "account__code", "amount", "currency", "description"
            )
        ),
    }


def _two_months(world, seed: int, attribution: ModuleType, settlement: ModuleType) -> dict[str, Any]:
    """October settled and approved, then November with late October sales, refunds of both
    months' sales and clawbacks; the state after each month is approved."""
    rng = random.Random(seed)
    placements = list(Placement.objects.order_by("pk"))
    keys = _touchpoint_keys()
    partners = {placement.partner_id: placement.partner for placement in placements}
    october: list[Sale] = []
    for partner_id, partner in sorted(partners.items()):
        october += _sales(rng, partner, keys[partner_id], 150, 10, f"oct-{partner_id}")
    _refunds(rng, october, 0.1, 10, "oct-refund")
    # Half of October was attributed as it arrived; the rest waits for the settlement run.
    attribution.attribution_run(sale_ids=[sale.pk for sale in october[::2]])
    run: Callable[[Any], SettlementRun] = lambda period: settlement.settlement_run_execute(  # noqa: E731
        run_id=SettlementRun.objects.create(period=period).pk
    )
    run(OCT)
    _approve_all(world, settlement, OCT)
    after_october = _state()

    november: list[Sale] = []
    for partner_id, partner in sorted(partners.items()):
        november += _sales(rng, partner, keys[partner_id], 150, 11, f"nov-{partner_id}")
        _sales(rng, partner, keys[partner_id], 20, 10, f"late-{partner_id}")
    _refunds(rng, october, 0.15, 11, "clawback")
    _refunds(rng, november, 0.1, 11, "nov-refund")
    run(NOV)
    drafts = {
        statement.contract_id: sorted(
            Sale.objects.filter(pk__in=settlement.counted_sale_ids(statement=statement)).values_list(
                "external_id", flat=True
            )
        )
        for statement in Statement.objects.filter(period=NOV)
    }
    _approve_all(world, settlement, NOV)
    return {"october": after_october, "november_counted": drafts, "november": _state()}


def _touchpoint_keys() -> dict[int, list[tuple[str, str]]]:
    columns = dict(KINDS)
    keys: dict[int, list[tuple[str, str]]] = {}
    for partner_id, kind, key in Touchpoint.objects.order_by("pk").values_list("partner_id", "kind", "key"):
        keys.setdefault(partner_id, []).append((columns[kind], key))
    return keys


@pytest.mark.parametrize("seed", [7, 2026])
def test_settlement_settles_what_the_code_before_it_settled(world, seed):
    # Given two partners' touchpoints under four placements' rules
    _touchpoints(random.Random(seed), _placements(world))

    # When the same two months are generated and settled by the current code, then (rolled
    # back) by the code before the change
    with transaction.atomic():
        now = _two_months(world, seed, attribution_now, settlement_now)
        transaction.set_rollback(True)
    before = _two_months(world, seed, attribution_before, settlement_before)

    # Then every statement, line, split, sale's attribution and ledger line is the same
    assert now["october"] == before["october"]
    assert now["november_counted"] == before["november_counted"]
    assert now["november"] == before["november"]
    # and the months exercised what they were built for: attributed and unattributed sales,
    # refunds, clawbacks and late sales, in both currencies.
    kinds = {line[2] for line in now["november"]["lines"]}
    assert {"attributed_sales", "late_sales", "refunds", "clawback"} <= kinds
    assert {row[3] for row in now["november"]["statements"]} == {"JPY", "USD"}
    # (Sales no pass or approval decided stay pending.)
    attributions = {row[3] for row in now["november"]["sales"] if row[2] == "sale"}
    assert {"attributed", "unattributed"} <= attributions
