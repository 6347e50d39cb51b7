"""Signed outbound webhooks end to end: a real Celery worker and a real HTTP receiver on
127.0.0.1. A partner registers an endpoint through the API; a sale is attributed, a
statement submitted, an invoice issued; the receiver gets each event once, signed. Then a
500 answered first is retried; repeated failures disable the endpoint with a notice; a
replay through the API arrives with the same event id; and the stall sweep sends a delivery
whose message was lost. (Short retry delays: tests/fixtures/webhooks.py.)"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from contracts.models import Notification
from payments.services.invoicing import invoice_create
from revenue.models import Sale
from tests.support.api import bearer
from tests.support.payments import OCT, connect_payees, placement_with_coupons, settle_and_approve
from tests.support.workers import wait_for
from tests.support.world import api_as
from webhooks import services
from webhooks.models import OutboundEvent, WebhookDelivery, WebhookEndpoint
from webhooks.signing import signature_verify
from webhooks.tasks import webhook_stalled_sweep

pytestmark = pytest.mark.integration


def _register(world, receiver, *types):
    response = api_as(world.hoshi_owner).post(
        "/api/v1/webhook-endpoints", {"url": receiver.url, "event_types": list(types)}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()["secret"]


def _post_sales(world, *events):
    response = bearer(world).post(
        "/api/v1/sales",
        {
            "events": [
                {
                    "external_id": external_id,
                    "type": "sale",
                    "occurred_at": "2026-10-11T12:00:00+09:00",
                    "amount": amount,
                    "currency": "JPY",
                    "coupon_code": code,
                }
                for external_id, amount, code in events
            ]
        },
        format="json",
    )
    assert response.status_code == 200 and response.json()["accepted"] == len(events), response.content


def _by_type(receiver):
    return sorted((got.json["type"], got.json["id"]) for got in receiver.events())


def test_the_receiver_gets_each_event_once_signed_and_a_500_is_retried(
    world, settings, receiver, webhook_worker_env, celery_worker_process
):
    settings.STRIPE_API_KEY = ""
    connect_payees(None)
    world.hoshi.payment_provider = "manual"
    world.hoshi.save()
    placement_with_coupons(world)  # coupons C1…C5 handed out in October
    # given Hoshi Mart registers its receiver through the API
    secret = _register(world, receiver, "sale.attributed", "statement.submitted", "invoice.issued")

    # when its till posts a sale with a coupon code (the worker attributes it)
    _post_sales(world, ("pos-1", 3_000_000, "C1"))
    wait_for(lambda: len(receiver.events()) == 1, what="sale.attributed at the receiver")
    # and finance settles October, submits and approves the statement, and invoices it
    statement = settle_and_approve(world, OCT)
    invoice_create(actor=world.finance, statement=statement)  # the worker issues it
    wait_for(lambda: len(receiver.events()) == 3, timeout=60, what="three events at the receiver")

    # then the receiver has each event exactly once, every one signed with the secret
    events = OutboundEvent.objects.order_by("pk")
    assert _by_type(receiver) == sorted((e.type, e.public_id) for e in events)
    assert sorted(t for t, _ in _by_type(receiver)) == ["invoice.issued", "sale.attributed", "statement.submitted"]
    for got in receiver.events():
        assert got.headers["Haken-Event-Id"] == got.json["id"]
        assert signature_verify(secret=secret, body=got.body, header=got.headers["Haken-Signature"])
    sale = Sale.objects.get(external_id="pos-1")
    attributed = next(got.json for got in receiver.events() if got.json["type"] == "sale.attributed")
    assert [(s["id"], s["external_id"]) for s in attributed["data"]["sales"]] == [(sale.pk, "pos-1")]
    assert sorted(WebhookDelivery.objects.values_list("status", "attempts")) == [("delivered", 1)] * 3

    # when the receiver answers 500 to the next event, then 200
    receiver.answer_with(500, 200)
    _post_sales(world, ("pos-2", 1000, "C2"))
    wait_for(lambda: len(receiver.events()) == 5, what="the retried delivery")
    # then the same event arrived twice (once refused), and is delivered after two attempts
    first, second = receiver.events()[3:]
    assert first.headers["Haken-Event-Id"] == second.headers["Haken-Event-Id"]
    delivery = wait_for(
        lambda: WebhookDelivery.objects.filter(event__public_id=first.json["id"], status="delivered").first(),
        what="the delivery recorded delivered",
    )
    assert (delivery.attempts, delivery.last_status_code) == (2, 200)


def test_failures_disable_the_endpoint_replay_and_the_stall_sweep(
    world, settings, receiver, webhook_worker_env, celery_worker_process, monkeypatch
):
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 2
    _register(world, receiver, "statement.submitted")
    # given the receiver fails every time
    receiver.answer_with(500)
    # when two events fail after every retry (1 + 3 attempts each)
    for key in ("a", "b"):
        services.webhook_event_emit(partner=world.hoshi, type="statement.submitted", key=key, payload={"k": key})
    wait_for(lambda: WebhookEndpoint.objects.get().status == "disabled", timeout=60, what="the endpoint disabled")
    # then each delivery was attempted four times, and the owner has a notice
    assert sorted(WebhookDelivery.objects.values_list("status", "attempts")) == [("failed", 4), ("failed", 4)]
    assert len(receiver.events()) == 8
    notice = Notification.objects.get(recipient=world.hoshi_owner)
    assert notice.url == "/portal/webhooks/" and "disabled" in notice.message

    # when the owner enables it again and replays the first delivery through the API
    receiver.answer_with(200)
    api = api_as(world.hoshi_owner)
    endpoint = WebhookEndpoint.objects.get()
    services.webhook_endpoint_enable(actor=world.hoshi_owner, endpoint=endpoint)
    failed = WebhookDelivery.objects.order_by("pk").first()
    response = api.post(f"/api/v1/webhook-deliveries/{failed.pk}/replay")
    assert response.status_code == 201
    # then the receiver gets the same event id again, and the replay is delivered
    wait_for(lambda: len(receiver.events()) == 9, what="the replay")
    assert receiver.events()[-1].headers["Haken-Event-Id"] == failed.event.public_id
    wait_for(
        lambda: WebhookDelivery.objects.get(pk=response.json()["id"]).status == "delivered", what="replay delivered"
    )

    # when an event's message is lost (the broker refused it) and it is overdue
    monkeypatch.setattr(services, "enqueue_on_commit", lambda *args: None)
    services.webhook_event_emit(partner=world.hoshi, type="statement.submitted", key="lost", payload={"k": "lost"})
    lost = WebhookDelivery.objects.get(event__idempotency_key="lost")
    WebhookDelivery.objects.filter(pk=lost.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=10))
    # then nothing arrives until the beat's sweep finds it and queues it again
    assert len(receiver.events()) == 9
    webhook_stalled_sweep.delay()
    wait_for(lambda: WebhookDelivery.objects.get(pk=lost.pk).status == "delivered", what="the swept delivery")
    assert receiver.events()[-1].json["id"] == lost.event.public_id
    assert len(receiver.events()) == 10
