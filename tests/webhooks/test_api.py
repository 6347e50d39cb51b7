"""The webhooks API and the portal page: owners manage endpoints, secrets are shown once,
the delivery log and replay; partners never see each other's (404); bad input is a 4xx in
the error shape and changes nothing."""

import pytest
from django.urls import reverse

from contracts.models import Notification
from core.models import AuditLog
from tests.support.api import assert_error, bearer
from tests.support.snapshot import db_snapshot
from tests.support.web import browser, text
from tests.support.world import api_as
from webhooks import services
from webhooks.models import OutboundEvent, WebhookDelivery, WebhookEndpoint

TRACKED = (WebhookEndpoint, OutboundEvent, WebhookDelivery, AuditLog, Notification)
URL = "https://hooks.example.com/haken"


@pytest.fixture(autouse=True)
def _public_targets_only(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False


def _delivered(world, partner="hoshi"):
    """An endpoint of `partner` with one delivery that has failed (no receiver needed)."""
    endpoint = services.webhook_endpoint_create(
        actor=getattr(world, f"{partner}_owner"),
        partner=getattr(world, partner),
        url=URL,
        event_types=["invoice.issued"],
    ).endpoint
    services.webhook_event_emit(partner=getattr(world, partner), type="invoice.issued", key="i1", payload={"n": 1})
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed", attempts=7, last_status_code=500)
    return endpoint, WebhookDelivery.objects.get(pk=delivery.pk)


def test_an_owner_registers_an_endpoint_and_sees_the_secret_only_then(world):
    api = api_as(world.hoshi_owner)
    response = api.post(
        "/api/v1/webhook-endpoints",
        {"url": URL, "description": "ERP", "event_types": ["statement.submitted", "sale.attributed"]},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    endpoint = WebhookEndpoint.objects.get()
    assert body["secret"] == endpoint.secret and body["secret"].startswith("whsec_")
    assert body["endpoint"] == {
        "id": endpoint.pk,
        "partner": "hoshi-mart",
        "url": URL,
        "description": "ERP",
        "event_types": ["sale.attributed", "statement.submitted"],
        "status": "enabled",
        "consecutive_failures": 0,
        "disabled_at": None,
        "disabled_reason": "",
        "created_at": body["endpoint"]["created_at"],
        "secret_hint": f"whsec_…{endpoint.secret[-4:]}",
    }
    listed = api.get("/api/v1/webhook-endpoints").json()["results"]
    assert [e["id"] for e in listed] == [endpoint.pk]
    assert endpoint.secret not in api.get("/api/v1/webhook-endpoints").content.decode()
    # rotating gives a new secret, once
    rotated = api.post(f"/api/v1/webhook-endpoints/{endpoint.pk}/rotate-secret", format="json")
    assert rotated.status_code == 200
    endpoint.refresh_from_db()
    assert rotated.json()["secret"] == endpoint.secret != body["secret"]
    assert endpoint.previous_secret == body["secret"]


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"url": URL, "event_types": []}, {"event_types": ["This list may not be empty."]}),
        ({"url": URL, "event_types": ["nope"]}, {"event_types[0]": ['"nope" is not a valid choice.']}),
        ({"event_types": ["invoice.issued"]}, {"url": ["This field is required."]}),
        (
            {"url": "http://127.0.0.1/x", "event_types": ["invoice.issued"]},
            {"url": ["must point at a public address, not a private, loopback or link-local one."]},
        ),
        (
            {"url": "gopher://example.com/x", "event_types": ["invoice.issued"]},
            {"url": ["must be an http:// or https:// URL with a host."]},
        ),
    ],
)
def test_bad_input_is_a_400_and_changes_nothing(world, payload, fields):
    before = db_snapshot(*TRACKED)
    response = api_as(world.hoshi_owner).post("/api/v1/webhook-endpoints", payload, format="json")
    assert_error(response, 400, "invalid", fields)
    assert db_snapshot(*TRACKED) == before


def test_members_and_api_keys_read_but_do_not_manage(world):
    endpoint, delivery = _delivered(world)
    before = db_snapshot(*TRACKED)
    member = api_as(world.hoshi_member)
    assert [e["id"] for e in member.get("/api/v1/webhook-endpoints").json()["results"]] == [endpoint.pk]
    assert_error(
        member.post("/api/v1/webhook-endpoints", {"url": URL, "event_types": ["invoice.issued"]}, format="json"),
        403,
        "permission_denied",
    )
    assert_error(member.post(f"/api/v1/webhook-deliveries/{delivery.pk}/replay"), 403, "permission_denied")
    key = bearer(world)
    before = db_snapshot(*TRACKED)
    assert [d["id"] for d in key.get("/api/v1/webhook-deliveries").json()["results"]] == [delivery.pk]
    assert_error(key.post(f"/api/v1/webhook-endpoints/{endpoint.pk}/rotate-secret"), 403, "permission_denied")
    assert db_snapshot(*TRACKED) == before


def test_partners_never_see_each_others_endpoints_or_deliveries(world):
    endpoint, delivery = _delivered(world, "hoshi")
    theirs, their_delivery = _delivered(world, "wayfarer")
    api = api_as(world.wayfarer_owner)
    assert [e["id"] for e in api.get("/api/v1/webhook-endpoints").json()["results"]] == [theirs.pk]
    assert [d["id"] for d in api.get("/api/v1/webhook-deliveries").json()["results"]] == [their_delivery.pk]
    assert api.get(f"/api/v1/webhook-deliveries?endpoint={endpoint.pk}").json()["results"] == []
    before = db_snapshot(*TRACKED)
    assert_error(api.post(f"/api/v1/webhook-endpoints/{endpoint.pk}/rotate-secret"), 404, "not_found")
    assert_error(api.post(f"/api/v1/webhook-deliveries/{delivery.pk}/replay"), 404, "not_found")
    page = browser(world.wayfarer_owner)
    assert page.post(reverse("portal-webhook-endpoint-action", args=[endpoint.pk, "disable"])).status_code == 404
    assert page.post(reverse("portal-webhook-delivery-replay", args=[delivery.pk])).status_code == 404
    assert "hooks.example.com" in text(page.get(reverse("portal-webhooks")))  # its own, same URL
    assert db_snapshot(*TRACKED) == before


def test_the_delivery_log_filters_and_replays(world):
    endpoint, delivery = _delivered(world)
    api = api_as(world.hoshi_owner)
    log = api.get("/api/v1/webhook-deliveries?status=failed").json()
    assert log["count"] == 1
    row = log["results"][0]
    assert (row["id"], row["endpoint"], row["event_type"], row["status"], row["attempts"], row["last_status_code"]) == (
        delivery.pk,
        endpoint.pk,
        "invoice.issued",
        "failed",
        7,
        500,
    )
    assert row["event"] == delivery.event.public_id
    assert api.get("/api/v1/webhook-deliveries?status=delivered").json()["count"] == 0
    assert_error(
        api.get("/api/v1/webhook-deliveries?status=lost"),
        400,
        "invalid",
        {"status": ["must be one of pending, delivered, failed; got 'lost'."]},
    )
    assert_error(
        api.get("/api/v1/webhook-deliveries?type=sale.created"),
        400,
        "invalid",
        {
            "type": [
                "must be one of sale.attributed, statement.submitted, inquiry.resolved, invoice.issued, "
                "payout.paid, coupon.issued."
            ]
        },
    )
    replayed = api.post(f"/api/v1/webhook-deliveries/{delivery.pk}/replay")
    assert replayed.status_code == 201
    assert (replayed.json()["replay_of"], replayed.json()["event"], replayed.json()["status"]) == (
        delivery.pk,
        delivery.event.public_id,
        "pending",
    )
    # a pending delivery cannot be replayed yet: 409, nothing changed
    before = db_snapshot(*TRACKED)
    assert_error(api.post(f"/api/v1/webhook-deliveries/{replayed.json()['id']}/replay"), 409, "invalid_transition")
    assert db_snapshot(*TRACKED) == before


def test_the_portal_page_adds_rotates_disables_and_replays(world):
    page = browser(world.hoshi_owner)
    # the page, empty
    response = page.get(reverse("portal-webhooks"))
    assert response.status_code == 200
    assert "No endpoints yet." in text(response)
    # adding shows the secret once, never cached
    added = page.post(reverse("portal-webhooks"), {"url": URL, "event_types": ["invoice.issued", "payout.paid"]})
    assert added.status_code == 201
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret in text(added) and "no-store" in added["Cache-Control"]
    assert endpoint.secret not in text(page.get(reverse("portal-webhooks")))
    # a bad URL is refused with the page and its message; nothing stored
    before = db_snapshot(*TRACKED)
    refused = page.post(reverse("portal-webhooks"), {"url": "http://10.0.0.1/", "event_types": ["invoice.issued"]})
    assert refused.status_code == 400
    assert "must point at a public address" in text(refused)
    assert db_snapshot(*TRACKED) == before
    # rotate shows the new secret
    rotated = page.post(reverse("portal-webhook-endpoint-action", args=[endpoint.pk, "rotate"]))
    endpoint.refresh_from_db()
    assert rotated.status_code == 200 and endpoint.secret in text(rotated)
    # disable, then enable
    assert page.post(reverse("portal-webhook-endpoint-action", args=[endpoint.pk, "disable"])).status_code == 302
    assert WebhookEndpoint.objects.get().status == "disabled"
    assert page.post(reverse("portal-webhook-endpoint-action", args=[endpoint.pk, "enable"])).status_code == 302
    assert WebhookEndpoint.objects.get().status == "enabled"
    # the log shows a delivery with its replay button; replay queues it again
    services.webhook_event_emit(partner=world.hoshi, type="invoice.issued", key="i9", payload={})
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed", attempts=7, last_status_code=502)
    shown = text(page.get(reverse("portal-webhooks")))
    assert delivery.event.public_id in shown and "502" in shown and "Replay" in shown
    assert page.post(reverse("portal-webhook-delivery-replay", args=[delivery.pk])).status_code == 302
    assert WebhookDelivery.objects.filter(replay_of=delivery).count() == 1


def test_a_member_sees_the_page_without_the_owners_buttons(world):
    _delivered(world)
    shown = text(browser(world.hoshi_member).get(reverse("portal-webhooks")))
    assert URL in shown and "Replay" not in shown and "Rotate secret" not in shown
    assert "Only an owner of Hoshi Mart can add endpoints" in shown


def test_an_owner_disables_and_enables_an_endpoint_through_the_api(world):
    endpoint, _ = _delivered(world)
    api = api_as(world.hoshi_owner)
    disabled = api.post(f"/api/v1/webhook-endpoints/{endpoint.pk}/disable")
    assert disabled.status_code == 200
    assert (disabled.json()["status"], disabled.json()["disabled_reason"]) == ("disabled", "Disabled by hoshi-owner")
    before = db_snapshot(*TRACKED)
    assert_error(api.post(f"/api/v1/webhook-endpoints/{endpoint.pk}/disable"), 409, "invalid_transition")
    assert_error(
        api_as(world.hoshi_member).post(f"/api/v1/webhook-endpoints/{endpoint.pk}/enable"), 403, "permission_denied"
    )
    assert_error(api_as(world.wayfarer_owner).post(f"/api/v1/webhook-endpoints/{endpoint.pk}/enable"), 404, "not_found")
    assert db_snapshot(*TRACKED) == before
    enabled = api.post(f"/api/v1/webhook-endpoints/{endpoint.pk}/enable")
    assert (enabled.status_code, enabled.json()["status"]) == (200, "enabled")
