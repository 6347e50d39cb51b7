"""One month of Hoshi Mart with Rinna, end to end through the API and a real Celery worker
(issue: revenue engine, "Done when"): coupons issued, thousands of sales, duplicates,
refunds inside and after the period, a late sale, a graduated contract with a minimum;
then the next months' clawback and carried credit. Expected figures are worked out here
with plain Decimal arithmetic, independently of revenue.rating."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from zoneinfo import ZoneInfo

import pytest

from ledger.selectors.balances import account_balance, trial_balance
from revenue.models import Sale, Statement
from tests.support.revenue import backdate
from tests.support.revenue_api import approve, partner_client, post, session, settle, statement
from tests.support.workers import wait_for
from tests.support.world import hire

pytestmark = pytest.mark.integration
TOKYO = ZoneInfo("Asia/Tokyo")


def iso(moment: datetime) -> str:
    return moment.isoformat()


def yen(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def graduated_share(net: int) -> Decimal:
    """DESIGN.md §5a's example tiers: 8% up to 1,000,000, 5% above."""
    if net <= 1_000_000:
        return Decimal(net) * Decimal("0.08")
    return Decimal(80_000) + Decimal(net - 1_000_000) * Decimal("0.05")


def lines(found: dict) -> list[tuple]:
    return [(line["kind"], line["quantity"], line["revenue"], line["amount"]) for line in found["lines"]]


def test_a_month_of_a_convenience_store_chain(world, celery_worker_process):
    placement = backdate(hire(world))  # DESIGN terms: graduated, minimum 300,000, 70/30 split
    pos, finance, approver = partner_client(world), session(world.finance), session(world.finance2)

    # Rinna issues 200 coupons on 1–5 October (posted as the partner's touchpoints).
    issued = [(f"RINNA-{n:04d}", datetime(2026, 10, 1 + n % 5, 9, n % 60, tzinfo=TOKYO)) for n in range(1, 201)]
    result = post(
        pos,
        "/api/v1/touchpoints",
        {
            "touchpoints": [
                {"placement": placement.pk, "kind": "coupon", "key": key, "occurred_at": iso(at)} for key, at in issued
            ]
        },
    )
    assert result == {"accepted": 200, "duplicates": 0, "rejected": []}
    touched_at = dict(issued)

    # 3,000 October sales; codes 201–250 were never issued, so a fifth are not Rinna's.
    sales = []
    for n in range(1, 3001):
        code = f"RINNA-{n % 250 + 1:04d}"
        sales.append(
            {
                "external_id": f"pos-{n:05d}",
                "type": "sale",
                "amount": 5_000 + (n % 7) * 500,
                "currency": "JPY",
                "coupon_code": code,
                "store_id": f"tokyo-{n % 40}",
                "occurred_at": iso(datetime(2026, 10, 6 + n % 8, 8 + n % 12, tzinfo=TOKYO)),
            }
        )
    for start in range(0, 3000, 1000):
        assert post(pos, "/api/v1/sales", {"events": sales[start : start + 1000]}) == {
            "accepted": 1000,
            "duplicates": 0,
            "rejected": [],
        }
    # the POS system retries its first batch, and sends one changed event
    changed = {**sales[0], "amount": 1}
    retry = post(pos, "/api/v1/sales", {"events": [*sales[:999], changed]})
    assert (retry["accepted"], retry["duplicates"], [r["code"] for r in retry["rejected"]]) == (0, 999, ["conflict"])
    attributed = [s for s in sales if s["coupon_code"] in touched_at]
    assert len(attributed) == 2400

    # ten attributed sales are refunded in October (two of them partly)
    refunded = attributed[:10]
    refunds = [
        {
            "external_id": f"{s['external_id']}-r",
            "type": "refund",
            "refund_of": s["external_id"],
            "amount": s["amount"] if i < 8 else 1_000,
            "currency": "JPY",
            "occurred_at": iso(datetime(2026, 10, 25, 10, tzinfo=TOKYO)),
        }
        for i, s in enumerate(refunded)
    ]
    assert post(pos, "/api/v1/sales", {"events": refunds})["accepted"] == 10

    # the worker has attributed the batches (ingestion and settlement are separate Celery lanes,
    # so a settlement run is not queued behind them: at month end it comes long after)
    wait_for(
        lambda: not Sale.objects.filter(type="sale", attribution="pending").exists(),
        timeout=60,
        what="the batches attributed",
    )

    # finance settles October on the worker
    run = settle(finance, "2026-10")
    assert (run["contracts_total"], run["statements_written"]) == (1, 1)
    assert Sale.objects.filter(type="sale", attribution="attributed").count() == 2400
    october = statement(finance, "2026-10")
    gross = sum(s["amount"] for s in attributed)
    refunded_total = sum(r["amount"] for r in refunds)
    net = gross - refunded_total
    share = graduated_share(net)
    assert (gross, refunded_total, net) == (15_599_500, 53_000, 15_546_500)
    assert share == Decimal("807325.00")
    assert lines(october) == [
        ("attributed_sales", 2400, gross, 0),
        ("refunds", 10, -refunded_total, 0),
        ("share", None, None, 807_325),
    ]
    assert (october["status"], october["net"], october["wage"], october["total"]) == ("draft", net, 807_325, 807_325)
    assert [(s["payee"], s["amount"]) for s in october["splits"]] == [("platform", 565_128), ("studio-aoi", 242_197)]
    # the partner does not see a draft
    assert pos.get("/api/v1/statements?period=2026-10").json()["results"] == []

    approved = approve(finance, october, approver)
    assert approved["status"] == "approved"
    assert (
        account_balance(code="partner_receivable:hoshi-mart", currency="JPY"),
        account_balance(code="platform_revenue", currency="JPY"),
        account_balance(code="payee_payable:studio-aoi", currency="JPY"),
    ) == (807_325, -565_128, -242_197)
    # the partner now sees it, with its lines
    [seen] = pos.get("/api/v1/statements?period=2026-10").json()["results"]
    assert (seen["id"], lines(seen)) == (october["id"], lines(october))

    # November: a late October sale arrives; 1,200 settled October sales are refunded;
    # 100 small November sales.
    post(
        pos,
        "/api/v1/touchpoints",
        {
            "touchpoints": [
                {
                    "placement": placement.pk,
                    "kind": "coupon",
                    "key": "RINNA-LATE",
                    "occurred_at": iso(datetime(2026, 10, 30, 9, tzinfo=TOKYO)),
                }
            ]
        },
    )
    late = {
        "external_id": "pos-late",
        "type": "sale",
        "amount": 40_000,
        "currency": "JPY",
        "coupon_code": "RINNA-LATE",
        "occurred_at": iso(datetime(2026, 10, 31, 20, tzinfo=TOKYO)),
    }
    clawed = attributed[10:1210]
    november_refunds = [
        {
            "external_id": f"{s['external_id']}-r",
            "type": "refund",
            "refund_of": s["external_id"],
            "amount": s["amount"],
            "currency": "JPY",
            "occurred_at": iso(datetime(2026, 11, 3, 10, tzinfo=TOKYO)),
        }
        for s in clawed
    ]
    november_touch = datetime(2026, 11, 1, 9, tzinfo=TOKYO)
    post(
        pos,
        "/api/v1/touchpoints",
        {
            "touchpoints": [
                {"placement": placement.pk, "kind": "coupon", "key": "RINNA-NOV", "occurred_at": iso(november_touch)}
            ]
        },
    )
    november_sales = [
        {
            "external_id": f"nov-{n}",
            "type": "sale",
            "amount": 2_000,
            "currency": "JPY",
            "coupon_code": "RINNA-NOV",
            "occurred_at": iso(november_touch + timedelta(hours=n)),
        }
        for n in range(1, 101)
    ]
    result = post(pos, "/api/v1/sales", {"events": [late, *november_refunds, *november_sales][:1000]})
    assert result["accepted"] == 1000
    result = post(pos, "/api/v1/sales", {"events": [late, *november_refunds, *november_sales][1000:]})
    assert result["accepted"] == 301

    settle(finance, "2026-11")
    november = statement(finance, "2026-11")
    november_net = 100 * 2_000 + 40_000
    clawback_base = sum(r["amount"] for r in november_refunds)
    with localcontext() as context:
        context.prec = 80
        clawback = yen(Decimal(clawback_base) * share / Decimal(net))
    november_share = graduated_share(november_net)
    assert (november_net, november_share, clawback_base, clawback) == (240_000, Decimal("19200.00"), 7_803_000, 405_207)
    # wage: 19,200 raised to the 300,000 minimum; total 300,000 − 405,048 < 0 → credit
    assert lines(november) == [
        ("attributed_sales", 100, 200_000, 0),
        ("late_sales", 1, 40_000, 0),
        ("share", None, None, 19_200),
        ("minimum_top_up", None, None, 280_800),
        ("clawback", 1200, None, -405_207),
    ]
    assert (
        november["wage"],
        november["clawback"],
        november["total"],
        november["payable"],
        november["credit_carried_forward"],
        november["splits"],
    ) == (300_000, 405_207, -105_207, 0, 105_207, [])
    approve(finance, november, approver)
    # nothing is invoiced or paid out against a negative period
    assert account_balance(code="partner_receivable:hoshi-mart", currency="JPY") == 807_325

    # December: the minimum wage less the credit carried from November
    settle(finance, "2026-12")
    december = statement(finance, "2026-12")
    assert lines(december) == [
        ("attributed_sales", 0, 0, 0),
        ("share", None, None, 0),
        ("minimum_top_up", None, None, 300_000),
        ("carried_credit", None, None, -105_207),
    ]
    assert (december["total"], december["payable"]) == (194_793, 194_793)
    assert [(s["payee"], s["amount"]) for s in december["splits"]] == [("platform", 136_355), ("studio-aoi", 58_438)]
    approve(finance, december, approver)
    assert account_balance(code="partner_receivable:hoshi-mart", currency="JPY") == 807_325 + 194_793
    assert account_balance(code="payee_payable:studio-aoi", currency="JPY") == -(242_197 + 58_438)
    [jpy] = trial_balance()
    assert (jpy.total_debits, jpy.total_credits, jpy.balanced) == (1_002_118, 1_002_118, True)
    # (November netted negative: closed with nothing due, its credit carried into December)
    assert sorted(Statement.objects.values_list("status", flat=True)) == ["approved", "approved", "closed"]
