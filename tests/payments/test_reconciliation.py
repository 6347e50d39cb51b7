"""Reconciliation: the ledger's cash and receivables against the (local) Stripe's
invoices, payments and transfers — a clean loop reports nothing; each kind of drift is
reported exactly."""

from __future__ import annotations

import pytest

from core.errors import PermissionDenied
from payments.models import ReconciliationRun
from payments.services import payouts
from payments.services.invoicing import invoice_create, invoice_issue, invoice_mark_paid
from payments.services.reconciliation import reconciliation_run_execute, reconciliation_run_request
from tests.support.payments import (
    collect,
    connect_payees,
    october_statement,
    partner_pays,
    placement_with_coupons,
    run_payouts,
)


def reconcile(world) -> ReconciliationRun:
    return reconciliation_run_execute(run_id=reconciliation_run_request(actor=world.finance).pk)


def report(run: ReconciliationRun) -> list[tuple[str, str, str]]:
    return [(item.kind, item.expected, item.actual) for item in run.items.all()]


@pytest.fixture
def october(world, local_stripe):
    connect_payees(local_stripe)
    return october_statement(world, placement_with_coupons(world))


def test_a_clean_loop_reconciles_with_no_mismatch(world, local_stripe, october):
    assert report(reconcile(world)) == []  # approved, not invoiced: receivable 300,000 expected
    collect(world, local_stripe, october)
    run_payouts(world)
    run = reconcile(world)
    assert (run.status, run.invoices_checked, run.transfers_checked, run.mismatches) == ("done", 1, 2, 0)


def test_a_payment_stripe_has_but_the_ledger_missed_is_reported(world, local_stripe, october):
    invoice = invoice_issue(invoice_id=invoice_create(actor=world.finance, statement=october).pk)
    partner_pays(local_stripe, invoice)  # and the webhook never arrives
    assert report(reconcile(world)) == [
        ("payment_not_booked", "paid 300000", "open"),
        ("cash", "300000", "0"),
        ("receivable", "0", "300000"),
    ]


def test_a_transfer_the_ledger_has_not_booked_is_reported(world, local_stripe, october, monkeypatch):
    collect(world, local_stripe, october)
    with monkeypatch.context() as patch:
        patch.setattr(payouts, "journal_entry_post", lambda **kw: (_ for _ in ()).throw(RuntimeError("crash")))
        with pytest.raises(RuntimeError):
            run_payouts(world)
    run = reconcile(world)
    [(kind, expected, actual)] = [row for row in report(run) if row[0] == "transfer_not_booked"]
    assert (kind, expected, actual.startswith("payout #")) == ("transfer_not_booked", "a sent payout", True)
    assert ("cash", "120000", "300000") in report(run)
    # the next payout run books it, and the books agree again
    run_payouts(world)
    assert report(reconcile(world)) == []


def test_an_invoice_made_outside_the_platform_is_reported(world, local_stripe, october):
    customer = local_stripe.client.v1.customers.create(params={"name": "Someone else"})
    local_stripe.client.v1.invoice_items.create(params={"customer": customer.id, "amount": 5000, "currency": "jpy"})
    outside = local_stripe.client.v1.invoices.create(
        params={"customer": customer.id, "pending_invoice_items_behavior": "include"}
    )
    assert report(reconcile(world)) == [("invoice_unknown", "an invoice of ours", "none")]
    assert reconcile(world).items.get().reference == outside.id


def test_manual_invoices_reconcile_against_our_own_records(world, settings):
    settings.STRIPE_API_KEY = ""
    connect_payees(None)
    statement = october_statement(world, placement_with_coupons(world))
    invoice = invoice_issue(invoice_id=invoice_create(actor=world.finance, statement=statement).pk)
    assert report(reconcile(world)) == []
    invoice_mark_paid(actor=world.finance, invoice=invoice)
    assert run_payouts(world).payouts_sent == 2
    assert report(reconcile(world)) == []


def test_only_finance_reconciles(world):
    with pytest.raises(PermissionDenied):
        reconciliation_run_request(actor=world.hoshi_owner)
    assert ReconciliationRun.objects.count() == 0
