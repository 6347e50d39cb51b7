"""The revenue engine's screens: the partner's revenue, statements and sales; the finance
console's settlement, review, ledger and exports; the contract simulator; the résumé's
figures. Every refused request changes nothing."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from contracts.models import ContractVersion, Placement
from core.models import AuditLog
from revenue import views as revenue_views
from revenue.models import (
    Outcome,
    Sale,
    SettlementRun,
    Statement,
)
from revenue.services.attribution import attribution_run
from revenue.services.settlement import settlement_run_execute, statement_approve, statement_submit
from tests.support.revenue import backdate, period_of, revenue_state, sale, touch
from tests.support.web import browser, text
from tests.support.world import design_terms, hire, next_period_start_for

TOKYO = ZoneInfo("Asia/Tokyo")
OCT = date(2026, 10, 1)
TODAY = date(2026, 11, 23)


def at(month: int, day: int, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=TOKYO)


def settle(period: date = OCT) -> SettlementRun:
    return settlement_run_execute(run_id=SettlementRun.objects.create(period=period).pk)


def approve(world, statement: Statement) -> Statement:
    statement_submit(actor=world.finance, statement=statement)
    return statement_approve(actor=world.finance2, statement=statement)


def _resolution(placement: Placement, external_id: str, when: datetime, withdrawn: bool = False) -> None:
    Outcome.objects.create(
        partner_id=placement.partner_id,
        placement=placement,
        kind="resolution",
        external_id=external_id,
        occurred_at=when,
        period=period_of(when, "Asia/Tokyo"),
        withdrawn_at=when if withdrawn else None,
    )


@pytest.fixture
def today(monkeypatch):
    # The pages work in the partner's "now"; pin it so October 2026 is last month.
    monkeypatch.setattr(revenue_views, "partner_today", lambda *, partner, now=None: TODAY)
    return TODAY


@pytest.fixture
def october(world):
    """Rinna at Hoshi Mart on DESIGN terms, with DESIGN's hand-computed October: 5,200,000
    of attributed sales, 200,000 of it refunded, 2 resolutions (a third withdrawn) and a
    sale with no key."""
    rinna = backdate(hire(world))
    for day, code in [(1, "C1"), (2, "C2"), (3, "C3"), (4, "C4"), (20, "C5")]:
        touch(rinna, "coupon", code, at(10, day, 9))
    hoshi = world.hoshi
    big = sale(hoshi, at(10, 1), 3_000_000, coupon_code="C1", external_id="pos-1")
    sale(hoshi, at(10, 2), 1_500_000, coupon_code="C2", external_id="pos-2")
    sale(hoshi, at(10, 3), 600_000, coupon_code="C3", external_id="pos-3")
    sale(hoshi, at(10, 4), 100_000, coupon_code="C4", external_id="pos-4")
    sale(hoshi, at(10, 5), 999_999, external_id="pos-5")
    sale(hoshi, at(10, 6), 200_000, refund_of=big, external_id="pos-1-r")
    _resolution(rinna, "r1", at(10, 7))
    _resolution(rinna, "r2", at(10, 8))
    _resolution(rinna, "r3", at(10, 9), withdrawn=True)
    return rinna


OCTOBER_LINES = [
    ("attributed_sales", "Attributed sales in October 2026", 4, "JPY 5,200,000", ""),
    ("refunds", "Refunds of sales not yet settled", 1, "JPY -200,000", ""),
    ("share", "Revenue share (graduated) of the period's net revenue", None, "", "JPY 280,000"),
    ("outcome_fee", "Outcome fees: 2 × resolution", None, "", "JPY 180"),
    ("minimum_top_up", "Top-up to the minimum wage for the period", None, "", "JPY 19,820"),
]


def _lines(response) -> list[tuple]:
    return [
        (line.kind, line.description, line.quantity, line.revenue, line.amount) for line in response.context["lines"]
    ]


# --- partner portal ----------------------------------------------------------------------------


def test_a_partner_sees_its_approved_statement_line_by_line_and_what_it_owes(world, october, today):
    # given October settled and approved
    settle()
    statement = approve(world, Statement.objects.get(period=OCT))
    owner = browser(world.hoshi_owner)

    # when the owner opens the statement
    response = owner.get(reverse("portal-statement", args=[statement.pk]))
    # then every line shows with its exact amount, and the figures below them
    assert response.status_code == 200
    assert _lines(response) == OCTOBER_LINES
    row = response.context["row"]
    assert (row.net, row.wage, row.total, row.payable, row.credit_carried_forward) == (
        "JPY 5,000,000",
        "JPY 300,000",
        "JPY 300,000",
        "JPY 300,000",
        "JPY 0",
    )
    page = text(response)
    assert "Top-up to the minimum wage for the period" in page
    # and the split between the platform and the studio is not the partner's business
    assert "Studio Aoi" not in page
    assert "Splits" not in page

    # when the owner opens the revenue page
    response = owner.get(reverse("portal-revenue"))
    # then the statement is listed, the wage is owed, and October's bar is in the chart
    assert response.status_code == 200
    assert [row.statement.pk for row in response.context["rows"]] == [statement.pk]
    assert [(total.currency, total.formatted) for total in response.context["owed"]] == [("JPY", "JPY 300,000")]
    [chart] = response.context["charts"]
    assert chart.currency == "JPY"
    # from the first month with sales to this one — not a year of empty months around it
    assert chart.periods[0] == OCT
    assert chart.periods[-1] == TODAY.replace(day=1)
    assert [series.name for series in chart.series] == ["Rinna"]
    assert (chart.rows[0].period, [cell.formatted for cell in chart.rows[0].cells]) == (OCT, ["JPY 5,200,000"])
    assert [cell.formatted for cell in chart.rows[-1].cells] == ["JPY 0"]
    revenue_page = text(response)
    # the figures as a table, which charts.js draws the chart from
    assert '<td class="num nowrap" data-value="5200000">JPY 5,200,000</td>' in revenue_page
    assert "highest month Oct 2026 (JPY 5,200,000)" in revenue_page
    assert f'href="{reverse("portal-statement", args=[statement.pk])}"' in revenue_page
    # and the portal's navigation leads to both revenue pages
    assert f'href="{reverse("portal-revenue")}" aria-current="page"' in revenue_page
    assert f'href="{reverse("portal-sales")}"' in revenue_page


def test_a_partner_gets_404_for_a_draft_and_for_another_partners_statement(world, october, today):
    # given October settled but still a draft
    settle()
    draft = Statement.objects.get(period=OCT)
    before = revenue_state()
    # when Hoshi's owner asks for it
    response = browser(world.hoshi_owner).get(reverse("portal-statement", args=[draft.pk]))
    # then it does not exist for them, nor on their revenue page
    assert response.status_code == 404
    response = browser(world.hoshi_owner).get(reverse("portal-revenue"))
    assert response.context["rows"] == []
    assert response.context["owed"] == []

    # when it goes to review, the partner sees it, to question it before it is approved (inquiries)
    statement_submit(actor=world.finance, statement=draft)
    response = browser(world.hoshi_member).get(reverse("portal-statement", args=[draft.pk]))
    assert response.status_code == 200
    assert "Question this statement" in text(response)

    # given it is approved
    statement_approve(actor=world.finance2, statement=draft)
    before = revenue_state()
    # when Wayfarer's owner asks for Hoshi's statement
    response = browser(world.wayfarer_owner).get(reverse("portal-statement", args=[draft.pk]))
    # then it is a 404 too, and Wayfarer's revenue page is empty
    assert response.status_code == 404
    response = browser(world.wayfarer_owner).get(reverse("portal-revenue"))
    assert (response.context["rows"], response.context["owed"], response.context["charts"]) == ([], [], [])
    assert revenue_state() == before


def test_the_sales_list_explains_each_attribution_newest_first(world, october, today):
    # given October settled, and its sales through the attribution pass that follows ingestion
    settle()
    attribution_run()
    stored = dict(Sale.objects.values_list("external_id", "attribution_note"))
    # the partner reads the key by its plain name ("Coupon code"); the API keeps coupon_code
    notes = {
        external_id: "Coupon code" + note[len("coupon_code") :] if note.startswith("coupon_code ") else note
        for external_id, note in stored.items()
    }
    owner = browser(world.hoshi_owner)
    # when the owner lists October's sales
    response = owner.get(reverse("portal-sales"), {"period": "2026-10"})
    # then each sale says whether it was attributed, by which key, to whom and why
    assert response.status_code == 200
    rows = [
        (r.sale.external_id, r.when, r.amount, r.status, r.key, r.employee, r.explanation)
        for r in response.context["rows"]
    ]
    assert rows == [
        (
            "pos-1-r",
            "2026-10-06 12:00",
            "JPY -200,000",
            "attributed",
            "coupon_code",
            "Rinna",
            f"Refund of pos-1. {notes['pos-1']}",
        ),
        (
            "pos-5",
            "2026-10-05 12:00",
            "JPY 999,999",
            "unattributed",
            "",
            "",
            "The sale carries no coupon code, click id or conversation id.",
        ),
        ("pos-4", "2026-10-04 12:00", "JPY 100,000", "attributed", "coupon_code", "Rinna", notes["pos-4"]),
        ("pos-3", "2026-10-03 12:00", "JPY 600,000", "attributed", "coupon_code", "Rinna", notes["pos-3"]),
        ("pos-2", "2026-10-02 12:00", "JPY 1,500,000", "attributed", "coupon_code", "Rinna", notes["pos-2"]),
        ("pos-1", "2026-10-01 12:00", "JPY 3,000,000", "attributed", "coupon_code", "Rinna", notes["pos-1"]),
    ]
    assert stored["pos-1"] == (
        "coupon_code C1, touched 2026-10-01 00:00 UTC, 03:00:00 after the touch; "
        "last touch of 1 eligible touchpoint(s)."
    )
    assert notes["pos-1"] in text(response) and "coupon_code" not in text(response)

    # when they filter to the sales that were not attributed
    response = owner.get(reverse("portal-sales"), {"period": "2026-10", "attribution": "unattributed"})
    # then only the sale without a key is left
    assert [r.sale.external_id for r in response.context["rows"]] == ["pos-5"]

    # when they ask for a month as nonsense
    response = owner.get(reverse("portal-sales"), {"period": "October"})
    # then the form says how to write it (400), showing the current month meanwhile
    assert response.status_code == 400
    assert response.context["form"].errors == {"period": ["Give a month as YYYY-MM, e.g. 2026-10."]}
    assert response.context["period"] == date(2026, 11, 1)

    # and Wayfarer sees none of Hoshi's sales
    response = browser(world.wayfarer_owner).get(reverse("portal-sales"), {"period": "2026-10"})
    assert response.context["rows"] == []


def test_the_sales_list_pages_by_fifty_without_counting_the_table(world, today):
    # given 51 sales in October
    Sale.objects.bulk_create(
        Sale(
            partner=world.hoshi,
            external_id=f"bulk-{n:03}",
            type="sale",
            occurred_at=at(10, 1 + n % 28, n % 24),
            amount=100 + n,
            currency="JPY",
            period=OCT,
            content_digest="x",
        )
        for n in range(51)
    )
    owner = browser(world.hoshi_owner)
    # when the owner opens the first page
    with CaptureQueriesContext(connection) as queries:
        response = owner.get(reverse("portal-sales"), {"period": "2026-10"})
    # then it holds 50 sales, links to an older page, and never counted the rows
    page = response.context["page"]
    assert (len(response.context["rows"]), page.number, page.has_next, page.has_previous) == (50, 1, True, False)
    sale_queries = [q["sql"] for q in queries.captured_queries if '"revenue_sale"' in q["sql"]]
    assert len(sale_queries) == 1
    assert "COUNT(" not in sale_queries[0].upper()
    assert "LIMIT 51" in sale_queries[0]
    assert "Older ›" in text(response)
    # when they follow it
    response = owner.get(reverse("portal-sales"), {"period": "2026-10", "page": "2"})
    # then the last sale is there, and no page after it
    page = response.context["page"]
    assert (len(response.context["rows"]), page.has_next, page.has_previous) == (1, False, True)
    everything = sorted(Sale.objects.values_list("occurred_at", "id"), reverse=True)
    assert response.context["rows"][0].sale.pk == everything[-1][1]


def test_the_portal_revenue_pages_are_for_partner_members(world, october):
    # given the platform's own people
    for user in (world.finance, world.hoshi_manager, world.staff):
        # when they open the portal's revenue pages
        for name in ("portal-revenue", "portal-sales"):
            # then they are told to use the console
            assert browser(user).get(reverse(name)).status_code == 403
    # and anonymous visitors are sent to log in
    response = Client().get(reverse("portal-revenue"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# --- finance console ------------------------------------------------------------------------------


def test_finance_runs_reviews_adjusts_and_approves_october_through_the_console(
    world, october, today, monkeypatch, django_capture_on_commit_callbacks
):
    finance = browser(world.finance)
    queued: list[int] = []
    from revenue.tasks import settlement_run_task

    monkeypatch.setattr(settlement_run_task, "delay", lambda run_id: queued.append(run_id))

    # when finance starts a run for October
    with django_capture_on_commit_callbacks(execute=True):
        response = finance.post(reverse("console-settlement"), {"period": "2026-10"})
    # then a run is queued for a worker, and the page shows it polling for progress
    run = SettlementRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("console-settlement") + "?period=2026-10"
    assert (run.period, run.status, run.requested_by, run.trigger) == (OCT, "queued", world.finance, "console")
    assert queued == [run.pk]
    response = finance.get(response["Location"])
    assert "Settlement of 2026-10 is queued as run #" in text(response)
    fragment = finance.get(reverse("console-settlement-run", args=[run.pk]), HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200
    assert 'hx-trigger="every 2s"' in text(fragment)
    assert "<html" not in text(fragment)
    assert "HX-Refresh" not in fragment

    # when the worker runs it
    settlement_run_execute(run_id=run.pk)
    # then the row stops polling and shows the run done
    fragment = finance.get(reverse("console-settlement-run", args=[run.pk]), HTTP_HX_REQUEST="true")
    assert "hx-trigger" not in text(fragment)
    assert fragment["HX-Refresh"] == "true"  # once, to list the statements it wrote
    assert 'value="100"' in text(fragment)
    assert "1 of 1 contracts · 1 statement" in text(fragment)
    # and October's draft is listed
    response = finance.get(reverse("console-settlement"), {"period": "2026-10"})
    statement = Statement.objects.get(period=OCT)
    assert [(row.statement.pk, row.statement.status, row.payable) for row in response.context["rows"]] == [
        (statement.pk, "draft", "JPY 300,000")
    ]
    assert [(s.status, s.count) for s in response.context["summary"]] == [("draft", 1)]
    assert finance.get(reverse("console-settlement"), {"period": "2026-10", "status": "approved"}).context["rows"] == []

    # when finance opens it
    response = finance.get(reverse("console-statement", args=[statement.pk]))
    # then the lines and the split per payee show
    assert response.status_code == 200
    assert _lines(response) == OCTOBER_LINES
    assert [(s.payee, s.share, s.amount) for s in response.context["splits"]] == [
        ("Haken platform", "70%", "JPY 210,000"),
        ("Studio Aoi", "30%", "JPY 90,000"),
    ]
    assert response.context["can_submit"] and not response.context["can_approve"]

    # when finance adjusts without a reason
    before = revenue_state()
    response = finance.post(
        reverse("console-statement-adjust", args=[statement.pk]), {"amount": "-30000", "reason": "  "}
    )
    # then the page says a reason is required (400), and nothing changed
    assert response.status_code == 400
    assert "An adjustment needs a reason." in text(response)
    assert response.context["adjust_form"].data["amount"] == "-30000"
    assert revenue_state() == before
    # nor with an amount that is not a whole number
    response = finance.post(
        reverse("console-statement-adjust", args=[statement.pk]), {"amount": "12.5", "reason": "Goodwill"}
    )
    assert response.status_code == 400
    assert "Amount (minor units): Enter a whole number." in text(response)
    assert revenue_state() == before

    # when finance adjusts by −30,000 with a reason
    response = finance.post(
        reverse("console-statement-adjust", args=[statement.pk]),
        {"amount": "-30000", "reason": "Goodwill for the POS outage"},
    )
    # then the statement is recomputed with the adjustment as its last line
    assert response.status_code == 302
    statement.refresh_from_db()
    assert (statement.status, statement.adjustments, statement.total, statement.payable) == (
        "draft",
        -30_000,
        270_000,
        270_000,
    )
    response = finance.get(reverse("console-statement", args=[statement.pk]))
    assert _lines(response)[-1] == (
        "adjustment",
        "Finance adjustment: Goodwill for the POS outage",
        None,
        "",
        "JPY -30,000",
    )
    assert [(a.reason, amount) for a, amount in response.context["adjustments"]] == [
        ("Goodwill for the POS outage", "JPY -30,000")
    ]

    # when finance approves a draft directly
    before = revenue_state()
    response = finance.post(reverse("console-statement-approve", args=[statement.pk]))
    # then it is refused (409): a draft goes to review first
    assert response.status_code == 409
    assert "only one in review can be approved" in text(response)
    assert revenue_state() == before

    # when finance sends it to review and approves it
    response = finance.post(reverse("console-statement-submit", args=[statement.pk]))
    assert response.status_code == 302
    assert Statement.objects.get(pk=statement.pk).status == "in_review"
    # (four eyes: another finance user approves what this one sent to review)
    response = browser(world.finance2).post(reverse("console-statement-approve", args=[statement.pk]))
    # then it is approved with its journal entry
    assert response.status_code == 302
    statement.refresh_from_db()
    assert statement.status == "approved"
    response = finance.get(reverse("console-statement", args=[statement.pk]))
    journal = response.context["journal"]
    assert [(line.account, line.debit, line.credit) for line in journal.lines] == [
        ("partner_receivable:hoshi-mart", "JPY 270,000", ""),
        ("platform_revenue", "", "JPY 189,000"),
        ("payee_payable:studio-aoi", "", "JPY 81,000"),
    ]
    assert not (response.context["can_submit"] or response.context["can_approve"] or response.context["can_adjust"])

    # when finance reads the ledger
    response = finance.get(reverse("console-ledger"))
    # then the trial balance in JPY balances: 270,000 of debits against 270,000 of credits
    assert response.status_code == 200
    [jpy] = response.context["balances"]
    assert (jpy.currency, jpy.total_debits, jpy.total_credits, jpy.balanced) == (
        "JPY",
        "JPY 270,000",
        "JPY 270,000",
        True,
    )
    assert [(a.code, a.debits, a.credits, a.balance, a.side) for a in jpy.accounts] == [
        ("partner_receivable:hoshi-mart", "JPY 270,000", "JPY 0", "JPY 270,000", "Dr"),
        ("payee_payable:studio-aoi", "JPY 0", "JPY 81,000", "JPY 81,000", "Cr"),
        ("platform_revenue", "JPY 0", "JPY 189,000", "JPY 189,000", "Cr"),
    ]
    assert [row.entry.pk for row in response.context["entries"]] == [statement.journal_entry_id]
    assert "Balanced" in text(response)

    # and the partner now sees it, with the adjustment
    response = browser(world.hoshi_owner).get(reverse("portal-statement", args=[statement.pk]))
    assert response.status_code == 200
    assert response.context["row"].payable == "JPY 270,000"


def test_approval_of_a_stale_review_is_a_409_that_says_to_rerun_and_changes_nothing(world, october, today):
    # given October in review
    settle()
    statement = Statement.objects.get(period=OCT)
    statement_submit(actor=world.finance, statement=statement)
    # and a late October sale that arrived after the draft was computed
    sale(world.hoshi, at(10, 10), 50_000, coupon_code="C3", external_id="pos-late")
    before = revenue_state()
    # when finance approves
    response = browser(world.finance2).post(reverse("console-statement-approve", args=[statement.pk]))
    # then the conflict is explained, a re-run is offered, and nothing changed (the late
    # sale is not even attributed: the approval rolled back)
    assert response.status_code == 409
    page = text(response)
    assert (
        "New sales, refunds or outcomes arrived since this draft was computed; re-run the period and review it again."
    ) in page
    assert "Re-run 2026-10" in page
    assert revenue_state() == before


def test_a_bad_period_for_a_run_is_a_400_and_queues_nothing(world, today):
    before = revenue_state()
    response = browser(world.finance).post(reverse("console-settlement"), {"period": "2026-13"})
    assert response.status_code == 400
    assert "Period: Give a month as YYYY-MM, e.g. 2026-10." in text(response)
    assert revenue_state() == before


FINANCE_PAGES = [
    ("settlement", lambda s: reverse("console-settlement"), None),
    ("run settlement", lambda s: reverse("console-settlement"), {"period": "2026-10"}),
    ("run fragment", lambda s: reverse("console-settlement-run", args=[s["run"]]), None),
    ("statement", lambda s: reverse("console-statement", args=[s["statement"]]), None),
    ("submit", lambda s: reverse("console-statement-submit", args=[s["statement"]]), {}),
    ("approve", lambda s: reverse("console-statement-approve", args=[s["statement"]]), {}),
    ("adjust", lambda s: reverse("console-statement-adjust", args=[s["statement"]]), {"amount": "100", "reason": "x"}),
    ("ledger", lambda s: reverse("console-ledger"), None),
    ("statements csv", lambda s: reverse("console-statements-export") + "?period=2026-10", None),
    ("ledger csv", lambda s: reverse("console-ledger-export"), None),
]


@pytest.mark.parametrize(("name", "url", "data"), FINANCE_PAGES, ids=[p[0] for p in FINANCE_PAGES])
@pytest.mark.parametrize("who", ["hoshi_manager", "hoshi_owner"])
def test_account_managers_and_partners_get_403_on_finance_pages(world, october, today, who, name, url, data):
    # given a run and a draft statement of Hoshi's, whose account manager and owner ask
    run = settle()
    scene = {"run": run.pk, "statement": Statement.objects.get(period=OCT).pk}
    before = revenue_state()
    client = browser(getattr(world, who))
    # when they open or post to a finance page
    response = client.get(url(scene)) if data is None else client.post(url(scene), data)
    # then they are refused, and nothing changed
    assert response.status_code == 403
    assert revenue_state() == before


def test_a_missing_statement_or_run_is_a_404_for_finance(world):
    assert browser(world.finance).get(reverse("console-statement", args=[999])).status_code == 404
    assert browser(world.finance).get(reverse("console-settlement-run", args=[999])).status_code == 404


# --- CSV exports -------------------------------------------------------------------------------------


def _csv(response) -> list[list[str]]:
    assert response.streaming
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_csv_exports_stream_exact_rows(world, october, today):
    # given October approved
    settle()
    statement = approve(world, Statement.objects.get(period=OCT))
    finance = browser(world.finance)

    # when finance downloads October's statements
    response = finance.get(reverse("console-statements-export"), {"period": "2026-10"})
    # then there is one row per statement line, amounts in minor units
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="statements-2026-10.csv"'
    sid = str(statement.pk)
    head = [sid, "2026-10", "hoshi-mart", "rinna", "approved"]
    assert _csv(response) == [
        [
            "statement_id",
            "period",
            "partner",
            "employee",
            "status",
            "line_kind",
            "description",
            "quantity",
            "revenue",
            "amount",
            "currency",
        ],
        [*head, "attributed_sales", "Attributed sales in October 2026", "4", "5200000", "0", "JPY"],
        [*head, "refunds", "Refunds of sales not yet settled", "1", "-200000", "0", "JPY"],
        [*head, "share", "Revenue share (graduated) of the period's net revenue", "", "", "280000", "JPY"],
        [*head, "outcome_fee", "Outcome fees: 2 × resolution", "", "", "180", "JPY"],
        [*head, "minimum_top_up", "Top-up to the minimum wage for the period", "", "", "19820", "JPY"],
    ]
    # and another month has only the header
    assert _csv(finance.get(reverse("console-statements-export"), {"period": "2026-09"})) == [
        [
            "statement_id",
            "period",
            "partner",
            "employee",
            "status",
            "line_kind",
            "description",
            "quantity",
            "revenue",
            "amount",
            "currency",
        ]
    ]

    # when finance downloads the ledger
    response = finance.get(reverse("console-ledger-export"))
    # then there is one row per journal line, debit and credit apart
    assert response["Content-Disposition"] == 'attachment; filename="ledger.csv"'
    entry = str(statement.journal_entry_id)
    memo = "Rinna at Hoshi Mart — statement 2026-10"
    assert _csv(response) == [
        ["entry_id", "occurred_on", "memo", "account", "currency", "debit", "credit"],
        [entry, "2026-10-01", memo, "partner_receivable:hoshi-mart", "JPY", "300000", "0"],
        [entry, "2026-10-01", memo, "platform_revenue", "JPY", "0", "210000"],
        [entry, "2026-10-01", memo, "payee_payable:studio-aoi", "JPY", "0", "90000"],
    ]


@pytest.mark.parametrize("query", [{}, {"period": "10/2026"}])
def test_the_statements_export_needs_a_month(world, query):
    response = browser(world.finance).get(reverse("console-statements-export"), query)
    assert response.status_code == 400
    assert response.content.decode() in (
        "Period: This field is required.",
        "Period: Give a month as YYYY-MM, e.g. 2026-10.",
    )


def test_text_that_looks_like_a_formula_is_defused_in_csv(world, october, today):
    # given an adjustment reason that a spreadsheet would run
    settle()
    from revenue.services.settlement import statement_adjust

    statement_adjust(
        actor=world.finance, statement=Statement.objects.get(period=OCT), amount=-1, reason='=HYPERLINK("http://evil")'
    )
    # and a partner named like one
    world.hoshi.__class__.objects.filter(pk=world.hoshi.pk).update(slug="=cmd|calc")
    rows = _csv(browser(world.finance).get(reverse("console-statements-export"), {"period": "2026-10"}))
    # then those cells are text, and negative amounts stay numbers
    assert rows[-1][2] == "'=cmd|calc"
    assert rows[-1][6:10] == ['Finance adjustment: =HYPERLINK("http://evil")', "", "", "-1"]
    assert rows[2][8] == "-200000"


# --- contract simulator --------------------------------------------------------------------------------


def _simulate(client, placement: Placement, terms_a: dict, terms_b: dict):
    return client.post(
        reverse("console-simulate", args=[placement.pk]),
        {"terms_a": json.dumps(terms_a), "terms_b": json.dumps(terms_b), "months": "12", "price_per_call": "10"},
    )


def test_the_simulator_rates_real_october_under_two_sets_of_terms_and_writes_nothing(world, october, today):
    # given October's real history (net 5,000,000; 2 resolutions; 5 touchpoints, 3 outcomes recorded)
    settle()
    before = revenue_state()
    manager = browser(world.hoshi_manager)

    # when the account manager opens the simulator
    response = manager.get(reverse("console-simulate", args=[october.pk]))
    # then A is the contract's current terms and B the same without the minimum wage
    assert response.status_code == 200
    form = response.context["form"]
    assert json.loads(form.data["terms_a"]) == design_terms()
    assert json.loads(form.data["terms_b"]) == design_terms(minimum_per_period=None)
    assert [(r.period, r.net, r.wage_a, r.wage_b) for r in response.context["rows"]] == [
        ("2026-10", "JPY 5,000,000", "JPY 300,000", "JPY 280,180")
    ]

    # when they compare DESIGN's terms with the same terms without minimum or outcome fees
    response = _simulate(manager, october, design_terms(), design_terms(minimum_per_period=None, outcome_fees={}))
    # then October pays 300,000 under A (280,000 + 180 of fees, raised to the minimum) and
    # exactly 280,000 under B (8% of 1,000,000 + 5% of 4,000,000)
    assert response.status_code == 200
    [row] = response.context["rows"]
    assert (row.period, row.sales, row.refunds, row.net, row.outcomes, row.wage_a, row.wage_b, row.difference) == (
        "2026-10",
        "JPY 5,200,000",
        "JPY -200,000",
        "JPY 5,000,000",
        3,
        "JPY 300,000",
        "JPY 280,000",
        "JPY -20,000",
    )
    # and per-call pricing would have charged 10 a call for 5 touchpoints + 3 outcomes
    assert (row.calls, row.per_call) == (8, "JPY 80")
    totals = response.context["totals"]
    assert (totals["wage_a"], totals["wage_b"], totals["calls"], totals["per_call"]) == (
        "JPY 300,000",
        "JPY 280,000",
        8,
        "JPY 80",
    )
    page = text(response)
    assert "calls = touchpoints + outcomes recorded; agent runs will replace this" in page
    # and nothing was written
    assert revenue_state() == before


def test_the_simulator_shows_problems_by_path_and_changes_nothing(world, october, today):
    before = revenue_state()
    manager = browser(world.hoshi_manager)
    bad = design_terms(currency="USD", share={"model": "flat", "rate": "8%"})
    # when the manager compares broken terms
    response = _simulate(manager, october, bad, design_terms())
    # then the page lists A's problems by path (400)
    assert response.status_code == 400
    assert response.context["errors"] == {
        "terms_a": {
            "currency": ["must be JPY, the currency of this partner's contract."],
            "share.rate": ["must be a decimal string such as \"0.05\"; got '8%'."],
        }
    }
    assert "<code>share.rate</code>" in text(response)
    assert "rows" not in response.context
    # when the same comes through htmx with B not even JSON
    response = manager.post(
        reverse("console-simulate", args=[october.pk]),
        {"terms_a": json.dumps(design_terms()), "terms_b": "{", "months": "12", "price_per_call": "10"},
        HTTP_HX_REQUEST="true",
    )
    # then the fragment answers 422 (base.html swaps those in)
    assert response.status_code == 422
    assert "<html" not in text(response)
    assert response.context["errors"] == {
        "terms_b": {
            "terms": ["This is not valid JSON: Expecting property name enclosed in double quotes at line 1, column 2."]
        }
    }
    assert revenue_state() == before


def test_the_simulator_is_for_the_partners_account_manager_finance_and_staff(world, october, today):
    url = reverse("console-simulate", args=[october.pk])
    before = revenue_state()
    # another partner's account manager does not learn the placement exists; partners
    # are not in the console
    assert browser(world.wayfarer_manager).get(url).status_code == 404
    assert browser(world.hoshi_owner).get(url).status_code == 403
    assert browser(world.hoshi_owner).post(url, {}).status_code == 403
    for user in (world.hoshi_manager, world.finance, world.staff):
        assert browser(user).get(url).status_code == 200
    assert revenue_state() == before
    # a placement with no contract yet has nothing to simulate
    requested = hire(world, employee="kai", until="requested")
    assert browser(world.hoshi_manager).get(reverse("console-simulate", args=[requested.pk])).status_code == 404


def test_the_simulator_starts_b_from_an_amendment_and_works_before_any_terms(world, today):
    # given a contract with an amendment proposed (a lower minimum) on top of DESIGN's terms
    from contracts import services

    active = hire(world)
    amendment = design_terms(minimum_per_period=100000)
    # (the next period start by the real clock: the services, unlike the pinned pages, use it)
    version = services.contract_version_draft(
        actor=world.hoshi_manager, placement=active, terms=amendment, effective_from=next_period_start_for(world.hoshi)
    )
    services.contract_version_propose(actor=world.hoshi_manager, version=version)
    # when the manager opens the simulator
    response = browser(world.hoshi_manager).get(reverse("console-simulate", args=[active.pk]))
    # then A is the terms in force and B the amendment; with no activity there are no months
    assert response.status_code == 200
    assert (
        json.loads(response.context["form"].data["terms_a"]),
        json.loads(response.context["form"].data["terms_b"]),
    ) == (design_terms(), amendment)
    assert response.context["rows"] == []
    assert "No sales, refunds, outcomes or touchpoints were recorded" in text(response)

    # given an approved hire with no terms drafted yet
    approved = hire(world, employee="kai", until="approved")
    # when the manager opens its simulator, it starts from the template terms
    response = browser(world.hoshi_manager).get(reverse("console-simulate", args=[approved.pk]))
    assert response.status_code == 200
    assert json.loads(response.context["form"].data["terms_a"])["currency"] == "JPY"


def test_only_finance_and_staff_see_the_finance_console_in_the_navigation(world):
    settlement, ledger = reverse("console-settlement"), reverse("console-ledger")
    for user, shown in [(world.finance, True), (world.staff, True), (world.hoshi_manager, False)]:
        page = text(browser(user).get(reverse("console")))
        assert (f'href="{settlement}"' in page, f'href="{ledger}"' in page) == (shown, shown)


# --- résumé ------------------------------------------------------------------------------------------------

NOT_YET = "Not yet available — measured once the revenue engine is live"


def test_the_resume_shows_real_figures_once_a_statement_is_approved(world, october, today):
    owner = browser(world.hoshi_owner)
    settle()
    # given only a draft: the figures are not available yet
    response = owner.get(reverse("resume", args=["rinna"]))
    assert text(response).count(NOT_YET) == 2
    assert (response.context["track"].attributed_revenue, response.context["track"].annualised_wage) == (None, None)

    # when October is approved (net 5,000,000, wage 300,000)
    approve(world, Statement.objects.get(period=OCT))
    response = owner.get(reverse("resume", args=["rinna"]))
    # then the résumé shows them: one month of 300,000 is 3,600,000 a year
    track = response.context["track"]
    assert [(f.currency, f.amount) for f in track.attributed_revenue] == [("JPY", 5_000_000)]
    assert [(f.currency, f.amount) for f in track.annualised_wage] == [("JPY", 3_600_000)]
    page = text(response)
    assert NOT_YET not in page
    assert "JPY 5,000,000" in page and "JPY 3,600,000" in page


def test_the_annualised_wage_averages_the_periods_of_the_last_twelve_months(world):
    # given Rinna placed at Hoshi (JPY) and at Wayfarer (USD), with approved statements
    hoshi = hire(world)
    wayfarer = hire(world, partner="wayfarer")
    contract_h, contract_w = hoshi.contract, wayfarer.contract

    def approved(contract, period: date, net: int, wage: int) -> None:
        Statement.objects.create(
            contract=contract,
            period=period,
            status="approved",
            currency=contract.currency,
            version_number=1,
            net=net,
            wage=wage,
            total=wage,
            payable=wage,
        )

    approved(contract_h, date(2025, 9, 1), 1_000_000, 999_999)  # 13 months before the latest: outside
    approved(contract_h, date(2026, 1, 1), 2_000_000, 300_000)
    approved(contract_h, date(2026, 10, 1), 5_000_000, 300_001)
    approved(contract_w, date(2026, 10, 1), 12_345, 1_000)
    Statement.objects.create(
        contract=contract_w,
        period=date(2026, 9, 1),
        status="draft",
        currency="USD",
        version_number=1,
        net=999_999,
        wage=999_999,
    )
    # when the figures are read
    from employees.selectors import employee_track_record

    track = employee_track_record(employee=world.rinna)
    # then revenue sums every approved net; the wage averages the 2 JPY periods in the
    # window (600,001 / 2 × 12 = 3,600,006) and the 1 USD period (10.00 × 12)
    assert [(f.currency, f.amount, f.formatted) for f in track.attributed_revenue] == [
        ("JPY", 8_000_000, "JPY 8,000,000"),
        ("USD", 12_345, "USD 123.45"),
    ]
    assert [(f.currency, f.amount, f.formatted) for f in track.annualised_wage] == [
        ("JPY", 3_600_006, "JPY 3,600,006"),
        ("USD", 12_000, "USD 120.00"),
    ]
    assert ContractVersion.objects.count() == 2
    assert AuditLog.objects.filter(action__startswith="statement").count() == 0
