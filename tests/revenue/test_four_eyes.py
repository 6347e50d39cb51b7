"""Four eyes on money, end to end through the console and the API: the finance user who sent
a statement to review cannot approve it (403 four_eyes_required, nothing changed), another
finance user can, and the audit trail names both; the threshold is configurable; a statement
with nothing payable is closed without an invoice ("Nothing due"); a payout run is refused to
whoever approved what it would pay; the payouts page says what is held, why and until when."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from core.errors import FourEyesRequired, InvalidTransition
from core.models import AuditLog
from payments.models import Invoice, PayoutRun
from payments.services.invoicing import invoice_create, invoice_issue, invoice_mark_paid
from payments.services.payouts import payout_run_request
from revenue.models import SettlementRun, Statement
from revenue.services.settlement import settlement_run_execute, statement_approve, statement_submit
from tests.support.payments import OCT, connect_payees, placement_with_coupons
from tests.support.revenue import at, revenue_state, sale
from tests.support.snapshot import db_snapshot
from tests.support.web import browser, text
from tests.support.world import design_terms


@pytest.fixture
def in_review(world, settings):
    """October at Hoshi Mart settled (JPY 300,000 payable) and sent to review by `finance`."""
    settings.STRIPE_API_KEY = ""
    connect_payees(None)
    placement = placement_with_coupons(world)
    for n, amount in enumerate([3_000_000, 1_500_000, 400_000, 100_000], start=1):
        sale(world.hoshi, at(10, 10 + n), amount, coupon_code=f"C{n}", external_id=f"oct-{n}")
    settlement_run_execute(run_id=SettlementRun.objects.create(period=OCT).pk)
    statement = Statement.objects.get(period=OCT)
    response = browser(world.finance).post(reverse("console-statement-submit", args=[statement.pk]))
    assert response.status_code == 302
    statement.refresh_from_db()
    assert (statement.status, statement.payable, statement.submitted_by) == ("in_review", 300_000, world.finance)
    return placement, statement


def api(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_the_submitter_is_refused_through_the_console_and_another_finance_user_approves(world, in_review):
    _, statement = in_review
    before = revenue_state()
    # when the finance user who sent it to review approves it in the console
    page = browser(world.finance).get(reverse("console-statement", args=[statement.pk]))
    assert page.context["needs_second_approver"] is True
    response = browser(world.finance).post(reverse("console-statement-approve", args=[statement.pk]))
    # then 403 with the reason, and nothing changed
    assert response.status_code == 403
    assert (
        "You sent this statement to review, so another finance user must approve it: JPY 300,000 payable "
        "is above the four-eyes threshold of JPY 0."
    ) in text(response)
    assert "Re-run 2026-10" not in text(response)
    assert revenue_state() == before
    assert Statement.objects.get(pk=statement.pk).status == "in_review"
    # when a second finance user approves it
    response = browser(world.finance2).post(reverse("console-statement-approve", args=[statement.pk]))
    # then it is approved, by them, and the audit trail names both people
    assert response.status_code == 302
    statement.refresh_from_db()
    assert (statement.status, statement.approved_by, statement.submitted_by) == (
        "approved",
        world.finance2,
        world.finance,
    )
    entry = AuditLog.objects.get(action="statement.approved")
    assert (entry.actor, entry.changes["submitted_by"], entry.changes["approved_by"]) == (
        world.finance2,
        "finance",
        "finance-2",
    )
    assert "submitted by finance, approved by finance-2" in entry.summary
    page = text(browser(world.finance).get(reverse("console-statement", args=[statement.pk])))
    assert "by finance" in page and "by finance-2" in page


def test_the_submitter_is_refused_through_the_api_with_the_stable_code(world, in_review):
    _, statement = in_review
    before = revenue_state()
    response = api(world.finance).post(f"/api/v1/statements/{statement.pk}/approve", {}, format="json")
    assert response.status_code == 403
    body = response.json()["error"]
    assert body["code"] == "four_eyes_required"
    assert body["fields"] == {
        "approver": ["must be a different finance user than the one who submitted the statement."]
    }
    assert revenue_state() == before
    response = api(world.finance2).post(f"/api/v1/statements/{statement.pk}/approve", {}, format="json")
    assert (response.status_code, response.json()["status"]) == (200, "approved")


def test_staff_who_submitted_is_held_to_the_same_rule(world, in_review):
    # given the statement sent to review by staff
    _, statement = in_review
    Statement.objects.filter(pk=statement.pk).update(submitted_by=world.staff)
    statement.refresh_from_db()
    with pytest.raises(FourEyesRequired):
        statement_approve(actor=world.staff, statement=statement)
    assert statement_approve(actor=world.finance, statement=statement).status == "approved"


@pytest.mark.parametrize(
    ("threshold", "allowed"),
    [
        ({"JPY": 300_000}, True),  # at the threshold: one person may release it
        ({"JPY": 299_999}, False),
        ({"USD": 10**9, "*": 0}, False),  # another currency's threshold does not apply to JPY
        ({"*": 10**9}, True),
    ],
)
def test_the_threshold_is_per_currency_and_inclusive(world, in_review, settings, threshold, allowed):
    _, statement = in_review
    settings.FOUR_EYES_THRESHOLD = threshold
    response = api(world.finance).post(f"/api/v1/statements/{statement.pk}/approve", {}, format="json")
    assert response.status_code == (200 if allowed else 403)


def test_a_recomputed_draft_forgets_who_submitted_the_old_one(world, in_review):
    _, statement = in_review
    settlement_run_execute(run_id=SettlementRun.objects.create(period=OCT).pk)
    statement.refresh_from_db()
    assert (statement.status, statement.submitted_by) == ("draft", None)
    statement_submit(actor=world.finance2, statement=statement)
    assert statement_approve(actor=world.finance, statement=statement).status == "approved"


def test_a_statement_with_nothing_payable_is_closed_without_an_invoice_as_nothing_due(world, settings):
    settings.STRIPE_API_KEY = ""
    connect_payees(None)
    placement_with_coupons(
        world,
        terms=design_terms(
            minimum_per_period=None,
            outcome_fees={},
            splits=[{"payee": "studio-aoi", "share": "0.60"}, {"payee": "reseller-kumo", "share": "0.40"}],
        ),
    )
    settlement_run_execute(run_id=SettlementRun.objects.create(period=OCT).pk)
    statement = Statement.objects.get(period=OCT)
    assert statement.payable == 0
    statement_submit(actor=world.finance, statement=statement)
    # a zero statement is below any threshold: the submitter may close it
    finance = browser(world.finance)
    response = finance.post(reverse("console-statement-approve", args=[statement.pk]))
    assert response.status_code == 302
    statement.refresh_from_db()
    assert (statement.status, statement.get_status_display(), statement.journal_entry_id) == (
        "closed",
        "Nothing due",
        None,
    )
    page = text(finance.get(response["Location"]))
    assert "is closed: nothing is due, so no invoice is made." in page
    assert "Nothing due: closed without an invoice." in page
    # it is not waiting for an invoice, and cannot get one
    page = browser(world.finance).get(reverse("console-invoices"))
    assert statement.pk not in [row["statement"].pk for row in page.context["awaiting"]]
    with pytest.raises(InvalidTransition, match=r"The statement is closed; only an approved statement is invoiced\."):
        invoice_create(actor=world.finance, statement=statement)
    assert Invoice.objects.count() == 0
    # the partner reads "Nothing due", not "Approved · JPY 0"
    page = text(browser(world.hoshi_owner).get(reverse("portal-statement", args=[statement.pk])))
    assert "Nothing due" in page and "Approved" not in page
    # and the next period treats it as settled
    settlement_run_execute(run_id=SettlementRun.objects.create(period=OCT).pk)
    assert Statement.objects.get(pk=statement.pk).status == "closed"


def _collected(world, statement: Statement, *, paid_days_ago: int) -> None:
    invoice = invoice_issue(invoice_id=invoice_create(actor=world.finance, statement=statement).pk)
    invoice_mark_paid(actor=world.finance, invoice=invoice, reference="bank")
    Invoice.objects.filter(pk=invoice.pk).update(paid_at=timezone.now() - timedelta(days=paid_days_ago))


def test_a_payout_run_is_refused_to_whoever_approved_what_it_would_pay(world, in_review):
    _, statement = in_review
    statement = statement_approve(actor=world.finance2, statement=statement)
    _collected(world, statement, paid_days_ago=31)
    runs = db_snapshot(PayoutRun)
    # when the approver starts a payout run through the API
    response = api(world.finance2).post("/api/v1/payout-runs", {}, format="json")
    # then 403 four_eyes_required and no run
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "four_eyes_required"
    assert f"#{statement.pk}" in response.json()["error"]["message"]
    assert db_snapshot(PayoutRun) == runs
    # the one who only submitted it may start it, and the audit names who approved what it pays
    run = payout_run_request(actor=world.finance)
    entry = AuditLog.objects.get(action="payout_run.requested", target_id=str(run.pk))
    assert entry.changes == {"requested_by": "finance", "statements_approved_by": ["finance-2"]}


def test_the_payouts_page_lists_what_is_held_why_and_until_when(world, in_review):
    _, statement = in_review
    statement = statement_approve(actor=world.finance2, statement=statement)
    # not yet collected
    page = browser(world.finance).get(reverse("console-payouts"))
    held = [(row["held"].split.payee.name, row["held"].reason, row["amount"]) for row in page.context["held"]]
    assert held == [("Kumo Resale", "not_collected", "JPY 120,000"), ("Studio Aoi", "not_collected", "JPY 180,000")]
    assert "Not yet collected: the invoice is not issued yet; paid out once the partner pays." in text(page)
    # paid 10 days ago: in the contract's 30-day hold, until 30 days after the payment
    _collected(world, statement, paid_days_ago=10)
    paid_at = Invoice.objects.get().paid_at
    page = browser(world.finance).get(reverse("console-payouts"))
    rows = [(row["held"].reason, row["held"].until) for row in page.context["held"]]
    assert rows == [("hold", paid_at + timedelta(days=30))] * 2
    assert "Hold period: 30 days from the payment." in text(page)
    # past the hold, but below a payee's minimum
    Invoice.objects.update(paid_at=timezone.now() - timedelta(days=31))
    from contracts.models import Payee

    Payee.objects.filter(slug="reseller-kumo").update(minimum_payout=500_000)
    page = browser(world.finance).get(reverse("console-payouts"))
    assert [(row["held"].split.payee.name, row["held"].reason) for row in page.context["held"]] == [
        ("Kumo Resale", "below_minimum")
    ]
    assert (
        "Below the payee's minimum payout: JPY 120,000 due, the minimum is JPY 500,000; it waits until more "
        "is collected."
    ) in text(page)
