"""The monthly roll-up of attributed sales behind the portal's revenue chart: kept in the
same statements as the writes that move sales onto or off a placement (attribution, late
touchpoints, inquiries, approval), equal at every step to summing the sales table, and
reconciled when something wrote around it."""

from __future__ import annotations

import itertools
import threading
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connections
from django.db.models import Count, Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.models import AuditLog
from revenue import tasks
from revenue.models import Sale, SaleMonthlyRollup, SettlementRun, Statement
from revenue.services import inquiries
from revenue.services.attribution import attribution_reopen, attribution_run
from revenue.services.ingestion import touchpoints_ingest
from revenue.services.rollups import rollup_rebuild, rollup_reconcile
from revenue.services.settlement import settlement_run_execute, statement_approve, statement_submit
from tests.support.concurrency import blocked_backends, transaction_in_thread
from tests.support.inquiries import OCT, october_in_review
from tests.support.revenue import at, backdate, sale, touch
from tests.support.world import hire

TOKYO = ZoneInfo("Asia/Tokyo")
SEP, NOV = date(2026, 9, 1), date(2026, 11, 1)
_keys = itertools.count(1)


def stored() -> list[tuple]:
    """The roll-up as the chart reads it: groups with sales."""
    return sorted(
        SaleMonthlyRollup.objects.filter(sales__gt=0).values_list(
            "partner_id", "placement_id", "period", "currency", "sales", "amount"
        )
    )


def recomputed() -> list[tuple]:
    """The same figures summed from the sales table."""
    rows = (
        Sale.objects.filter(type="sale", placement__isnull=False)
        .values_list("partner_id", "placement_id", "period", "currency")
        .annotate(sales=Count("id"), amount=Sum("amount"))
    )
    return sorted((*row[:4], row[4], int(row[5])) for row in rows)


def _coupon(placement, key: str, when: datetime) -> dict:
    return {"placement": placement.pk, "kind": "coupon", "key": key, "occurred_at": when.isoformat()}


def _click(placement, key: str, when: datetime) -> dict:
    return {"placement": placement.pk, "kind": "click", "key": key, "occurred_at": when.isoformat()}


@pytest.fixture
def rinna(world):
    placement = backdate(hire(world))
    for day, code in [(1, "C1"), (2, "C2"), (3, "C3")]:
        touch(placement, "coupon", code, at(10, day, 9))
    touch(placement, "coupon", "N1", at(11, 2, 9))
    return placement


def test_attribution_adds_each_attributed_sale_to_its_month(world, rinna):
    # given October and November sales with coupons, one without a key and a refund
    hoshi = world.hoshi
    first = sale(hoshi, at(10, 4), 3_000_000, coupon_code="C1")
    sale(hoshi, at(10, 5), 1_500_000, coupon_code="C2")
    sale(hoshi, at(10, 6), 600_000, coupon_code="C3")
    sale(hoshi, at(10, 7), 999_999)
    sale(hoshi, at(11, 3), 70_000, coupon_code="N1")
    sale(hoshi, at(10, 9), 200_000, refund_of=first)
    assert stored() == []
    # when the attribution pass runs
    result = attribution_run()
    # then the roll-up holds each month's attributed sales, gross, and nothing else
    assert (result.attributed, result.unattributed) == (4, 1)
    assert stored() == [
        (hoshi.pk, rinna.pk, OCT, "JPY", 3, 5_100_000),
        (hoshi.pk, rinna.pk, NOV, "JPY", 1, 70_000),
    ]
    assert stored() == recomputed()
    # and a second pass (nothing pending) changes nothing
    attribution_run()
    assert stored() == recomputed()


def test_a_refund_leaves_the_roll_up_as_it_was(world, rinna):
    from revenue.services.ingestion import sales_ingest

    # given an attributed October sale
    sales_ingest(
        partner=world.hoshi,
        events=[
            {
                "external_id": "s-1",
                "type": "sale",
                "occurred_at": at(10, 4).isoformat(),
                "amount": 80_000,
                "currency": "JPY",
                "coupon_code": "C1",
            }
        ],
    )
    attribution_run()
    before = stored()
    assert before == [(world.hoshi.pk, rinna.pk, OCT, "JPY", 1, 80_000)]
    # when a refund of it arrives, and the pass runs again
    result = sales_ingest(
        partner=world.hoshi,
        events=[
            {
                "external_id": "s-1-r",
                "type": "refund",
                "refund_of": "s-1",
                "occurred_at": at(10, 8).isoformat(),
                "amount": 30_000,
                "currency": "JPY",
            }
        ],
    )
    attribution_run()
    # then the roll-up (gross attributed sales, what the chart shows) is unchanged
    assert result.accepted == 1
    assert stored() == before == recomputed()


def test_a_late_touchpoint_moves_a_sale_to_the_placement_it_now_goes_to(world, rinna):
    # given a sale attributed to Rinna by its coupon, carrying a click id nobody has touched yet
    kai = backdate(hire(world, employee="kai"))
    sale(world.hoshi, at(10, 6), 250_000, coupon_code="C1", click_id="K1")
    sale(world.hoshi, at(10, 6), 40_000, coupon_code="C2")
    attribution_run()
    assert stored() == [(world.hoshi.pk, rinna.pk, OCT, "JPY", 2, 290_000)]
    # when Kai's later click touchpoint arrives: the sale goes back to pending...
    touchpoints_ingest(partner=world.hoshi, touchpoints=[_click(kai, "K1", at(10, 5))])
    # then it leaves Rinna's month at once
    assert stored() == [(world.hoshi.pk, rinna.pk, OCT, "JPY", 1, 40_000)] == recomputed()
    # and the next pass gives it to Kai (last touch)
    attribution_run()
    assert stored() == sorted(
        [(world.hoshi.pk, rinna.pk, OCT, "JPY", 1, 40_000), (world.hoshi.pk, kai.pk, OCT, "JPY", 1, 250_000)]
    )
    assert stored() == recomputed()


def test_accepted_inquiries_re_attribute_and_exclude_in_the_roll_up(world):
    # given October in review: four of Rinna's sales (3,000,000 + 1,500,000 + 400,000 + 100,000)
    scene = october_in_review(world)
    attribution_run()
    rinna, hoshi = scene.placement, world.hoshi
    assert stored() == [(hoshi.pk, rinna.pk, OCT, "JPY", 4, 5_000_000)]
    kai = backdate(hire(world, employee="kai"))
    touch(kai, "coupon", "K1", at(10, 1, 9))
    settlement_run_execute(run_id=SettlementRun.objects.create(period=OCT).pk)
    statement = statement_submit(actor=world.finance, statement=Statement.objects.get(pk=scene.statement.pk))

    # when finance accepts an inquiry giving the 400,000 sale to Kai
    inquiry = inquiries.inquiry_open(
        actor=world.hoshi_member, statement=statement, sale=scene.sales[2], reason="not_our_customer", comment="Kai's."
    )
    inquiries.inquiry_resolve(actor=world.finance, inquiry=inquiry, decision="accept", reattribute_to=kai)
    # then it moves from Rinna's October to Kai's
    assert stored() == sorted(
        [(hoshi.pk, rinna.pk, OCT, "JPY", 3, 4_600_000), (hoshi.pk, kai.pk, OCT, "JPY", 1, 400_000)]
    )

    # when another inquiry takes the 3,000,000 sale out altogether
    inquiry = inquiries.inquiry_open(
        actor=world.hoshi_member, statement=statement, sale=scene.sales[0], reason="duplicate", comment="Twice."
    )
    inquiries.inquiry_resolve(actor=world.finance, inquiry=inquiry, decision="accept")
    # then Rinna's October loses it, and a full pass afterwards agrees
    assert stored() == sorted(
        [(hoshi.pk, rinna.pk, OCT, "JPY", 2, 1_600_000), (hoshi.pk, kai.pk, OCT, "JPY", 1, 400_000)]
    )
    attribution_reopen(partner_ids=[hoshi.pk])
    attribution_run()
    assert (
        stored()
        == recomputed()
        == sorted([(hoshi.pk, rinna.pk, OCT, "JPY", 2, 1_600_000), (hoshi.pk, kai.pk, OCT, "JPY", 1, 400_000)])
    )


def test_approval_adds_the_sales_it_settles_under_their_placement(world):
    # given October in review, its sales sent back to pending (as new terms would)
    scene = october_in_review(world)
    attribution_run()
    attribution_reopen(partner_ids=[world.hoshi.pk])
    assert stored() == []
    # when the statement is approved, writing onto each sale the placement it is settled under
    statement_approve(actor=world.finance2, statement=scene.statement)
    # then the roll-up holds them again
    assert stored() == [(world.hoshi.pk, scene.placement.pk, OCT, "JPY", 4, 5_000_000)] == recomputed()


def test_the_portal_chart_reads_the_roll_up(world, rinna):
    from tests.support.web import browser

    # given attributed October sales, and a roll-up row made wrong by hand
    sale(world.hoshi, at(10, 4), 3_000_000, coupon_code="C1")
    attribution_run()
    SaleMonthlyRollup.objects.filter(partner=world.hoshi).update(amount=1)
    # when the owner opens the revenue page
    response = browser(world.hoshi_owner).get("/portal/revenue/")
    # then the chart shows the roll-up's figure (it no longer sums the sales table)
    [chart] = response.context["charts"]
    assert (chart.rows[0].period, [cell.formatted for cell in chart.rows[0].cells]) == (OCT, ["JPY 1"])
    # and after reconciliation, the sales' own figure
    rollup_reconcile()
    [chart] = browser(world.hoshi_owner).get("/portal/revenue/").context["charts"]
    assert [cell.formatted for cell in chart.rows[0].cells] == ["JPY 3,000,000"]


# --- reconciliation ---------------------------------------------------------------------------


def test_reconciliation_corrects_injected_drift_and_audits_it(world, rinna):
    # given attributed September, October and November sales, and a roll-up drifted three ways:
    # a wrong amount, a missing row and a row for sales that do not exist
    hoshi = world.hoshi
    kai = backdate(hire(world, employee="kai"))
    touch(rinna, "coupon", "S1", at(9, 1, 9))
    sale(hoshi, at(9, 2), 10_000, coupon_code="S1")
    sale(hoshi, at(10, 4), 3_000_000, coupon_code="C1")
    sale(hoshi, at(10, 5), 1_500_000, coupon_code="C2")
    sale(hoshi, at(11, 3), 70_000, coupon_code="N1")
    attribution_run()
    truth = recomputed()
    SaleMonthlyRollup.objects.filter(period=OCT).update(amount=4_400_000)
    SaleMonthlyRollup.objects.filter(period=NOV).delete()
    SaleMonthlyRollup.objects.create(partner=hoshi, placement=kai, period=OCT, currency="JPY", sales=2, amount=9)
    SaleMonthlyRollup.objects.filter(period=SEP).update(sales=5)
    audits = AuditLog.objects.count()

    # when October on is reconciled
    result = rollup_reconcile(period_from=OCT)
    # then the three groups of those months are corrected, September (outside) is not
    assert (result.groups, result.corrected, result.partner_ids) == (3, 3, [hoshi.pk])
    assert stored() == sorted(
        [
            (hoshi.pk, rinna.pk, SEP, "JPY", 5, 10_000),
            (hoshi.pk, rinna.pk, OCT, "JPY", 2, 4_500_000),
            (hoshi.pk, rinna.pk, NOV, "JPY", 1, 70_000),
        ]
    )
    # and the correction is audited once for the partner, with its counts
    entry = AuditLog.objects.get(action="revenue.rollup_corrected")
    assert (entry.actor, entry.actor_label, entry.partner_id, entry.target_id) == (
        None,
        "system:rollup-reconcile",
        hoshi.pk,
        str(hoshi.pk),
    )
    assert entry.changes == {
        "groups": 3,
        "sales_out_of_place": 3,
        "sales": -1,
        "amount": 100_000 + 70_000 - 9,
        "period_from": "2026-10-01",
        "period_to": None,
    }
    assert AuditLog.objects.count() == audits + 1

    # when everything is rebuilt, September too is right; a second rebuild finds nothing
    assert rollup_rebuild().corrected == 1
    assert stored() == truth
    again = rollup_rebuild()
    assert (again.groups, again.corrected) == (4, 0)
    assert AuditLog.objects.count() == audits + 2


def test_the_beat_reconciles_the_previous_month_and_on(world, rinna, monkeypatch):
    # given a drifted September and October, on 15 November 2026
    touch(rinna, "coupon", "S1", at(9, 1, 9))
    sale(world.hoshi, at(9, 2), 10_000, coupon_code="S1")
    sale(world.hoshi, at(10, 4), 20_000, coupon_code="C1")
    attribution_run()
    SaleMonthlyRollup.objects.update(amount=1)
    monkeypatch.setattr(tasks.timezone, "now", lambda: datetime(2026, 11, 15, 3, tzinfo=ZoneInfo("UTC")))
    # when the hourly task runs
    corrected = tasks.rollup_reconcile_recent()
    # then October is corrected, September (closed long ago) is left for a rebuild
    assert corrected == 1
    assert stored() == sorted(
        [(world.hoshi.pk, rinna.pk, SEP, "JPY", 1, 1), (world.hoshi.pk, rinna.pk, OCT, "JPY", 1, 20_000)]
    )


def test_rebuild_command_reports_what_it_corrected(world, rinna, capsys):
    from django.core.management import call_command

    sale(world.hoshi, at(10, 4), 20_000, coupon_code="C1")
    attribution_run()
    SaleMonthlyRollup.objects.all().delete()
    call_command("rollup_rebuild")
    assert capsys.readouterr().out == f"1 month groups compared, 1 corrected (partners [{world.hoshi.pk}]).\n"
    assert stored() == recomputed() == [(world.hoshi.pk, rinna.pk, OCT, "JPY", 1, 20_000)]


# --- property ---------------------------------------------------------------------------------

_step = st.one_of(
    st.tuples(
        st.just("sale"),
        st.integers(1, 2_000_000),
        st.integers(1, 60),  # day offset from 15 September
        st.sampled_from(["coupon", "click", "none"]),
        st.integers(0, 3),  # which earlier key (modulo how many exist)
    ),
    st.tuples(st.just("refund"), st.integers(1, 1_000), st.integers(0, 50)),
    st.tuples(
        st.just("touch"), st.sampled_from(["rinna", "kai"]), st.sampled_from(["coupon", "click"]), st.integers(0, 60)
    ),
    st.tuples(st.just("attribute")),
    st.tuples(st.just("reopen")),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(_step, min_size=1, max_size=12))
def test_the_roll_up_always_equals_the_recomputation(world, placements, steps):
    # given Rinna and Kai at Hoshi Mart; when any sequence of sales, refunds, touchpoints
    # (late ones send sales back to pending), passes and reopenings happens
    start = datetime(2026, 9, 15, 12, tzinfo=TOKYO)
    keys: dict[str, list[str]] = {"coupon": [], "click": []}
    sales: list[Sale] = []
    for step in steps:
        if step[0] == "sale":
            _, amount, day, kind, which = step
            carried = {}
            if kind != "none" and keys[kind]:
                carried = {f"{kind}_code" if kind == "coupon" else "click_id": keys[kind][which % len(keys[kind])]}
            sales.append(sale(world.hoshi, start + timedelta(days=day), amount, **carried))
        elif step[0] == "refund":
            _, amount, which = step
            originals = [s for s in sales if s.type == "sale" and s.amount >= amount]
            if originals:
                original = originals[which % len(originals)]
                sales.append(sale(world.hoshi, original.occurred_at + timedelta(days=1), amount, refund_of=original))
        elif step[0] == "touch":
            _, who, kind, day = step
            key = f"P{next(_keys)}"
            keys[kind].append(key)
            maker = _coupon if kind == "coupon" else _click
            touchpoints_ingest(
                partner=world.hoshi, touchpoints=[maker(placements[who], key, start + timedelta(days=day))]
            )
        elif step[0] == "attribute":
            attribution_run()
        else:
            attribution_reopen(partner_ids=[world.hoshi.pk])
        # then after every step the roll-up equals the sum of the sales table
        assert stored() == recomputed()
    attribution_run()
    assert stored() == recomputed()


@pytest.fixture
def placements(world):
    return {"rinna": backdate(hire(world)), "kai": backdate(hire(world, employee="kai"))}


# --- two transactions at once -----------------------------------------------------------------


def test_two_transactions_changing_the_same_month_both_count(transactional_db, world):
    # given Rinna's October: five sales attributed, and five more pending
    rinna = backdate(hire(world))
    kai = backdate(hire(world, employee="kai"))
    for n in range(10):
        touch(rinna, "coupon", f"R{n}", at(10, 1, 9))
    early = [sale(world.hoshi, at(10, 2), 1_000 * (n + 1), coupon_code=f"R{n}", click_id=f"K{n}") for n in range(5)]
    attribution_run(sale_ids=[s.pk for s in early])
    late = [sale(world.hoshi, at(10, 3), 100 * (n + 1), coupon_code=f"R{n + 5}") for n in range(5)]
    assert stored() == [(world.hoshi.pk, rinna.pk, OCT, "JPY", 5, 15_000)]

    # when one transaction attributes the pending five (to Rinna's October) and holds its
    # commit, while another stores Kai's clicks, sending the first five back to pending
    hold, release = threading.Event(), threading.Event()
    passing = transaction_in_thread(lambda: attribution_run(sale_ids=[s.pk for s in late]), hold=hold, release=release)
    assert hold.wait(10)
    done = threading.Event()

    def store() -> None:
        try:
            touchpoints_ingest(partner=world.hoshi, touchpoints=[_click(kai, f"K{n}", at(10, 1, 10)) for n in range(5)])
            done.set()
        finally:
            connections.close_all()

    storing = threading.Thread(target=store)
    storing.start()
    deadline = datetime.now() + timedelta(seconds=5)
    while not blocked_backends() and not done.is_set() and datetime.now() < deadline:
        threading.Event().wait(0.05)
    # the second waits on the roll-up row the first holds
    waited = not done.is_set()
    release.set()
    passing.join()
    storing.join()

    # then both changes count: the late five added, the early five taken off
    assert (waited, done.is_set()) == (True, True)
    assert stored() == [(world.hoshi.pk, rinna.pk, OCT, "JPY", 5, 1_500)] == recomputed()
    # and the pass that follows gives the early five to Kai
    attribution_run()
    assert stored() == sorted(
        [(world.hoshi.pk, rinna.pk, OCT, "JPY", 5, 1_500), (world.hoshi.pk, kai.pk, OCT, "JPY", 5, 15_000)]
    )
    assert stored() == recomputed()
