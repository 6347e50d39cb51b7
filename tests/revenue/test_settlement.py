"""Settlement of hand-computed months, line by line, to the yen (DESIGN.md §5a)."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.errors import Conflict, InvalidTransition, PermissionDenied
from core.models import AuditLog
from ledger.selectors.balances import account_balance
from revenue.models import Outcome, Sale, SettlementRun, Statement
from revenue.services.settlement import (
    settlement_run_execute,
    statement_adjust,
    statement_approve,
    statement_submit,
)
from tests.support.revenue import backdate, period_of, sale, touch
from tests.support.world import design_terms, hire

TOKYO = ZoneInfo("Asia/Tokyo")
OCT, NOV, DEC = date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1)


def at(month: int, day: int, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=TOKYO)


def settle(period: date) -> SettlementRun:
    return settlement_run_execute(run_id=SettlementRun.objects.create(period=period).pk)


def lines(statement: Statement) -> list[tuple]:
    return [(line.kind, line.quantity, line.revenue, line.amount) for line in statement.lines.all()]


def approve(world, statement: Statement) -> Statement:
    statement_submit(actor=world.finance, statement=statement)
    return statement_approve(actor=world.finance2, statement=statement)


@pytest.fixture
def rinna(world):
    placement = backdate(hire(world))
    for day, code in [(1, "C1"), (2, "C2"), (3, "C3"), (4, "C4"), (20, "C5")]:
        touch(placement, "coupon", code, at(10, day, 9))
    return placement


def _resolution(placement, external_id: str, when: datetime, withdrawn: bool = False) -> None:
    Outcome.objects.create(
        partner_id=placement.partner_id,
        placement=placement,
        kind="resolution",
        external_id=external_id,
        occurred_at=when,
        period=period_of(when, "Asia/Tokyo"),
        withdrawn_at=when if withdrawn else None,
    )


def test_two_months_with_minimum_refunds_late_sale_and_clawback(world, rinna):
    hoshi = world.hoshi
    # October: 5,200,000 of attributed sales, 200,000 refunded within the month, 2
    # resolutions (a third withdrawn), one sale with no key.
    big = sale(hoshi, at(10, 1), 3_000_000, coupon_code="C1")
    mid = sale(hoshi, at(10, 2), 1_500_000, coupon_code="C2")
    sale(hoshi, at(10, 3), 600_000, coupon_code="C3")
    sale(hoshi, at(10, 4), 100_000, coupon_code="C4")
    sale(hoshi, at(10, 5), 999_999)
    sale(hoshi, at(10, 6), 200_000, refund_of=big)
    _resolution(rinna, "r1", at(10, 7))
    _resolution(rinna, "r2", at(10, 8))
    _resolution(rinna, "r3", at(10, 9), withdrawn=True)

    run = settle(OCT)
    assert (run.status, run.attributed, run.contracts_total, run.statements_written) == ("done", 4, 1, 1)
    october = Statement.objects.get(period=OCT)
    # net 5,000,000: 8% of the first 1,000,000 + 5% of 4,000,000 = 280,000; fees 180;
    # raised to the 300,000 minimum (top-up 19,820); split 70/30.
    assert (october.status, october.net, october.wage, october.total, october.payable) == (
        "draft",
        5_000_000,
        300_000,
        300_000,
        300_000,
    )
    assert october.effective_rate == Decimal("0.056")
    assert lines(october) == [
        ("attributed_sales", 4, 5_200_000, 0),
        ("refunds", 1, -200_000, 0),
        ("share", None, None, 280_000),
        ("outcome_fee", None, None, 180),
        ("minimum_top_up", None, None, 19_820),
    ]
    assert list(october.splits.values_list("payee__slug", "amount")) == [("platform", 210_000), ("studio-aoi", 90_000)]

    approve(world, october)
    assert account_balance(code="partner_receivable:hoshi-mart", currency="JPY") == 300_000
    assert account_balance(code="platform_revenue", currency="JPY") == -210_000
    assert account_balance(code="payee_payable:studio-aoi", currency="JPY") == -90_000
    assert Sale.objects.filter(statement=october).count() == 5  # 4 sales + the refund

    # November: 200,000 of new sales; a late October sale of 500,000 arrives after
    # approval; the 1,500,000 October sale is refunded in full.
    sale(hoshi, at(11, 2), 200_000, coupon_code="C5")
    touch(rinna, "coupon", "C6", at(10, 30))
    sale(hoshi, at(10, 31), 500_000, coupon_code="C6")
    sale(hoshi, at(11, 3), 1_500_000, refund_of=mid)
    settle(NOV)
    november = Statement.objects.get(period=NOV)
    # net 700,000 → share 56,000 → minimum 300,000; clawback 1,500,000 × 0.056 = 84,000
    assert lines(november) == [
        ("attributed_sales", 1, 200_000, 0),
        ("late_sales", 1, 500_000, 0),
        ("share", None, None, 56_000),
        ("minimum_top_up", None, None, 244_000),
        ("clawback", 1, None, -84_000),
    ]
    assert (november.net, november.wage, november.clawback, november.total) == (700_000, 300_000, 84_000, 216_000)
    approve(world, november)
    assert account_balance(code="partner_receivable:hoshi-mart", currency="JPY") == 516_000
    assert account_balance(code="payee_payable:studio-aoi", currency="JPY") == -(90_000 + 64_800)


def test_a_negative_total_carries_credit_and_pays_nothing(world):
    placement = backdate(
        hire(
            world, terms=design_terms(share={"model": "flat", "rate": "0.10"}, minimum_per_period=None, outcome_fees={})
        )
    )
    touch(placement, "coupon", "C1", at(10, 1, 9))
    bought = sale(world.hoshi, at(10, 1), 1_000_000, coupon_code="C1")
    settle(OCT)
    approve(world, Statement.objects.get(period=OCT))  # wage 100,000 at 10%
    sale(world.hoshi, at(11, 2), 1_000_000, refund_of=bought)  # clawback 100,000
    touch(placement, "coupon", "C2", at(11, 1, 9))
    sale(world.hoshi, at(11, 3), 300_000, coupon_code="C2")  # wage 30,000
    settle(NOV)
    november = Statement.objects.get(period=NOV)
    assert (november.wage, november.clawback, november.total, november.payable, november.credit_carried_forward) == (
        30_000,
        100_000,
        -70_000,
        0,
        70_000,
    )
    assert november.splits.count() == 0
    approve(world, november)
    assert november.journal_entry is None  # nothing invoiced against a negative period
    touch(placement, "coupon", "C3", at(12, 1, 9))
    sale(world.hoshi, at(12, 2), 1_000_000, coupon_code="C3")  # wage 100,000
    settle(DEC)
    december = Statement.objects.get(period=DEC)
    assert lines(december)[-1] == ("carried_credit", None, None, -70_000)
    assert (december.total, december.payable) == (30_000, 30_000)
    assert list(december.splits.values_list("amount", flat=True)) == [21_000, 9_000]


def test_rerunning_replaces_the_draft_and_never_touches_an_approved_statement(world, rinna):
    sale(world.hoshi, at(10, 2), 2_000_000, coupon_code="C2")
    settle(OCT)
    first = Statement.objects.get(period=OCT)
    first_lines = lines(first)
    settle(OCT)
    again = Statement.objects.get(period=OCT)
    assert (again.pk, lines(again), again.fingerprint) == (first.pk, first_lines, first.fingerprint)
    approve(world, again)
    sale(world.hoshi, at(10, 3), 100_000, coupon_code="C3")  # late: counts in November
    settle(OCT)
    assert lines(Statement.objects.get(period=OCT)) == first_lines


def test_approval_refuses_a_stale_draft_out_of_order_periods_and_non_finance(world, rinna):
    sale(world.hoshi, at(10, 2), 2_000_000, coupon_code="C2")
    settle(OCT)
    october = Statement.objects.get(period=OCT)
    with pytest.raises(PermissionDenied):
        statement_submit(actor=world.hoshi_manager, statement=october)
    statement_submit(actor=world.finance, statement=october)
    sale(world.hoshi, at(10, 3), 100_000, coupon_code="C3")
    with pytest.raises(Conflict, match="re-run the period"):
        statement_approve(actor=world.finance2, statement=october)
    assert Sale.objects.filter(statement__isnull=False).count() == 0
    settle(NOV)
    with pytest.raises(InvalidTransition):
        statement_approve(actor=world.finance2, statement=Statement.objects.get(period=NOV))
    assert Statement.objects.filter(status="approved").count() == 0


def test_finance_adjustment_survives_a_rerun_and_is_audited(world, rinna):
    sale(world.hoshi, at(10, 2), 10_000_000, coupon_code="C2")  # share 530,000
    settle(OCT)
    october = statement_adjust(
        actor=world.finance,
        statement=Statement.objects.get(period=OCT),
        amount=-30_000,
        reason="Goodwill for the POS outage",
    )
    assert (october.total, lines(october)[-1]) == (500_000, ("adjustment", None, None, -30_000))
    settle(OCT)
    assert Statement.objects.get(period=OCT).total == 500_000
    assert AuditLog.objects.filter(action="statement.adjusted").count() == 1


def test_a_half_unit_clawback_survives_storing_the_effective_rate(world):
    # given 50% of the first unit and nothing above: a net of 6 earns 0.5, so the effective
    # rate is 0.5 / 6 = 0.08333… (it never ends)
    placement = backdate(
        hire(
            world,
            terms=design_terms(
                share={"model": "graduated", "tiers": [{"up_to": 1, "rate": "0.5"}, {"up_to": None, "rate": "0"}]},
                minimum_per_period=None,
                outcome_fees={},
            ),
        )
    )
    touch(placement, "coupon", "C1", at(10, 1, 9))
    bought = sale(world.hoshi, at(10, 1), 6, coupon_code="C1")
    settle(OCT)
    october = approve(world, Statement.objects.get(period=OCT))
    assert october.wage == 1  # 0.5 rounded half-up
    # when all 6 are refunded next month
    sale(world.hoshi, at(11, 2), 6, refund_of=bought)
    settle(NOV)
    # then exactly the half unit is clawed back and rounds up to 1, as the wage did; a rate
    # stored to 20 places would give 0.49999999999999999998 and claw back nothing
    assert Statement.objects.get(period=NOV).clawback == 1


def test_settlement_attributes_what_it_counts_and_approval_writes_it_onto_the_settled_sales(world, rinna):
    # given October's sales as ingestion stored them, never through an attribution pass
    hoshi = world.hoshi
    counted = [sale(hoshi, at(10, 1), 3_000_000, coupon_code="C1"), sale(hoshi, at(10, 2), 1_500_000, coupon_code="C2")]
    keyless = sale(hoshi, at(10, 5), 999_999)
    # and one whose stored explanation went stale (it names no placement, yet C3 was issued)
    stale = sale(hoshi, at(10, 3), 600_000, coupon_code="C3")
    Sale.objects.filter(pk=stale.pk).update(attribution="unattributed", attribution_note="stale")
    # when October is settled
    run = settle(OCT)
    # then the statement counts the three sales the rule attributes, the stale one included,
    # and the run wrote nothing onto any sale
    october = Statement.objects.get(period=OCT)
    assert (run.attributed, october.net) == (3, 5_100_000)
    assert list(Sale.objects.order_by("pk").values_list("attribution", "statement_id")) == [
        ("pending", None),
        ("pending", None),
        ("pending", None),
        ("unattributed", None),
    ]
    # when finance approves it
    approve(world, october)
    # then each settled sale carries the attribution it was settled under, with the reason;
    # the sale without a key is left for the attribution pass
    rows = {s.pk: (s.attribution, s.placement_id, s.attributed_key, s.statement_id) for s in Sale.objects.all()}
    assert rows == {
        counted[0].pk: ("attributed", rinna.pk, "coupon_code", october.pk),
        counted[1].pk: ("attributed", rinna.pk, "coupon_code", october.pk),
        stale.pk: ("attributed", rinna.pk, "coupon_code", october.pk),
        keyless.pk: ("pending", None, "", None),
    }
    assert Sale.objects.get(pk=stale.pk).attribution_note == (
        "coupon_code C3, touched 2026-10-03 00:00 UTC, 03:00:00 after the touch; last touch of 1 eligible "
        "touchpoint(s)."
    )


@pytest.mark.parametrize("parallel_workers", [0, 1])
def test_capping_settlements_parallel_workers_changes_no_figure(world, rinna, settings, parallel_workers):
    # given October's sales, and settlement capped to fewer PostgreSQL parallel workers (a
    # small machine leaving cores to the chat lane)
    settings.SETTLEMENT_PARALLEL_WORKERS = parallel_workers
    hoshi = world.hoshi
    big = sale(hoshi, at(10, 1), 3_000_000, coupon_code="C1")
    sale(hoshi, at(10, 2), 1_500_000, coupon_code="C2")
    sale(hoshi, at(10, 5), 999_999)
    sale(hoshi, at(10, 6), 200_000, refund_of=big)
    # when the month is settled
    with CaptureQueriesContext(connection) as queries:
        run = settle(OCT)
    # then its aggregates ran under the cap, and the run and its statement are exactly what
    # an uncapped run computes
    caps = [q["sql"] for q in queries.captured_queries if "set_config('max_parallel_workers_per_gather'" in q["sql"]]
    assert len(caps) == 2  # set for the aggregates, then put back
    assert f"set_config('max_parallel_workers_per_gather', '{parallel_workers}', true)" in caps[0]
    assert (run.status, run.attributed, run.statements_written) == ("done", 2, 1)
    october = Statement.objects.get(period=OCT)
    assert (october.net, october.wage) == (4_300_000, 300_000)
    assert lines(october) == [
        ("attributed_sales", 2, 4_500_000, 0),
        ("refunds", 1, -200_000, 0),
        ("share", None, None, 245_000),
        ("minimum_top_up", None, None, 55_000),
    ]
