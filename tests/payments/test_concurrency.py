"""Stripe delivers the same event twice at the same moment (its retries overlap), or two
different events about one payment race: one payment is booked. Real transactions, one
database connection per thread."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from ledger.models import JournalEntry
from ledger.selectors.balances import account_balance
from payments import tasks
from payments.models import Invoice, WebhookEvent
from payments.services.invoicing import invoice_create, invoice_issue
from tests.support.payments import (
    connect_payees,
    deliver,
    invoice_event,
    october_statement,
    partner_pays,
    placement_with_coupons,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    monkeypatch.setattr(tasks.invoice_issue_task, "delay", lambda *args: None)


def at_once(*calls) -> list:
    results: list = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(index, call):
        try:
            barrier.wait()
            results[index] = call()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_overlapping_deliveries_book_one_payment(world, local_stripe):
    connect_payees(local_stripe)
    statement = october_statement(world, placement_with_coupons(world))
    invoice = invoice_issue(invoice_id=invoice_create(actor=world.finance, statement=statement).pk)
    partner_pays(local_stripe, invoice)
    paid = invoice_event(local_stripe, invoice.provider_invoice_id, "invoice.paid", event_id="evt_same")
    succeeded = invoice_event(local_stripe, invoice.provider_invoice_id, "invoice.payment_succeeded")

    answers = at_once(
        lambda: deliver(paid).status_code, lambda: deliver(paid).status_code, lambda: deliver(succeeded).status_code
    )

    assert answers == [200, 200, 200]
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"
    assert JournalEntry.objects.filter(idempotency_key=f"invoice:{invoice.pk}:paid").count() == 1
    assert account_balance(code="cash:stripe", currency="JPY") == 300_000
    assert WebhookEvent.objects.count() == 2
    assert sorted(WebhookEvent.objects.values_list("outcome", flat=True)) == ["ignored", "processed"]
