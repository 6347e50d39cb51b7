"""DESIGN.md §5a's settled readings that issue 13 made explicit, month by month to the yen:
a withdrawn outcome whose fee is on an approved statement is reversed in the first open
period; an ended placement keeps getting statements while anything is left to settle
(run-off), without the minimum wage, and nothing is dropped."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from contracts import services as contract_services
from contracts.models import PlacementTransition
from ledger.selectors.balances import account_balance
from revenue.models import Outcome, SettlementRun, Statement
from revenue.services.ingestion import outcome_withdraw
from revenue.services.settlement import settlement_run_execute, statement_approve, statement_submit
from tests.support.revenue import backdate, period_of, sale, touch
from tests.support.world import design_terms, hire

TOKYO = ZoneInfo("Asia/Tokyo")
OCT, NOV, DEC, JAN, FEB = (date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1))


def at(year: int, month: int, day: int, hour: int = 12) -> datetime:
    return datetime(year, month, day, hour, tzinfo=TOKYO)


def settle(period: date) -> SettlementRun:
    return settlement_run_execute(run_id=SettlementRun.objects.create(period=period).pk)


def lines(statement: Statement) -> list[tuple]:
    return [(line.kind, line.quantity, line.revenue, line.amount) for line in statement.lines.all()]


def approve(world, period: date) -> Statement:
    statement = Statement.objects.get(period=period)
    statement_submit(actor=world.finance, statement=statement)
    return statement_approve(actor=world.staff, statement=statement)


def _resolution(placement, external_id: str, when: datetime) -> Outcome:
    return Outcome.objects.create(
        partner_id=placement.partner_id,
        placement=placement,
        kind="resolution",
        external_id=external_id,
        occurred_at=when,
        period=period_of(when, "Asia/Tokyo"),
    )


def test_a_withdrawn_outcome_already_paid_for_is_reversed_once_in_the_first_open_period(world):
    # Given: Kai on a flat 10% with a resolution fee of 90 and no minimum; October has
    # three resolutions and 10,000 of sales, approved.
    placement = backdate(
        hire(
            world,
            employee="kai",
            terms=design_terms(
                share={"model": "flat", "rate": "0.10"},
                minimum_per_period=None,
                outcome_fees={"resolution": 90, "delivered_work": 50000},
            ),
        )
    )
    touch(placement, "conversation", "conv-1", at(2026, 10, 1, 9))
    sale(world.hoshi, at(2026, 10, 2), 10_000, conversation_id="conv-1")
    first, second, _third = (_resolution(placement, f"r{n}", at(2026, 10, 3 + n)) for n in range(3))
    settle(OCT)
    october = approve(world, OCT)
    assert (october.wage, october.total) == (1_000 + 270, 1_270)

    # When: two of them are withdrawn in November, after October was approved; the fee of
    # the version October was rated under is what comes back, even if terms change.
    outcome_withdraw(placement=placement, kind="resolution", external_id="r0")
    outcome_withdraw(placement=placement, kind="resolution", external_id="r1")
    sale(world.hoshi, at(2026, 11, 2), 5_000, conversation_id="conv-1")  # outside the window: not Kai's
    touch(placement, "conversation", "conv-2", at(2026, 11, 3, 9))
    sale(world.hoshi, at(2026, 11, 4), 3_000, conversation_id="conv-2")
    settle(NOV)

    # Then: November claws back 2 × 90 after the share, and says so on its own line.
    november = Statement.objects.get(period=NOV)
    assert lines(november) == [
        ("attributed_sales", 1, 3_000, 0),
        ("share", None, None, 300),
        ("outcome_clawback", None, None, -180),
    ]
    assert (november.wage, november.clawback, november.outcome_clawback, november.total, november.payable) == (
        300,
        0,
        180,
        120,
        120,
    )
    approve(world, NOV)
    assert sorted(Outcome.objects.filter(reversal_statement=november).values_list("external_id", flat=True)) == [
        "r0",
        "r1",
    ]
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.statement_id, second.statement_id) == (october.pk, october.pk)

    # And: December reverses nothing again.
    settle(DEC)
    december = Statement.objects.get(period=DEC)
    assert lines(december) == [("attributed_sales", 0, 0, 0), ("share", None, None, 0)]
    assert december.total == 0


def test_a_withdrawal_that_outruns_the_wage_carries_credit(world):
    # Given: an October with 5 resolutions at 90 and nothing else, approved (450).
    placement = backdate(
        hire(
            world, employee="kai", terms=design_terms(share={"model": "flat", "rate": "0.10"}, minimum_per_period=None)
        )
    )
    for n in range(5):
        _resolution(placement, f"r{n}", at(2026, 10, 2 + n))
    settle(OCT)
    assert approve(world, OCT).total == 450
    # When: all five are withdrawn and November earns nothing.
    for n in range(5):
        outcome_withdraw(placement=placement, kind="resolution", external_id=f"r{n}")
    settle(NOV)
    # Then: −450 becomes credit carried into December, nothing payable.
    november = Statement.objects.get(period=NOV)
    assert (november.total, november.payable, november.credit_carried_forward) == (-450, 0, 450)


def _end(world, placement, when: datetime) -> None:
    contract_services.placement_end(actor=world.hoshi_manager, placement=placement, reason="Season over")
    PlacementTransition.objects.filter(placement=placement, to_status="ended").update(at=when)


def test_an_ended_placement_runs_off_late_sales_clawbacks_and_credit_without_a_minimum(world):
    # Given: Rinna under §5a's example terms (graduated, minimum 300,000), October approved
    # with 2,000,000 of sales, then the placement ends on 31 October.
    placement = backdate(hire(world))
    touch(placement, "coupon", "C1", at(2026, 10, 1, 9))
    touch(placement, "coupon", "C2", at(2026, 10, 20, 9))
    big = sale(world.hoshi, at(2026, 10, 2), 2_000_000, coupon_code="C1")
    settle(OCT)
    october = approve(world, OCT)
    # 8% of 1,000,000 + 5% of 1,000,000 = 130,000, raised to the 300,000 minimum
    assert (october.wage, october.total, october.effective_rate) == (300_000, 300_000, Decimal("0.065"))
    _end(world, placement, at(2026, 10, 31, 18))

    # When: in November a late October sale arrives; nothing else happens.
    sale(world.hoshi, at(2026, 10, 25), 100_000, coupon_code="C2")
    run = settle(NOV)

    # Then: November has a statement for the late sale alone, rated without the minimum.
    november = Statement.objects.get(period=NOV)
    assert (run.contracts_total, run.statements_written) == (1, 1)
    assert lines(november) == [
        ("attributed_sales", 0, 0, 0),
        ("late_sales", 1, 100_000, 0),
        ("share", None, None, 8_000),
    ]
    assert (november.wage, november.total, november.payable) == (8_000, 8_000, 8_000)
    approve(world, NOV)

    # When: December has nothing left to settle.
    settle(DEC)
    # Then: no December statement.
    assert not Statement.objects.filter(period=DEC).exists()

    # When: in January the big October sale is refunded in full.
    sale(world.hoshi, at(2027, 1, 5), 2_000_000, refund_of=big)
    settle(JAN)
    # Then: January claws it back at October's effective rate: 2,000,000 × 0.065.
    january = Statement.objects.get(period=JAN)
    assert lines(january) == [
        ("attributed_sales", 0, 0, 0),
        ("share", None, None, 0),
        ("clawback", 1, None, -130_000),
    ]
    assert (january.total, january.payable, january.credit_carried_forward) == (-130_000, 0, 130_000)
    approve(world, JAN)

    # And: February still carries the credit (nothing is dropped), and owes nothing.
    settle(FEB)
    february = Statement.objects.get(period=FEB)
    assert lines(february) == [
        ("attributed_sales", 0, 0, 0),
        ("share", None, None, 0),
        ("carried_credit", None, None, -130_000),
    ]
    assert (february.total, february.credit_carried_forward) == (-130_000, 130_000)
    assert account_balance(code="partner_receivable:hoshi-mart", currency="JPY") == 308_000


def test_an_ended_placement_shows_a_late_sale_with_its_refund_then_stops(world):
    # Given: an October approved, the placement ended in October, and a November draft
    # computed while a late sale was counted.
    placement = backdate(hire(world))
    touch(placement, "coupon", "C1", at(2026, 10, 1, 9))
    sale(world.hoshi, at(2026, 10, 2), 10_000, coupon_code="C1")
    settle(OCT)
    approve(world, OCT)
    _end(world, placement, at(2026, 10, 31, 18))
    touch(placement, "coupon", "C2", at(2026, 10, 15, 9))
    late = sale(world.hoshi, at(2026, 10, 20), 1_000, coupon_code="C2")
    settle(NOV)
    assert Statement.objects.get(period=NOV).net == 1_000
    # When: the late sale is refunded, also dated in the approved October: a refund of an
    # unsettled sale lowers the net, so both land in November.
    sale(world.hoshi, at(2026, 10, 21), 1_000, refund_of=late)
    settle(NOV)
    november = Statement.objects.get(period=NOV)
    # Then: the late sale and its refund are both shown; nothing is owed.
    assert lines(november) == [
        ("attributed_sales", 0, 0, 0),
        ("late_sales", 1, 1_000, 0),
        ("refunds", 1, -1_000, 0),
        ("share", None, None, 0),
    ]
    # And: once November is approved, December has nothing left: no statement.
    approve(world, NOV)
    settle(DEC)
    assert not Statement.objects.filter(period=DEC).exists()
