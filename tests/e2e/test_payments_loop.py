"""The money loop end to end on a real Celery worker, against the local Stripe server
through the official library (issue "Collect and pay out", Done when):
approved statement → invoice → signed webhook `invoice.paid` → payout run → transfers to
two payees summing exactly to the collected amount → the ledger balances exactly.
And the worker killed in the middle of a payout run: the run repeated pays no one twice."""

from __future__ import annotations

import os
import signal
from datetime import timedelta

import pytest
from django.utils import timezone

from ledger.models import JournalLine
from ledger.selectors.balances import account_balance, trial_balance
from payments.models import Invoice, Payout, PayoutItem, PayoutRun
from payments.services.invoicing import invoice_create
from payments.services.payouts import payout_run_execute, payout_run_request
from tests.support.payments import (
    connect_payees,
    deliver,
    invoice_event,
    october_statement,
    partner_pays,
    placement_with_coupons,
)
from tests.support.workers import wait_for

pytestmark = pytest.mark.integration


def issued_and_paid(world, server) -> Invoice:
    statement = october_statement(world, placement_with_coupons(world))
    invoice = invoice_create(actor=world.finance, statement=statement)  # the worker issues it
    wait_for(lambda: Invoice.objects.get(pk=invoice.pk).status == "open", timeout=60, what="the invoice issued")
    invoice.refresh_from_db()
    assert partner_pays(server, invoice)["amount_paid"] == 300_000
    response = deliver(invoice_event(server, invoice.provider_invoice_id, "invoice.paid"))
    assert (response.status_code, response.json()["outcome"]) == (200, "processed")
    invoice.refresh_from_db()
    return invoice


# What a payout run over the approved, paid statement leaves: the same whether its worker
# ran through or was killed in the middle and the run repeated.
PAID_OUT = {
    "run": "done",
    "payouts": [
        ("reseller-kumo", "stripe", "JPY", 120_000, "sent", 1, ""),
        ("studio-aoi", "stripe", "JPY", 180_000, "sent", 1, ""),
    ],
    "items": [("reseller-kumo", 120_000), ("studio-aoi", 180_000)],
    "transfers": [("reseller-kumo", 120_000, "jpy"), ("studio-aoi", 180_000, "jpy")],
    "ledger": [
        [("cash:stripe", -180_000, "JPY"), ("payee_payable:studio-aoi", 180_000, "JPY")],
        [("cash:stripe", -120_000, "JPY"), ("payee_payable:reseller-kumo", 120_000, "JPY")],
    ],
    "balances": {
        "cash:stripe": 0,
        "partner_receivable:hoshi-mart": 0,
        "payee_payable:studio-aoi": 0,
        "payee_payable:reseller-kumo": 0,
    },
}


def paid_out(server, run: PayoutRun) -> dict:
    """Everything the run left, without ids and times: its payouts, their items, the
    transfers at Stripe (one per payout, no other) and its journal entries (Dr payee
    payable, Cr cash)."""
    payouts = list(Payout.objects.filter(run=run).select_related("payee"))
    transfers = {t.id: t for t in server.transfers()}
    by_account = {p.destination: p.payee.slug for p in payouts}
    assert sorted(transfers) == sorted(p.provider_transfer_id for p in payouts)  # one transfer each, no other
    entries = {}
    for entry_id, code, amount, currency in JournalLine.objects.filter(entry__payout__run=run).values_list(
        "entry_id", "account__code", "amount", "currency"
    ):
        entries.setdefault(entry_id, []).append((code, amount, currency))
    return {
        "run": PayoutRun.objects.get(pk=run.pk).status,
        "payouts": sorted(
            (p.payee.slug, p.provider, p.currency, p.amount, p.status, p.attempt, p.failure_message) for p in payouts
        ),
        "items": sorted(PayoutItem.objects.filter(payout__run=run).values_list("payout__payee__slug", "amount")),
        "transfers": sorted((by_account[t.destination], t.amount, t.currency) for t in transfers.values()),
        "ledger": sorted(sorted(lines) for lines in entries.values()),
        "balances": {code: account_balance(code=code, currency="JPY") for code in PAID_OUT["balances"]},
    }


def test_approved_statement_to_payouts_on_a_real_worker(local_stripe, world, celery_worker_process):
    studio, reseller = connect_payees(local_stripe)
    invoice = issued_and_paid(world, local_stripe)
    assert (invoice.status, invoice.statement.status) == ("paid", "paid")
    remote = local_stripe.client.v1.invoices.retrieve(invoice.provider_invoice_id)
    assert (remote.status, remote.amount_paid) == ("paid", 300_000)

    run = payout_run_request(actor=world.finance, as_of=timezone.now() + timedelta(days=31))
    wait_for(lambda: PayoutRun.objects.get(pk=run.pk).status == "done", timeout=60, what="the payout run")

    transfers = {t.destination: t.amount for t in local_stripe.transfers()}
    assert transfers == {studio.stripe_account_id: 180_000, reseller.stripe_account_id: 120_000}
    assert sum(transfers.values()) == remote.amount_paid == invoice.amount
    for balance in trial_balance():
        assert sum(account.balance for account in balance.accounts) == 0
    assert paid_out(local_stripe, run) == PAID_OUT


def test_the_worker_killed_mid_run_and_the_run_repeated_pays_no_one_twice(local_stripe, world, celery_worker_process):
    studio, reseller = connect_payees(local_stripe)
    issued_and_paid(world, local_stripe)
    # each transfer takes Stripe two seconds: time to kill the worker in the middle
    local_stripe.configure("transfer_delay", seconds="2")
    run = payout_run_request(actor=world.finance, as_of=timezone.now() + timedelta(days=31))
    wait_for(lambda: len(local_stripe.transfers()) >= 1, timeout=60, what="the first transfer")

    os.killpg(celery_worker_process.pid, signal.SIGKILL)
    celery_worker_process.wait(timeout=10)
    assert PayoutRun.objects.get(pk=run.pk).status == "running"
    local_stripe.configure("transfer_delay", seconds="0")

    # the run repeated (once the dead worker's session has let go of the run lock)
    wait_for(lambda: payout_run_execute(run_id=run.pk).status == "done", timeout=30, what="the repeated run")
    assert sorted(Payout.objects.values_list("status", flat=True)) == ["sent", "sent"]
    assert sorted((t.destination, t.amount) for t in local_stripe.transfers()) == sorted(
        [(studio.stripe_account_id, 180_000), (reseller.stripe_account_id, 120_000)]
    )
    assert account_balance(code="cash:stripe", currency="JPY") == 0
    # and everything it left is exactly what an uninterrupted run leaves (the test above)
    assert paid_out(local_stripe, run) == PAID_OUT
