"""The portal's revenue chart through the API and a real Celery worker: sales and
touchpoints posted as a partner's systems do, attributed by the worker, and the monthly
roll-up the chart reads equal to the sales, to the unit, also after a late touchpoint moves
sales to another employee."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from revenue.models import Sale, SaleMonthlyRollup
from tests.support.revenue import backdate
from tests.support.revenue_api import partner_client, post
from tests.support.web import browser
from tests.support.workers import wait_for
from tests.support.world import hire

pytestmark = pytest.mark.integration
TOKYO = ZoneInfo("Asia/Tokyo")


def _iso(month: int, day: int, hour: int = 12) -> str:
    return datetime(2026, month, day, hour, tzinfo=TOKYO).isoformat()


def _decided() -> bool:
    return not Sale.objects.filter(type="sale", attribution="pending").exists()


def _rollup() -> list[tuple]:
    return sorted(
        SaleMonthlyRollup.objects.filter(sales__gt=0).values_list(
            "placement__employee__name", "period", "sales", "amount"
        )
    )


def test_the_chart_follows_sales_attributed_by_the_worker(world, celery_worker_process):
    rinna = backdate(hire(world))
    kai = backdate(hire(world, employee="kai"))
    pos = partner_client(world)
    # Rinna's coupons on 1 October and 1 November
    touchpoints = [
        {"placement": rinna.pk, "kind": "coupon", "key": f"R-{month}-{n}", "occurred_at": _iso(month, 1, 9)}
        for month in (10, 11)
        for n in range(20)
    ]
    assert post(pos, "/api/v1/touchpoints", {"touchpoints": touchpoints})["accepted"] == 40
    # 300 sales over October and November: two thirds carry a coupon, every third a click id
    events = [
        {
            "external_id": f"pos-{n}",
            "type": "sale",
            "occurred_at": _iso(10 + n % 2, 2 + n % 5),
            "amount": 1_000 + n,
            "currency": "JPY",
            **({"coupon_code": f"R-{10 + n % 2}-{n % 20}"} if n % 3 else {"click_id": f"K-{n}"}),
        }
        for n in range(300)
    ]
    assert post(pos, "/api/v1/sales", {"events": events})["accepted"] == 300
    # and refunds of a few, which the chart (gross attributed sales) does not subtract
    refunds = [
        {
            "external_id": f"pos-{n}-r",
            "type": "refund",
            "refund_of": f"pos-{n}",
            "occurred_at": _iso(11, 20),
            "amount": 500,
            "currency": "JPY",
        }
        for n in (1, 2, 4)
    ]
    assert post(pos, "/api/v1/sales", {"events": refunds})["accepted"] == 3
    wait_for(_decided, timeout=60, what="the worker to attribute the sales")

    coupon = [e for e in events if "coupon_code" in e]
    october = [e["amount"] for e in coupon if e["occurred_at"].startswith("2026-10")]
    november = [e["amount"] for e in coupon if e["occurred_at"].startswith("2026-11")]
    assert _rollup() == [
        ("Rinna", datetime(2026, 10, 1).date(), len(october), sum(october)),
        ("Rinna", datetime(2026, 11, 1).date(), len(november), sum(november)),
    ]
    assert (len(october), sum(october), len(november), sum(november)) == (100, 115_000, 100, 115_000)

    # Kai's clicks arrive late: the sales carrying them go to Kai, on the worker's next pass
    clicks = [
        {"placement": kai.pk, "kind": "click", "key": e["click_id"], "occurred_at": _iso(10, 1, 9)}
        for e in events
        if "click_id" in e and e["occurred_at"].startswith("2026-10")
    ]
    assert post(pos, "/api/v1/touchpoints", {"touchpoints": clicks})["accepted"] == 50
    wait_for(
        lambda: _decided() and Sale.objects.filter(placement=kai).count() == 50,
        timeout=60,
        what="the worker to give Kai the clicked sales",
    )
    kai_october = [e["amount"] for e in events if "click_id" in e and e["occurred_at"].startswith("2026-10")]
    assert sum(kai_october) == 57_350
    assert _rollup() == [
        ("Kai", datetime(2026, 10, 1).date(), 50, 57_350),
        ("Rinna", datetime(2026, 10, 1).date(), 100, 115_000),
        ("Rinna", datetime(2026, 11, 1).date(), 100, 115_000),
    ]

    # and the partner's revenue page shows exactly those figures
    charts = browser(world.hoshi_owner).get("/portal/revenue/").context["charts"]
    [chart] = charts
    cells = {
        row.period: dict(zip([s.name for s in chart.series], [c.formatted for c in row.cells], strict=True))
        for row in chart.rows
    }
    assert cells[datetime(2026, 10, 1).date()] == {"Rinna": "JPY 115,000", "Kai": "JPY 57,350"}
    assert cells[datetime(2026, 11, 1).date()] == {"Rinna": "JPY 115,000", "Kai": "JPY 0"}
