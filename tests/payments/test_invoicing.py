"""Collection: an approved statement becomes a Stripe invoice (against the local Stripe
server, through the official library), and the signed webhook marks it paid, posting
Dr cash:stripe / Cr partner_receivable. Replays, out-of-order delivery, bad signatures."""

from __future__ import annotations

import json
import time

import pytest

from core.errors import InvalidTransition, PermissionDenied
from core.models import AuditLog
from ledger.selectors.balances import account_balance
from payments.models import Invoice, WebhookEvent
from payments.services import invoicing
from payments.services.invoicing import invoice_create, invoice_issue, invoice_mark_paid
from revenue.models import Statement
from tests.support.payments import (
    connect_payees,
    db_state,
    deliver,
    invoice_event,
    october_statement,
    partner_pays,
    placement_with_coupons,
    signature,
)


@pytest.fixture
def approved(world, local_stripe):
    connect_payees(local_stripe)
    statement = october_statement(world, placement_with_coupons(world))
    assert (statement.status, statement.payable) == ("approved", 300_000)
    return statement


def issue(world, statement: Statement) -> Invoice:
    return invoice_issue(invoice_id=invoice_create(actor=world.finance, statement=statement).pk)


def test_an_approved_statement_becomes_one_finalized_stripe_invoice(world, local_stripe, approved):
    # when finance invoices the approved statement
    invoice = issue(world, approved)

    # then Stripe has one open invoice for the partner's customer, one item per line
    world.hoshi.refresh_from_db()
    remote = local_stripe.client.v1.invoices.retrieve(invoice.provider_invoice_id)
    assert world.hoshi.stripe_customer_id == remote.customer
    assert [i.id for i in local_stripe.client.v1.invoices.list(params={"customer": remote.customer}).data] == [
        invoice.provider_invoice_id
    ]
    assert (remote.status, remote.amount_due, remote.currency, remote.collection_method) == (
        "open",
        300_000,
        "jpy",
        "send_invoice",
    )
    assert remote.metadata.to_dict() == {
        "haken_invoice": str(invoice.pk),
        "haken_statement": str(approved.pk),
        "haken_partner": "hoshi-mart",
        "period": "2026-10",
    }
    lines = [(line.kind, line.amount) for line in approved.lines.all()]
    assert lines == [("attributed_sales", 0), ("share", 280_000), ("minimum_top_up", 20_000)]
    assert sorted((item.metadata["kind"], item.amount) for item in remote.lines.data) == sorted(lines)
    # and ours is open, the statement invoiced, with an audit trail
    invoice.refresh_from_db()
    approved.refresh_from_db()
    assert (invoice.status, invoice.provider, invoice.amount, invoice.number) == (
        "open",
        "stripe",
        300_000,
        remote.number,
    )
    assert approved.status == "invoiced"
    assert list(
        AuditLog.objects.filter(target_id=str(invoice.pk), action__startswith="invoice.")
        .values_list("action", flat=True)
        .order_by("id")
    ) == ["invoice.created", "invoice.issued"]


def test_a_retried_issue_never_makes_a_second_invoice(world, local_stripe, approved, monkeypatch):
    # given the worker dies after Stripe made the invoice but before our commit
    invoice = invoice_create(actor=world.finance, statement=approved)
    real = invoicing._invoice_record_issued

    def crash(*args, **kwargs):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(invoicing, "_invoice_record_issued", crash)
    with pytest.raises(RuntimeError):
        invoice_issue(invoice_id=invoice.pk)
    assert Invoice.objects.get(pk=invoice.pk).status == "draft"

    # when the task runs again, and once more
    monkeypatch.setattr(invoicing, "_invoice_record_issued", real)
    invoice_issue(invoice_id=invoice.pk)
    invoice_issue(invoice_id=invoice.pk)
    # and finance asks for the invoice again
    assert invoice_create(actor=world.finance, statement=approved).pk == invoice.pk

    # then Stripe holds one customer, one invoice, three items
    customers = list(local_stripe.client.v1.customers.list().data)
    assert len(customers) == 1
    [remote] = local_stripe.client.v1.invoices.list(params={"customer": customers[0].id}).data
    assert (remote.id, remote.amount_due, len(remote.lines.data)) == (
        Invoice.objects.get(pk=invoice.pk).provider_invoice_id,
        300_000,
        3,
    )


def test_the_signed_paid_webhook_posts_cash_and_marks_the_statement_paid(world, local_stripe, approved):
    invoice = issue(world, approved)
    # when the partner pays at Stripe and Stripe reports it
    assert partner_pays(local_stripe, invoice)["status"] == "paid"
    response = deliver(invoice_event(local_stripe, invoice.provider_invoice_id, "invoice.paid", event_id="evt_1"))

    # then
    assert (response.status_code, response.json()) == (
        200,
        {"received": True, "event": "evt_1", "outcome": "processed"},
    )
    invoice.refresh_from_db()
    approved.refresh_from_db()
    assert (invoice.status, approved.status) == ("paid", "paid")
    assert [(line.account.code, line.amount) for line in invoice.payment_entry.lines.select_related("account")] == [
        ("cash:stripe", 300_000),
        ("partner_receivable:hoshi-mart", -300_000),
    ]
    assert account_balance(code="partner_receivable:hoshi-mart", currency="JPY") == 0
    assert account_balance(code="cash:stripe", currency="JPY") == 300_000


def test_the_same_webhook_three_times_and_out_of_order_posts_once(world, local_stripe, approved):
    invoice = issue(world, approved)
    partner_pays(local_stripe, invoice)
    paid = invoice_event(local_stripe, invoice.provider_invoice_id, "invoice.paid", event_id="evt_paid")
    succeeded = invoice_event(
        local_stripe, invoice.provider_invoice_id, "invoice.payment_succeeded", event_id="evt_succeeded"
    )
    finalized = invoice_event(local_stripe, invoice.provider_invoice_id, "invoice.finalized", event_id="evt_final")
    failed = invoice_event(local_stripe, invoice.provider_invoice_id, "invoice.payment_failed", event_id="evt_fail")

    # when Stripe delivers paid three times, then the earlier events late
    answers = [deliver(e).json()["outcome"] for e in (paid, paid, paid, succeeded, finalized, failed)]

    # then one payment is booked, and the late events change nothing
    assert answers == ["processed", "processed", "processed", "ignored", "processed", "ignored"]
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert account_balance(code="cash:stripe", currency="JPY") == 300_000
    assert account_balance(code="partner_receivable:hoshi-mart", currency="JPY") == 0
    assert sorted(WebhookEvent.objects.values_list("event_id", "outcome")) == [
        ("evt_fail", "ignored"),
        ("evt_final", "processed"),
        ("evt_paid", "processed"),
        ("evt_succeeded", "ignored"),
    ]


def test_paid_before_our_record_of_issuing_it_still_pays_the_right_invoice(world, local_stripe, approved, monkeypatch):
    # given Stripe made and finalized the invoice but our commit was lost
    invoice = invoice_create(actor=world.finance, statement=approved)
    with monkeypatch.context() as patch:
        patch.setattr(invoicing, "_invoice_record_issued", lambda *a, **k: (_ for _ in ()).throw(RuntimeError()))
        with pytest.raises(RuntimeError):
            invoice_issue(invoice_id=invoice.pk)
    [remote] = local_stripe.client.v1.invoices.list().data
    invoice.provider_invoice_id = remote.id  # only to let the helper find it at Stripe
    partner_pays(local_stripe, invoice)

    # when invoice.paid arrives before anything else
    assert deliver(invoice_event(local_stripe, remote.id, "invoice.paid")).json()["outcome"] == "processed"

    # then the invoice found by its metadata is recorded as issued and paid
    invoice.refresh_from_db()
    assert (invoice.status, invoice.provider_invoice_id, invoice.statement.status) == ("paid", remote.id, "paid")
    assert account_balance(code="cash:stripe", currency="JPY") == 300_000


@pytest.mark.parametrize("how", ["wrong secret", "no header", "tampered", "stale", "garbage"])
def test_a_bad_signature_is_a_400_and_changes_nothing(world, local_stripe, approved, how):
    invoice = issue(world, approved)
    partner_pays(local_stripe, invoice)
    event = invoice_event(local_stripe, invoice.provider_invoice_id, "invoice.paid")
    before = db_state()

    payload = json.dumps(event).encode()
    if how == "wrong secret":
        response = deliver(event, sign_with="whsec_someone_else")
    elif how == "no header":
        response = deliver(event, header="")
    elif how == "tampered":
        response = deliver(
            {**event, "type": "invoice.paid", "id": "evt_forged"},
            header=signature(json.dumps({**event, "id": "evt_other"}).encode()),
        )
    elif how == "stale":
        response = deliver(event, header=signature(payload, timestamp=int(time.time()) - 3600))
    else:
        response = deliver(event, header="t=1,v1=00")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert db_state() == before
    assert Invoice.objects.get(pk=invoice.pk).status == "open"


def test_unknown_events_and_foreign_invoices_are_stored_and_ignored(world, local_stripe, approved):
    issue(world, approved)
    before = db_state()
    customer = {
        "id": "evt_c",
        "object": "event",
        "type": "customer.created",
        "created": int(time.time()),
        "data": {"object": {"id": "cus_x", "object": "customer"}},
    }
    foreign = {
        "id": "evt_f",
        "object": "event",
        "type": "invoice.paid",
        "created": int(time.time()),
        "data": {"object": {"id": "in_not_ours", "object": "invoice", "status": "paid", "metadata": {}}},
    }
    assert [deliver(e).json()["outcome"] for e in (customer, foreign)] == ["ignored", "ignored"]
    after = db_state()
    assert after.pop("events") == [("evt_c", "ignored"), ("evt_f", "ignored")]
    before.pop("events")
    assert after == before


def test_a_failed_payment_is_shown_and_notified(world, local_stripe, approved):
    invoice = issue(world, approved)
    remote = partner_pays(local_stripe, invoice, card="4000000000000341")  # declined
    assert remote["status"] == "open"
    deliver(invoice_event(local_stripe, invoice.provider_invoice_id, "invoice.payment_failed"))
    invoice.refresh_from_db()
    assert (invoice.status, invoice.failure_message) == ("payment_failed", "The payment was declined (attempt 1).")
    assert AuditLog.objects.filter(action="invoice.payment_failed", partner_id=world.hoshi.pk).count() == 1
    # nothing is booked; a later successful payment still is
    assert account_balance(code="cash:stripe", currency="JPY") == 0
    assert partner_pays(local_stripe, invoice)["status"] == "paid"
    deliver(invoice_event(local_stripe, invoice.provider_invoice_id, "invoice.paid"))
    invoice.refresh_from_db()
    assert (invoice.status, account_balance(code="cash:stripe", currency="JPY")) == ("paid", 300_000)


def test_the_manual_provider_records_and_finance_marks_paid(world, settings):
    settings.STRIPE_API_KEY = ""  # no Stripe: partners and payees default to manual
    connect_payees(None)
    statement = october_statement(world, placement_with_coupons(world))
    invoice = issue(world, statement)
    assert (invoice.provider, invoice.status, invoice.provider_invoice_id) == (
        "manual",
        "open",
        f"manual:statement:{statement.pk}:invoice",
    )

    # the partner cannot mark its own invoice paid
    before = db_state()
    with pytest.raises(PermissionDenied):
        invoice_mark_paid(actor=world.hoshi_owner, invoice=invoice)
    assert db_state() == before

    invoice_mark_paid(actor=world.finance, invoice=invoice, reference="bank ref 42")
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert account_balance(code="cash:manual", currency="JPY") == 300_000
    before = db_state()
    with pytest.raises(InvalidTransition):
        invoice_mark_paid(actor=world.finance, invoice=invoice)
    assert db_state() == before


def test_invoicing_is_refused_for_drafts_and_for_non_finance(world, settings):
    settings.STRIPE_API_KEY = ""
    connect_payees(None)
    statement = october_statement(world, placement_with_coupons(world))
    draft = Statement.objects.create(
        contract=statement.contract, period="2026-11-01", currency="JPY", version_number=0, payable=100
    )
    before = db_state()
    with pytest.raises(InvalidTransition):
        invoice_create(actor=world.finance, statement=draft)
    with pytest.raises(PermissionDenied):
        invoice_create(actor=world.hoshi_manager, statement=statement)
    assert db_state() == before


def test_a_refused_issue_is_recorded_and_can_be_issued_again(world, local_stripe, approved):
    # given the partner points at a Stripe customer that does not exist
    world.hoshi.stripe_customer_id = "cus_gone"
    world.hoshi.save()
    invoice = issue(world, approved)
    assert (invoice.status, invoice.issue_error) == ("draft", "Not Found")
    assert Statement.objects.get(pk=approved.pk).status == "approved"
    with pytest.raises(PermissionDenied):
        invoicing.invoice_issue_retry(actor=world.hoshi_owner, invoice=invoice)

    # when finance fixes the customer and issues again
    world.hoshi.stripe_customer_id = ""
    world.hoshi.save()
    invoicing.invoice_issue_retry(actor=world.finance, invoice=invoice)
    invoice = invoice_issue(invoice_id=invoice.pk)  # what the queued task does
    assert (invoice.status, invoice.issue_error) == ("open", "")
    with pytest.raises(InvalidTransition):
        invoicing.invoice_issue_retry(actor=world.finance, invoice=invoice)


def test_issuing_again_after_a_late_refusal_replaces_the_left_over_items(world, local_stripe, approved):
    # given Stripe took the customer and the items, then refused the invoice itself
    local_stripe.configure("refuse_invoices", count="1")
    invoice = issue(world, approved)
    assert (invoice.status, invoice.issue_error) == ("draft", "Invoices are disabled on this account.")

    # when finance issues it again (a new attempt, new keys)
    invoicing.invoice_issue_retry(actor=world.finance, invoice=invoice)
    invoice = invoice_issue(invoice_id=invoice.pk)
    assert (invoice.status, invoice.issue_error, invoice.issue_attempt) == ("open", "", 2)

    # then the invoice bills the statement once, not the left-over items twice
    remote = local_stripe.client.v1.invoices.retrieve(invoice.provider_invoice_id)
    assert (remote.amount_due, len(remote.lines.data)) == (300_000, 3)
    assert len(local_stripe.client.v1.customers.list().data) == 1


def test_issuing_again_after_a_refused_send_carries_on_with_the_same_invoice(world, local_stripe, approved):
    # given Stripe made and finalized the invoice, then refused to send it
    local_stripe.configure("refuse_invoices", step="sends", count="1")
    invoice = issue(world, approved)
    assert (invoice.status, invoice.issue_error) == ("draft", "The customer has no e-mail address to send to.")
    # when finance issues it again
    invoicing.invoice_issue_retry(actor=world.finance, invoice=invoice)
    invoice = invoice_issue(invoice_id=invoice.pk)
    # then it is the same, single invoice at Stripe
    [remote] = local_stripe.client.v1.invoices.list().data
    assert (invoice.status, invoice.provider_invoice_id, remote.amount_due, len(remote.lines.data)) == (
        "open",
        remote.id,
        300_000,
        3,
    )
