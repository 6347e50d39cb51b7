"""Each business event emits its webhook event from the service where it happens, in the
same transaction: sale.attributed (attribution, one event per pass per partner),
statement.submitted, invoice.issued, payout.paid and coupon.issued."""

import pytest
from django.core.serializers.json import DjangoJSONEncoder

from payments.services.invoicing import invoice_create, invoice_issue, invoice_mark_paid
from revenue.models import Sale, Statement
from revenue.services.attribution import attribution_run
from revenue.services.ingestion import touchpoint_record
from revenue.services.settlement import settlement_run_execute, statement_submit
from tests.support.factories import SettlementRunFactory
from tests.support.payments import (
    OCT,
    connect_payees,
    october_statement,
    placement_with_coupons,
    run_payouts,
)
from tests.support.revenue import at, backdate, sale, touch
from tests.support.world import hire
from webhooks import services
from webhooks.models import OutboundEvent, WebhookDelivery


def _listen(world, partner, *types, url="https://hooks.example.com/haken"):
    return services.webhook_endpoint_create(
        actor=getattr(world, f"{partner}_owner"), partner=getattr(world, partner), url=url, event_types=list(types)
    ).endpoint


def test_an_attribution_pass_emits_one_event_per_partner_listing_its_sales(world):
    # given Hoshi Mart listens for sale.attributed, Wayfarer does not
    endpoint = _listen(world, "hoshi", "sale.attributed")
    placement = backdate(hire(world))
    other = backdate(hire(world, partner="wayfarer"))
    touch(placement, "coupon", "C1", at(10, 1))
    touch(other, "coupon", "W1", at(10, 1))
    first = sale(world.hoshi, at(10, 2), 1200, coupon_code="C1", external_id="pos-1")
    second = sale(world.hoshi, at(10, 3), 800, coupon_code="C1", external_id="pos-2")
    sale(world.hoshi, at(10, 3), 500, external_id="pos-3")  # no key: unattributed
    sale(world.wayfarer, at(10, 3), 900, coupon_code="W1", external_id="way-1")
    # when one pass attributes every pending sale
    result = attribution_run()
    # then the counts are the pass's, and Hoshi Mart has one event listing its two sales
    assert (result.attributed, result.unattributed) == (3, 1)
    event = OutboundEvent.objects.get()
    assert (event.partner, event.type) == (world.hoshi, "sale.attributed")
    assert event.payload == {
        "sales": [
            {
                "id": first.pk,
                "external_id": "pos-1",
                "placement": placement.pk,
                "attributed_key": "coupon_code",
                "amount": 1200,
                "currency": "JPY",
                "occurred_at": "2026-10-02T03:00:00+00:00",
            },
            {
                "id": second.pk,
                "external_id": "pos-2",
                "placement": placement.pk,
                "attributed_key": "coupon_code",
                "amount": 800,
                "currency": "JPY",
                "occurred_at": "2026-10-03T03:00:00+00:00",
            },
        ],
        "count": 2,
        "part": 1,
        "parts": 1,
    }
    assert list(WebhookDelivery.objects.values_list("endpoint_id", "event_id")) == [(endpoint.pk, event.pk)]
    # and a second pass, with nothing pending, emits nothing
    attribution_run()
    assert OutboundEvent.objects.count() == 1


def test_a_large_pass_is_sent_in_parts(world, settings):
    settings.WEBHOOK_SALES_PER_EVENT = 2
    _listen(world, "hoshi", "sale.attributed")
    placement = backdate(hire(world))
    touch(placement, "coupon", "C1", at(10, 1))
    for n in range(5):
        sale(world.hoshi, at(10, 2), 100 + n, coupon_code="C1", external_id=f"pos-{n}")
    attribution_run()
    events = OutboundEvent.objects.order_by("payload__part")
    assert [(e.payload["part"], e.payload["parts"], e.payload["count"]) for e in events] == [
        (1, 3, 2),
        (2, 3, 2),
        (3, 3, 1),
    ]
    listed = [s["external_id"] for e in events for s in e.payload["sales"]]
    assert listed == [f"pos-{n}" for n in range(5)]
    assert Sale.objects.filter(attribution="attributed").count() == 5


def test_submitting_a_statement_emits_statement_submitted(world, settings):
    settings.STRIPE_API_KEY = ""
    connect_payees(None)  # the terms' two payees
    _listen(world, "hoshi", "statement.submitted")
    placement = placement_with_coupons(world)
    sale(world.hoshi, at(10, 11), 3_000_000, coupon_code="C1", external_id="oct-1")
    settlement_run_execute(run_id=SettlementRunFactory(period=OCT).pk)
    statement = Statement.objects.get(period=OCT)
    assert OutboundEvent.objects.count() == 0  # a draft is the platform's work in progress
    statement_submit(actor=world.finance, statement=statement)
    statement.refresh_from_db()
    event = OutboundEvent.objects.get()
    assert event.type == "statement.submitted"
    assert event.idempotency_key == f"statement:{statement.pk}:submitted:{statement.submitted_at.isoformat()}"
    data = event.payload["statement"]
    assert (data["id"], data["placement"], data["employee"], data["period"], data["status"]) == (
        statement.pk,
        placement.pk,
        "rinna",
        "2026-10",
        "in_review",
    )
    assert (data["currency"], data["total"], data["payable"]) == ("JPY", statement.total, statement.payable)
    assert sum(line["amount"] for line in data["lines"]) == statement.total


def test_issuing_an_invoice_and_paying_out_emit_invoice_issued_and_payout_paid(world, settings):
    settings.STRIPE_API_KEY = ""  # the manual provider
    connect_payees(None)
    _listen(world, "hoshi", "invoice.issued", "payout.paid")
    _listen(world, "wayfarer", "invoice.issued", "payout.paid")
    statement = october_statement(world, placement_with_coupons(world))
    invoice = invoice_issue(invoice_id=invoice_create(actor=world.finance, statement=statement).pk)
    # then invoice.issued, once, when the invoice became open
    event = OutboundEvent.objects.get(type="invoice.issued")
    assert event.partner == world.hoshi
    assert event.payload["invoice"] == {
        "id": invoice.pk,
        "number": invoice.number,
        "statement": statement.pk,
        "period": "2026-10",
        "currency": "JPY",
        "amount": 300_000,
        # no tax profile: no tax (payments.tax), the amount is all subtotal
        "subtotal": 300_000,
        "tax": 0,
        "tax_treatment": "none",
        "provider": "manual",
        "hosted_url": invoice.hosted_url,
        "issued_at": DjangoJSONEncoder().default(invoice.issued_at),  # ISO 8601, to the millisecond
    }
    invoice_issue(invoice_id=invoice.pk)  # again: already open, nothing more
    assert OutboundEvent.objects.filter(type="invoice.issued").count() == 1
    # when the partner pays and the payees are paid out
    invoice_mark_paid(actor=world.finance, invoice=invoice)
    run_payouts(world)
    # then Hoshi Mart hears of each payee paid its shares of the October statement
    paid = OutboundEvent.objects.filter(type="payout.paid").order_by("payload__payout__payee__slug")
    assert [
        (
            e.partner_id,
            e.payload["payout"]["payee"]["slug"],
            e.payload["payout"]["amount"],
            e.payload["payout"]["statements"],
        )
        for e in paid
    ] == [
        (
            world.hoshi.pk,
            "reseller-kumo",
            120_000,
            [{"statement": statement.pk, "period": "2026-10", "amount": 120_000}],
        ),
        (world.hoshi.pk, "studio-aoi", 180_000, [{"statement": statement.pk, "period": "2026-10", "amount": 180_000}]),
    ]
    # and Wayfarer, whose statements the payouts did not carry, hears nothing
    assert not OutboundEvent.objects.filter(partner=world.wayfarer).exists()


def test_an_employee_issuing_a_coupon_emits_coupon_issued_once(world):
    _listen(world, "hoshi", "coupon.issued")
    placement = hire(world)
    touchpoint = touchpoint_record(placement=placement, kind="coupon", key="RINNA-7F3K2", occurred_at=at(10, 1))
    # recorded again (the agent retried): the same touchpoint, no second event
    touchpoint_record(placement=placement, kind="coupon", key="RINNA-7F3K2", occurred_at=at(10, 1))
    # a conversation touchpoint is no coupon
    touchpoint_record(placement=placement, kind="conversation", key="conv-1", occurred_at=at(10, 1))
    event = OutboundEvent.objects.get()
    assert (event.type, event.idempotency_key) == ("coupon.issued", f"touchpoint:{touchpoint.pk}")
    assert event.payload == {
        "coupon": {
            "code": "RINNA-7F3K2",
            "placement": placement.pk,
            "employee": "rinna",
            "issued_at": "2026-10-01T03:00:00Z",
        }
    }


@pytest.mark.parametrize("event_type", ["inquiry.resolved"])
def test_inquiry_resolved_is_in_the_catalogue_but_nothing_emits_it_yet(world, event_type):
    endpoint = _listen(world, "hoshi", event_type)
    assert endpoint.event_types == [event_type]
