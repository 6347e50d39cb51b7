"""Endpoints, emitting, delivering to a real local receiver, retries, disabling, replay and
the stall finder, through the services (the worker's part is in tests/e2e/test_webhooks.py)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from contracts.models import Notification
from core.errors import InvalidTransition, PermissionDenied, ValidationFailed
from core.models import AuditLog
from tests.support.snapshot import db_snapshot
from webhooks import services
from webhooks.models import OutboundEvent, WebhookDelivery, WebhookEndpoint
from webhooks.selectors import stalled_deliveries
from webhooks.signing import signature_verify

ALL_WEBHOOKS = (WebhookEndpoint, OutboundEvent, WebhookDelivery, AuditLog, Notification)


def _endpoint(world, url, types=("statement.submitted",), partner="hoshi"):
    return services.webhook_endpoint_create(
        actor=getattr(world, f"{partner}_owner"),
        partner=getattr(world, partner),
        url=url,
        event_types=list(types),
        description="till",
    )


def _emit(world, key="k1", partner="hoshi", type="statement.submitted"):
    return services.webhook_event_emit(
        partner=getattr(world, partner), type=type, key=key, payload={"statement": {"id": 7, "amount": 1200}}
    )


def _attempt_all():
    return [
        services.webhook_delivery_attempt(delivery_id=pk)
        for pk in WebhookDelivery.objects.filter(status="pending").order_by("pk").values_list("pk", flat=True)
    ]


def _due_now():
    WebhookDelivery.objects.filter(status="pending").update(next_attempt_at=timezone.now() - timedelta(seconds=1))


# --- endpoints -------------------------------------------------------------------------------


def test_an_owner_adds_an_endpoint_and_gets_its_secret_once(world, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    # when an owner adds an endpoint
    issued = _endpoint(world, "https://hooks.example.com/haken", types=["invoice.issued", "sale.attributed"])
    # then it is stored with the events in the catalogue's order, and the secret is whsec_…
    endpoint = issued.endpoint
    assert (endpoint.url, endpoint.event_types, endpoint.status, endpoint.description) == (
        "https://hooks.example.com/haken",
        ["sale.attributed", "invoice.issued"],
        "enabled",
        "till",
    )
    assert issued.secret.startswith("whsec_") and len(issued.secret) > 40
    assert endpoint.secret == issued.secret
    entry = AuditLog.objects.get(action="webhook_endpoint.created")
    assert (entry.actor, entry.partner_id) == (world.hoshi_owner, world.hoshi.pk)
    assert issued.secret not in str(entry.changes) and issued.secret not in entry.summary


@pytest.mark.parametrize(
    ("url", "types", "field"),
    [
        ("ftp://hooks.example.com/x", ["invoice.issued"], "url"),
        ("https://user:pw@hooks.example.com/x", ["invoice.issued"], "url"),
        ("http://127.0.0.1:8080/x", ["invoice.issued"], "url"),
        ("http://localhost/x", ["invoice.issued"], "url"),
        ("http://10.1.2.3/x", ["invoice.issued"], "url"),
        ("http://169.254.169.254/latest", ["invoice.issued"], "url"),
        ("http://[::1]/x", ["invoice.issued"], "url"),
        ("", ["invoice.issued"], "url"),
        ("https://hooks.example.com/x", [], "event_types"),
        ("https://hooks.example.com/x", ["sale.created"], "event_types"),
    ],
)
def test_bad_endpoints_are_refused_and_nothing_is_stored(world, settings, url, types, field):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    before = db_snapshot(*ALL_WEBHOOKS)
    with pytest.raises(ValidationFailed) as refused:
        _endpoint(world, url, types=types)
    assert list(refused.value.fields) == [field]
    assert db_snapshot(*ALL_WEBHOOKS) == before


def test_loopback_is_allowed_when_the_setting_says_so(world, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    assert _endpoint(world, "http://127.0.0.1:9/x").endpoint.url == "http://127.0.0.1:9/x"


def test_members_and_other_partners_may_not_manage_endpoints(world, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    endpoint = _endpoint(world, "https://hooks.example.com/x").endpoint
    before = db_snapshot(*ALL_WEBHOOKS)
    with pytest.raises(PermissionDenied):
        services.webhook_endpoint_create(
            actor=world.hoshi_member, partner=world.hoshi, url="https://a.example.com", event_types=["invoice.issued"]
        )
    with pytest.raises(PermissionDenied):
        services.webhook_endpoint_secret_rotate(actor=world.wayfarer_owner, endpoint=endpoint)
    with pytest.raises(PermissionDenied):
        services.webhook_endpoint_disable(actor=world.hoshi_member, endpoint=endpoint)
    with pytest.raises(InvalidTransition):
        services.webhook_endpoint_enable(actor=world.hoshi_owner, endpoint=endpoint)
    assert db_snapshot(*ALL_WEBHOOKS) == before


# --- emitting --------------------------------------------------------------------------------


def test_emitting_the_same_business_event_twice_makes_one_event(world, receiver):
    # given two endpoints listening and one that is not
    first = _endpoint(world, receiver.url).endpoint
    second = _endpoint(world, receiver.url + "?second").endpoint
    _endpoint(world, receiver.url, types=["invoice.issued"])
    # when the same statement.submitted is emitted twice
    event = _emit(world)
    again = _emit(world)
    # then there is one event, with a public id, and one delivery per listening endpoint
    assert again == event and event.public_id.startswith("evt_") and len(event.public_id) == 28
    assert OutboundEvent.objects.count() == 1
    assert sorted(WebhookDelivery.objects.values_list("endpoint_id", "status", "attempts")) == [
        (first.pk, "pending", 0),
        (second.pk, "pending", 0),
    ]


def test_nothing_is_stored_when_nobody_listens(world, receiver):
    _endpoint(world, receiver.url, types=["invoice.issued"])
    disabled = _endpoint(world, receiver.url).endpoint
    services.webhook_endpoint_disable(actor=world.hoshi_owner, endpoint=disabled)
    before = db_snapshot(OutboundEvent, WebhookDelivery)
    assert _emit(world) is None
    assert _emit(world, partner="wayfarer") is None
    assert db_snapshot(OutboundEvent, WebhookDelivery) == before


# --- delivering ------------------------------------------------------------------------------


def test_a_delivery_reaches_the_receiver_signed(world, receiver):
    issued = _endpoint(world, receiver.url)
    event = _emit(world)
    # when the delivery is attempted
    [outcome] = _attempt_all()
    # then the receiver got one POST with the event, its id and a valid signature
    assert outcome.status == "delivered" and outcome.retry_in is None
    [got] = receiver.events()
    assert got.path == "/haken/events"
    assert got.headers["Haken-Event-Id"] == event.public_id
    assert got.headers["Haken-Event-Type"] == "statement.submitted"
    assert got.headers["Content-Type"] == "application/json; charset=utf-8"
    assert signature_verify(secret=issued.secret, body=got.body, header=got.headers["Haken-Signature"])
    assert got.json == {
        "id": event.public_id,
        "type": "statement.submitted",
        "created": event.created_at.isoformat().replace("+00:00", "Z"),
        "partner": "hoshi-mart",
        "data": {"statement": {"id": 7, "amount": 1200}},
    }
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code, delivery.next_attempt_at) == (
        "delivered",
        1,
        200,
        None,
    )
    # and attempting it again sends nothing more
    assert services.webhook_delivery_attempt(delivery_id=delivery.pk).status == "delivered"
    assert len(receiver.events()) == 1


def test_a_failing_receiver_is_retried_with_backoff_then_the_delivery_fails(world, receiver, settings):
    settings.WEBHOOK_RETRY_SCHEDULE = [60, 300]
    receiver.answer_with(500)
    _endpoint(world, receiver.url)
    _emit(world)
    # when the first attempt gets a 500
    before = timezone.now()
    [outcome] = _attempt_all()
    delivery = WebhookDelivery.objects.get()
    # then it stays pending, due again after the first delay
    assert (outcome.status, outcome.retry_in) == ("pending", 60.0)
    assert (delivery.attempts, delivery.last_status_code, delivery.last_response) == (1, 500, "receiver says no")
    assert timedelta(seconds=60) <= delivery.next_attempt_at - before < timedelta(seconds=62)
    # and is not attempted before then
    assert services.webhook_delivery_attempt(delivery_id=delivery.pk).status == "pending"
    assert len(receiver.events()) == 1
    # when it is due and fails again, the next delay is the second
    _due_now()
    assert _attempt_all()[0].retry_in == 300.0
    # when the last attempt fails too, the delivery has failed and the endpoint counts it
    _due_now()
    assert [o.status for o in _attempt_all()] == ["failed"]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 3, None)
    assert WebhookEndpoint.objects.get().consecutive_failures == 1
    assert len(receiver.events()) == 3


def test_a_500_then_200_is_delivered_on_the_retry_and_resets_the_count(world, receiver):
    receiver.answer_with(500, 200)
    endpoint = _endpoint(world, receiver.url).endpoint
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=2)
    _emit(world)
    assert _attempt_all()[0].status == "pending"
    _due_now()
    assert _attempt_all()[0].status == "delivered"
    ids = {got.headers["Haken-Event-Id"] for got in receiver.events()}
    assert len(receiver.events()) == 2 and len(ids) == 1
    assert WebhookEndpoint.objects.get().consecutive_failures == 0


def test_an_endpoint_failing_repeatedly_is_disabled_and_the_owners_are_told(world, receiver, settings):
    settings.WEBHOOK_RETRY_SCHEDULE = []
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 2
    receiver.answer_with(503)
    endpoint = _endpoint(world, receiver.url).endpoint
    # when one delivery fails for good, the endpoint is still enabled
    _emit(world, key="a")
    assert [o.status for o in _attempt_all()] == ["failed"]
    assert WebhookEndpoint.objects.get().status == "enabled"
    # when a second one fails in a row
    _emit(world, key="b")
    assert [o.status for o in _attempt_all()] == ["failed"]
    # then the endpoint is disabled, audited, and the owner (not the member) has a notice
    endpoint.refresh_from_db()
    assert (endpoint.status, endpoint.consecutive_failures) == ("disabled", 2)
    assert endpoint.disabled_reason == "2 deliveries in a row failed after every retry"
    entry = AuditLog.objects.get(action="webhook_endpoint.disabled")
    assert (entry.actor, entry.actor_label, entry.partner_id) == (None, "system:webhooks", world.hoshi.pk)
    notice = Notification.objects.get()
    assert (notice.recipient, notice.url) == (world.hoshi_owner, "/portal/webhooks/")
    assert notice.message == (
        f"Webhook endpoint {receiver.url} disabled: 2 deliveries in a row failed after every retry"
    )
    # and new events no longer go to it
    assert _emit(world, key="c") is None
    # when the owner enables it, the count starts afresh
    services.webhook_endpoint_enable(actor=world.hoshi_owner, endpoint=endpoint)
    endpoint.refresh_from_db()
    assert (endpoint.status, endpoint.consecutive_failures, endpoint.disabled_reason) == ("enabled", 0, "")


def test_a_pending_delivery_of_a_disabled_endpoint_is_not_sent(world, receiver):
    endpoint = _endpoint(world, receiver.url).endpoint
    _emit(world)
    services.webhook_endpoint_disable(actor=world.hoshi_owner, endpoint=endpoint)
    assert [o.status for o in _attempt_all()] == ["failed"]
    assert receiver.events() == []
    assert WebhookDelivery.objects.get().last_response.startswith("Not sent: the endpoint is disabled")
    # a person disabling it is audited under their name, and nobody is notified
    assert AuditLog.objects.get(action="webhook_endpoint.disabled").actor == world.hoshi_owner
    assert Notification.objects.count() == 0


def test_a_private_address_is_refused_at_delivery_unless_allowed(world, receiver, settings):
    _endpoint(world, receiver.url)
    _emit(world)
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    # when the endpoint's host resolves to a loopback address at delivery time
    [outcome] = _attempt_all()
    # then nothing is sent; the attempt counts as failed with the reason
    assert outcome.status == "pending" and receiver.events() == []
    assert "a private address" in WebhookDelivery.objects.get().last_response
    assert WebhookDelivery.objects.get().last_status_code is None


def test_rotation_signs_with_both_secrets_during_the_grace(world, receiver):
    issued = _endpoint(world, receiver.url)
    rotated = services.webhook_endpoint_secret_rotate(actor=world.hoshi_owner, endpoint=issued.endpoint)
    assert rotated.secret != issued.secret
    _emit(world)
    _attempt_all()
    [got] = receiver.events()
    header = got.headers["Haken-Signature"]
    assert header.count("v1=") == 2
    assert signature_verify(secret=rotated.secret, body=got.body, header=header)
    assert signature_verify(secret=issued.secret, body=got.body, header=header)
    # after the grace, only the new secret signs
    WebhookEndpoint.objects.update(previous_secret_expires_at=timezone.now() - timedelta(seconds=1))
    _emit(world, key="later")
    _attempt_all()
    header = receiver.events()[-1].headers["Haken-Signature"]
    assert header.count("v1=") == 1
    assert not signature_verify(secret=issued.secret, body=receiver.events()[-1].body, header=header)


def test_replay_sends_the_same_event_id_as_a_new_delivery(world, receiver):
    _endpoint(world, receiver.url)
    event = _emit(world)
    _attempt_all()
    delivery = WebhookDelivery.objects.get()
    # when the owner replays it
    replay = services.webhook_delivery_replay(actor=world.hoshi_owner, delivery=delivery)
    assert (replay.replay_of, replay.status, replay.event) == (delivery, "pending", event)
    _attempt_all()
    # then the receiver has the same event id twice, and the log shows both
    assert [got.headers["Haken-Event-Id"] for got in receiver.events()] == [event.public_id, event.public_id]
    assert sorted(WebhookDelivery.objects.values_list("status", flat=True)) == ["delivered", "delivered"]
    assert AuditLog.objects.filter(action="webhook_delivery.replayed").count() == 1


def test_replay_is_refused_to_members_and_while_pending(world, receiver):
    _endpoint(world, receiver.url)
    _emit(world)
    delivery = WebhookDelivery.objects.get()
    before = db_snapshot(*ALL_WEBHOOKS)
    with pytest.raises(InvalidTransition):
        services.webhook_delivery_replay(actor=world.hoshi_owner, delivery=delivery)
    _attempt_all()
    before = db_snapshot(*ALL_WEBHOOKS)
    with pytest.raises(PermissionDenied):
        services.webhook_delivery_replay(actor=world.hoshi_member, delivery=delivery)
    with pytest.raises(PermissionDenied):
        services.webhook_delivery_replay(actor=world.wayfarer_owner, delivery=delivery)
    assert db_snapshot(*ALL_WEBHOOKS) == before


def test_the_stall_finder_lists_deliveries_overdue_that_nobody_attempts(world, receiver, settings):
    settings.STALLED_WORK_AFTER = timedelta(minutes=5)
    _endpoint(world, receiver.url)
    _emit(world, key="fresh")
    _emit(world, key="overdue")
    _emit(world, key="done")
    fresh, overdue, done = WebhookDelivery.objects.order_by("pk")
    WebhookDelivery.objects.filter(pk__in=[overdue.pk, done.pk]).update(
        next_attempt_at=timezone.now() - timedelta(minutes=10)
    )
    services.webhook_delivery_attempt(delivery_id=done.pk)
    # then only the overdue pending one is found
    assert stalled_deliveries() == [overdue.pk]
    # and, asked for everything due by now, the most overdue first
    assert stalled_deliveries(older_than=timedelta(0)) == [overdue.pk, fresh.pk]


def test_a_redirect_is_not_followed_and_counts_as_a_failed_attempt(world, receiver):
    receiver.answer_with(302)
    _endpoint(world, receiver.url)
    _emit(world)
    [outcome] = _attempt_all()
    assert (outcome.status, WebhookDelivery.objects.get().last_status_code) == ("pending", 302)
    assert len(receiver.events()) == 1


def test_a_receiver_that_never_answers_times_out(world, receiver, settings):
    import socket

    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never answers
    try:
        _endpoint(world, f"http://127.0.0.1:{silent.getsockname()[1]}/hook")
        _emit(world)
        [outcome] = _attempt_all()
    finally:
        silent.close()
    delivery = WebhookDelivery.objects.get()
    assert (outcome.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert delivery.last_response == "TimeoutError: timed out"


def test_a_partner_has_at_most_sixteen_enabled_endpoints(world, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    endpoints = [_endpoint(world, f"https://hooks.example.com/{n}").endpoint for n in range(16)]
    before = db_snapshot(*ALL_WEBHOOKS)
    with pytest.raises(InvalidTransition) as refused:
        _endpoint(world, "https://hooks.example.com/17")
    assert refused.value.message == "Hoshi Mart has 16 enabled endpoints already; disable one first."
    assert db_snapshot(*ALL_WEBHOOKS) == before
    # a disabled one makes room, and cannot be enabled again while the others fill it
    services.webhook_endpoint_disable(actor=world.hoshi_owner, endpoint=endpoints[0])
    _endpoint(world, "https://hooks.example.com/17")
    with pytest.raises(InvalidTransition):
        services.webhook_endpoint_enable(actor=world.hoshi_owner, endpoint=endpoints[0])
    assert WebhookEndpoint.objects.filter(status="enabled").count() == 16
