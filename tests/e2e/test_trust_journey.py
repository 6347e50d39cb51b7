"""Issue 15's whole journey, end to end, through the browser-facing views and the API, with a
real Celery worker, the local Stripe-compatible server and a real HTTP receiver:

Hoshi Mart (Japan, JPY) registers a webhook receiver through the API and finance records its
tax profile in the console. October's coupon sales come in through the API; finance settles
and sends October to review. A partner member disputes one sale in the portal; approval is
refused while it is open; finance accepts it in the console and the statement re-rates
without it; a second finance user approves it and October is invoiced with Japan's 10%
consumption tax (a qualified invoice: PDF, Stripe and the ledger agree). The partner pays.
In November a refund of an October sale comes in: November's statement claws it back, and
invoicing November issues a credit note on October's invoice at Stripe. The receiver gets
every event, signed, exactly once."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from django.urls import reverse

from ledger.selectors.balances import account_balance
from payments.models import CreditNote, Invoice
from payments.services.webhooks import webhook_event_process
from revenue.models import Inquiry, Sale, SaleExclusion, SettlementRun, Statement
from revenue.services.settlement import settlement_run_execute
from tests.support.api import bearer
from tests.support.payments import connect_payees, invoice_event, partner_pays, two_payee_terms
from tests.support.revenue import at, backdate, touch
from tests.support.web import browser, text
from tests.support.workers import wait_for
from tests.support.world import api_as, hire
from webhooks.models import OutboundEvent, WebhookDelivery
from webhooks.signing import signature_verify

pytestmark = pytest.mark.integration

OUR_NUMBER = "T1111111111111"
EVENTS = ["sale.attributed", "statement.submitted", "inquiry.resolved", "invoice.issued", "payout.paid"]


@pytest.fixture
def jp_tax(settings, monkeypatch):
    """The platform is a Japanese registered business, for this process and the worker."""
    settings.PLATFORM_TAX_COUNTRY, settings.PLATFORM_TAX_REGISTRATION_NUMBER = "JP", OUR_NUMBER
    monkeypatch.setenv("PLATFORM_TAX_COUNTRY", "JP")
    monkeypatch.setenv("PLATFORM_TAX_REGISTRATION_NUMBER", OUR_NUMBER)


def _post(world, *events: dict) -> None:
    response = bearer(world).post("/api/v1/sales", {"events": list(events)}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == len(events), response.content


def _sale(external_id: str, when: str, amount: int, code: str) -> dict:
    return {
        "external_id": external_id,
        "type": "sale",
        "occurred_at": when,
        "amount": amount,
        "currency": "JPY",
        "coupon_code": code,
    }


def _attributed(*external_ids: str) -> bool:
    return Sale.objects.filter(external_id__in=external_ids, attribution="attributed").count() == len(external_ids)


def _settle(period) -> Statement:
    settlement_run_execute(run_id=SettlementRun.objects.create(period=period, trigger="command").pk)
    return Statement.objects.get(period=period)


def test_a_disputed_sale_re_rates_is_invoiced_with_jp_tax_credited_later_and_every_event_arrives_once(
    world, jp_tax, local_stripe, receiver, webhook_worker_env, celery_worker_process
):
    connect_payees(local_stripe)
    # no minimum wage, so every change of the net shows in the wage
    placement = backdate(hire(world, terms=two_payee_terms(minimum_per_period=None, outcome_fees={})))
    for n in range(1, 4):
        touch(placement, "coupon", f"C{n}", at(10, n, 9))
    touch(placement, "coupon", "N1", at(11, 2, 9))
    finance, finance2 = browser(world.finance), browser(world.finance2)
    member = browser(world.hoshi_member)

    # given Hoshi Mart registers its receiver through the API, for every event it can get
    response = api_as(world.hoshi_owner).post(
        "/api/v1/webhook-endpoints", {"url": receiver.url, "event_types": EVENTS}, format="json"
    )
    assert response.status_code == 201, response.content
    secret = response.json()["secret"]
    # and finance records its tax profile in the console: a Japanese qualified-invoice issuer
    response = finance.post(
        reverse("console-partner-tax", args=[world.hoshi.pk]),
        {"country": "JP", "registration_number": "T2222222222222", "treatment": "auto"},
    )
    assert response.status_code == 302, text(response)

    # when October's till posts three coupon sales (the worker attributes them)
    _post(
        world,
        _sale("oct-1", "2026-10-10T12:00:00+09:00", 3_000_000, "C1"),
        _sale("oct-2", "2026-10-11T12:00:00+09:00", 1_500_000, "C2"),
        _sale("oct-3", "2026-10-12T12:00:00+09:00", 400_000, "C3"),
    )
    wait_for(lambda: _attributed("oct-1", "oct-2", "oct-3"), what="October's sales attributed")
    # and finance settles October and sends it to review from the console
    october = _settle(at(10, 1).date())
    assert (october.net, october.wage) == (4_900_000, 275_000)  # 8% of 1,000,000 + 5% of 3,900,000
    assert finance.post(reverse("console-statement-submit", args=[october.pk])).status_code == 302

    # when a partner member disputes oct-3 in the portal: not a customer the coupon brought
    response = member.post(
        reverse("portal-inquiry-open", args=[october.pk]),
        {"subject": "sale", "sale": "oct-3", "reason": "not_our_customer", "comment": "Staff purchase, not a shopper."},
    )
    assert response.status_code == 302, text(response)
    inquiry = Inquiry.objects.get()
    # then approval is refused while it is open
    response = finance2.post(reverse("console-statement-approve", args=[october.pk]))
    assert response.status_code == 409
    assert Statement.objects.get(pk=october.pk).status == "in_review"

    # when finance accepts it in the console
    response = finance.post(
        reverse("console-inquiry-resolve", args=[inquiry.pk]), {"decision": "accept", "note": "Excluded."}
    )
    assert response.status_code == 302, text(response)
    # then the sale is excluded and October re-rates without it, back in review
    assert SaleExclusion.objects.filter(sale__external_id="oct-3").exists()
    october.refresh_from_db()
    assert (october.status, october.net, october.wage, october.payable) == ("in_review", 4_500_000, 255_000, 255_000)
    # and the partner reads the outcome on its statement page
    assert "Excluded." in text(member.get(reverse("portal-statement", args=[october.pk])))

    # when the second finance user approves it and finance invoices it (the worker issues it)
    assert finance2.post(reverse("console-statement-approve", args=[october.pk])).status_code == 302
    assert finance.post(reverse("console-statement-invoice", args=[october.pk])).status_code == 302
    october_invoice = wait_for(
        lambda: Invoice.objects.filter(statement=october, status="open").first(), timeout=60, what="October issued"
    )
    # then it is a qualified invoice: 10% on top, rounded down once; Stripe's total is ours
    assert (october_invoice.subtotal, october_invoice.tax_amount, october_invoice.amount) == (255_000, 25_500, 280_500)
    remote = local_stripe.client.v1.invoices.retrieve(october_invoice.provider_invoice_id)
    assert (remote.total, remote.amount_due) == (280_500, 280_500)
    pdf = member.get(reverse("portal-invoice-pdf", args=[october_invoice.pk]))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert account_balance(code="tax_payable:JP", currency="JPY") == -25_500
    # and the partner pays it at Stripe
    partner_pays(local_stripe, october_invoice)
    webhook_event_process(event=invoice_event(local_stripe, october_invoice.provider_invoice_id, "invoice.paid"))
    assert Invoice.objects.get(pk=october_invoice.pk).status == "paid"

    # when in November a new coupon sale comes in, and a refund of 1,000,000 of oct-1
    _post(world, _sale("nov-1", "2026-11-10T12:00:00+09:00", 2_000_000, "N1"))
    response = bearer(world).post(
        "/api/v1/sales",
        {
            "events": [
                {
                    "external_id": "oct-1-r",
                    "type": "refund",
                    "refund_of": "oct-1",
                    "occurred_at": "2026-11-15T12:00:00+09:00",
                    "amount": 1_000_000,
                    "currency": "JPY",
                }
            ]
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    wait_for(
        lambda: _attributed("nov-1"),  # a refund follows its sale: attribution never looks at it
        what="November's sale attributed",
    )
    november = _settle(at(11, 1).date())
    # then November claws the refund back at October's effective rate (255,000 / 4,500,000)
    clawback = int((Decimal(1_000_000) * Decimal(255_000) / Decimal(4_500_000)).quantize(Decimal(1), "ROUND_HALF_UP"))
    assert clawback == 56_667
    assert (november.net, november.wage, november.clawback, november.payable) == (
        2_000_000,
        130_000,
        56_667,
        130_000 - 56_667,
    )
    assert finance.post(reverse("console-statement-submit", args=[november.pk])).status_code == 302
    assert finance2.post(reverse("console-statement-approve", args=[november.pk])).status_code == 302

    # when finance invoices November
    assert finance.post(reverse("console-statement-invoice", args=[november.pk])).status_code == 302
    november_invoice = wait_for(
        lambda: Invoice.objects.filter(statement=november, status="open").first(), timeout=60, what="November issued"
    )
    # then a credit note on October's invoice gives the clawback back with its tax, at Stripe too,
    note = wait_for(
        lambda: CreditNote.objects.filter(invoice=october_invoice, status="issued").first(),
        timeout=60,
        what="the credit note issued at Stripe",
    )
    assert (note.subtotal, note.tax_amount, note.amount) == (56_667, 5_666, 62_333)
    remote_note = local_stripe.client.v1.credit_notes.retrieve(note.provider_credit_note_id)
    assert (remote_note.invoice, remote_note.total) == (october_invoice.provider_invoice_id, 62_333)
    # and November's invoice bills the credited part again: charged once, credited once
    assert (november_invoice.subtotal, november_invoice.tax_amount, november_invoice.amount) == (
        130_000,
        13_000,
        143_000,
    )
    assert november_invoice.subtotal - note.subtotal == november.payable
    assert not Invoice.objects.filter(amount__lt=0).exists()

    # and the receiver got every event, signed, exactly once
    expected = OutboundEvent.objects.filter(partner=world.hoshi)
    wait_for(lambda: len(receiver.events()) == expected.count(), timeout=60, what="every event at the receiver")
    got = receiver.events()
    assert sorted(g.json["id"] for g in got) == sorted(e.public_id for e in expected)
    assert len({g.json["id"] for g in got}) == len(got)
    assert Counter(g.json["type"] for g in got) >= Counter(
        {"statement.submitted": 2, "inquiry.resolved": 1, "invoice.issued": 2, "sale.attributed": 1}
    )
    for delivered in got:
        assert delivered.headers["Haken-Event-Id"] == delivered.json["id"]
        assert signature_verify(secret=secret, body=delivered.body, header=delivered.headers["Haken-Signature"])
    resolved = next(g.json for g in got if g.json["type"] == "inquiry.resolved")
    assert resolved["data"]["inquiry"]["id"] == inquiry.pk
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}
