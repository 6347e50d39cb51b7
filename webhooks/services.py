"""Every write about outbound webhooks: endpoints (owners manage them), emitting events
(the apps where the business event happens call webhook_event_emit in their own
transaction), attempting a delivery (a worker), replaying one (owners).

Retries: an attempt that gets no 2xx answer is tried again after
settings.WEBHOOK_RETRY_SCHEDULE[n] seconds (1 min, 5 min, 30 min, 2 h, 6 h, 12 h by
default); after the last one the delivery is failed. An endpoint whose deliveries fail
settings.WEBHOOK_DISABLE_AFTER_FAILURES times in a row is disabled, audited, and its
partner's owners get a notice. A delivered one resets the count.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from contracts.models import Partner
from contracts.services import partner_member_require, partner_owners_notify
from core.errors import InvalidTransition, ValidationFailed
from core.models import User
from core.queue import enqueue_on_commit
from core.services import audit_record
from webhooks import signing, transport
from webhooks.models import EventType, OutboundEvent, WebhookDelivery, WebhookEndpoint
from webhooks.selectors import endpoints_listening

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
EVENT_ID_PREFIX = "evt_"
MAX_ENDPOINTS_PER_PARTNER = 16
URL_MAX_LENGTH = 500
USER_AGENT = "Haken-Webhooks/1.0"
DELIVERY_TASK = "webhooks.tasks.webhook_delivery_task"
SYSTEM = "system:webhooks"


@dataclass(frozen=True)
class IssuedEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # shown to the person once: in this answer only


def _new_secret() -> str:
    return f"{SECRET_PREFIX}{secrets.token_urlsafe(32)}"


def _audit(actor: User | None, action: str, endpoint: WebhookEndpoint, summary: str, changes: dict[str, Any]) -> None:
    audit_record(
        actor=actor,
        via=None if actor else SYSTEM,
        action=action,
        target=endpoint,
        partner_id=endpoint.partner_id,
        summary=summary,
        changes=changes,
    )


def webhook_url_check(url: str) -> str:
    """The URL as stored, or ValidationFailed: http(s), a host, no credentials in it, and —
    unless settings.WEBHOOK_ALLOW_PRIVATE_TARGETS — not a private or loopback address
    (names are checked again on every delivery, on the address actually connected)."""
    url = (url or "").strip()
    problem = None
    parts = urlsplit(url)
    if not url or len(url) > URL_MAX_LENGTH:
        problem = f"is required, up to {URL_MAX_LENGTH} characters."
    elif parts.scheme not in ("http", "https") or not parts.hostname:
        problem = "must be an http:// or https:// URL with a host."
    elif parts.username or parts.password:
        problem = "must not carry a user name or password."
    elif not settings.WEBHOOK_ALLOW_PRIVATE_TARGETS and transport.host_is_literal_private(parts.hostname):
        problem = "must point at a public address, not a private, loopback or link-local one."
    else:
        try:
            parts.port  # noqa: B018 - raises on a port out of range
        except ValueError:
            problem = "has an invalid port."
    if problem:
        raise ValidationFailed(_("The URL %(problem)s") % {"problem": problem}, fields={"url": [problem]})
    return url


def _event_types_check(event_types: Any) -> list[str]:
    known = EventType.values
    if not isinstance(event_types, list | tuple) or not event_types:
        raise ValidationFailed(
            _("Choose at least one event."), fields={"event_types": [f"choose one or more of {', '.join(known)}."]}
        )
    unknown = [str(t) for t in event_types if t not in known]
    if unknown:
        raise ValidationFailed(
            _("Unknown event type %(unknown)r.") % {"unknown": unknown[0]},
            fields={"event_types": [f"unknown: {', '.join(unknown)}; choose from {', '.join(known)}."]},
        )
    return [t for t in known if t in event_types]  # the catalogue's order, no repeats


@transaction.atomic
def webhook_endpoint_create(
    *, actor: User, partner: Partner, url: str, event_types: list[str], description: str = ""
) -> IssuedEndpoint:
    partner_member_require(actor, partner, doing="add webhook endpoints", owner=True)
    url = webhook_url_check(url)
    types = _event_types_check(event_types)
    description = (description or "").strip()
    if len(description) > 200:
        raise ValidationFailed(_("The description is too long."), fields={"description": ["up to 200 characters."]})
    _room_check(partner)
    secret = _new_secret()
    endpoint = WebhookEndpoint.objects.create(
        partner=partner, url=url, description=description, event_types=types, secret=secret, created_by=actor
    )
    _audit(
        actor,
        "webhook_endpoint.created",
        endpoint,
        f"Added webhook endpoint {url} for {', '.join(types)}",
        {"url": url, "event_types": types},
    )
    return IssuedEndpoint(endpoint=endpoint, secret=secret)


def _room_check(partner: Partner) -> None:
    """At most MAX_ENDPOINTS_PER_PARTNER enabled endpoints (disabled ones do not count)."""
    Partner.objects.select_for_update().get(pk=partner.pk)  # count and write as one
    enabled = WebhookEndpoint.objects.filter(partner=partner, status=WebhookEndpoint.Status.ENABLED)
    if enabled.count() >= MAX_ENDPOINTS_PER_PARTNER:
        raise InvalidTransition(
            _("%(name)s has %(max_endpoints_per_partner)s enabled endpoints already; disable one first.")
            % {"name": partner.name, "max_endpoints_per_partner": MAX_ENDPOINTS_PER_PARTNER}
        )


def _lock_endpoint(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    return WebhookEndpoint.objects.select_for_update(of=("self",)).select_related("partner").get(pk=endpoint.pk)


@transaction.atomic
def webhook_endpoint_secret_rotate(*, actor: User, endpoint: WebhookEndpoint) -> IssuedEndpoint:
    """A new secret at once; the old one also signs (a second v1=) for
    settings.WEBHOOK_SECRET_ROTATION_GRACE, so receivers can switch without a gap."""
    endpoint = _lock_endpoint(endpoint)
    partner_member_require(actor, endpoint.partner, doing="rotate webhook secrets", owner=True)
    secret = _new_secret()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = timezone.now() + settings.WEBHOOK_SECRET_ROTATION_GRACE
    endpoint.secret = secret
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    _audit(
        actor,
        "webhook_endpoint.secret_rotated",
        endpoint,
        f"Rotated the signing secret of webhook endpoint {endpoint.url}",
        {"previous_valid_until": endpoint.previous_secret_expires_at.isoformat()},
    )
    return IssuedEndpoint(endpoint=endpoint, secret=secret)


@transaction.atomic
def webhook_endpoint_disable(*, actor: User, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    endpoint = _lock_endpoint(endpoint)
    partner_member_require(actor, endpoint.partner, doing="disable webhook endpoints", owner=True)
    if not endpoint.is_enabled:
        raise InvalidTransition(_("The endpoint is already disabled."))
    _disable(endpoint, actor=actor, reason=f"Disabled by {actor.username}")
    return endpoint


@transaction.atomic
def webhook_endpoint_enable(*, actor: User, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Enabled again, with its failure count reset. Deliveries that failed meanwhile are not
    re-sent by themselves: replay the ones the receiver needs."""
    endpoint = _lock_endpoint(endpoint)
    partner_member_require(actor, endpoint.partner, doing="enable webhook endpoints", owner=True)
    if endpoint.is_enabled:
        raise InvalidTransition(_("The endpoint is already enabled."))
    _room_check(endpoint.partner)
    endpoint.status, endpoint.disabled_at, endpoint.disabled_reason = WebhookEndpoint.Status.ENABLED, None, ""
    endpoint.consecutive_failures = 0
    endpoint.save(update_fields=["status", "disabled_at", "disabled_reason", "consecutive_failures"])
    _audit(
        actor,
        "webhook_endpoint.enabled",
        endpoint,
        f"Enabled webhook endpoint {endpoint.url}",
        {"status": ["disabled", "enabled"]},
    )
    return endpoint


def _disable(endpoint: WebhookEndpoint, *, actor: User | None, reason: str) -> None:
    endpoint.status, endpoint.disabled_at = WebhookEndpoint.Status.DISABLED, timezone.now()
    endpoint.disabled_reason = reason[:300]
    endpoint.save(update_fields=["status", "disabled_at", "disabled_reason"])
    summary = f"Webhook endpoint {endpoint.url} disabled: {reason}"
    entry = audit_record(
        actor=actor,
        via=None if actor else SYSTEM,
        action="webhook_endpoint.disabled",
        target=endpoint,
        partner_id=endpoint.partner_id,
        summary=summary,
        changes={"status": ["enabled", "disabled"], "reason": reason},
    )
    if actor is None:
        # Nobody at the partner chose this: its owners are told.
        partner_owners_notify(entry=entry, partner=endpoint.partner, url=reverse("portal-webhooks"))


# --- emitting ---------------------------------------------------------------------------


def _new_event_id() -> str:
    return f"{EVENT_ID_PREFIX}{secrets.token_hex(12)}"


@transaction.atomic
def webhook_event_emit(*, partner: Partner, type: str, key: str, payload: dict[str, Any]) -> OutboundEvent | None:
    """Record a business event for `partner`'s systems and queue its deliveries after
    commit, in the caller's transaction (an event of work rolled back is never sent).

    One event per (partner, type, key): emitting the same business event again returns the
    first and delivers nothing more. With no enabled endpoint subscribed to `type` nothing
    is stored (None): events are made to be delivered, and an endpoint added later hears of
    what happens from then on, as with Stripe."""
    if type not in EventType.values:
        raise ValueError(f"Unknown webhook event type {type!r}.")
    endpoints = list(endpoints_listening(partner_id=partner.pk, event_type=type))
    if not endpoints:
        return None
    # Through the encoder the model uses, so what is stored is what is sent.
    payload = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
    event, created = OutboundEvent.objects.get_or_create(
        partner=partner,
        type=type,
        idempotency_key=key[:200],
        defaults={"public_id": _new_event_id(), "payload": payload},
    )
    if not created:
        return event
    now = timezone.now()
    deliveries = WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(endpoint=endpoint, event=event, next_attempt_at=now) for endpoint in endpoints]
    )
    for delivery in deliveries:
        enqueue_on_commit(DELIVERY_TASK, delivery.pk)
    return event


# --- delivering -------------------------------------------------------------------------


def event_body(event: OutboundEvent) -> bytes:
    """What a receiver gets: the envelope around the event's data, as compact JSON."""
    envelope = {
        "id": event.public_id,
        "type": event.type,
        "created": event.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "partner": event.partner.slug,
        "data": event.payload,
    }
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


def _signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    found = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > now:
        found.append(endpoint.previous_secret)
    return found


def retry_schedule() -> list[int]:
    return [int(seconds) for seconds in settings.WEBHOOK_RETRY_SCHEDULE]


@dataclass(frozen=True)
class AttemptOutcome:
    delivery_id: int
    status: str  # the delivery's status after this call; "busy" when another worker holds it
    retry_in: float | None = None  # seconds until its next attempt, while pending


@transaction.atomic
def webhook_delivery_attempt(*, delivery_id: int) -> AttemptOutcome:
    """Attempt one delivery if it is due. Safe to run twice and at once: the row is locked
    for the attempt (a second worker passes over it), a delivery not yet due or no longer
    pending is left alone. A worker that dies mid-attempt rolls the attempt back; the stall
    sweep queues it again and the receiver may see the event id twice (it dedupes on it)."""
    delivery = (
        WebhookDelivery.objects.select_for_update(of=("self",), skip_locked=True)
        .select_related("endpoint", "event__partner")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None:
        return AttemptOutcome(delivery_id, "busy")
    now = timezone.now()
    if delivery.status != WebhookDelivery.Status.PENDING:
        return AttemptOutcome(delivery_id, delivery.status)
    assert delivery.next_attempt_at is not None  # a database check: pending has a due time
    if delivery.next_attempt_at > now:
        return AttemptOutcome(delivery_id, delivery.status, (delivery.next_attempt_at - now).total_seconds())
    endpoint = delivery.endpoint
    if not endpoint.is_enabled:
        delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.FAILED, None
        delivery.last_response = "Not sent: the endpoint is disabled. Replay it once the endpoint is enabled."
        delivery.save(update_fields=["status", "next_attempt_at", "last_response"])
        return AttemptOutcome(delivery_id, delivery.status)
    body = event_body(delivery.event)
    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        signing.EVENT_ID_HEADER: delivery.event.public_id,
        "Haken-Event-Type": delivery.event.type,
        "Haken-Delivery-Id": str(delivery.pk),
        signing.SIGNATURE_HEADER: signing.signature_header(
            secrets=_signing_secrets(endpoint, now), body=body, timestamp=timestamp
        ),
    }
    answer = transport.post(
        url=endpoint.url,
        body=body,
        headers=headers,
        timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
        allow_private=settings.WEBHOOK_ALLOW_PRIVATE_TARGETS,
    )
    delivery.attempts += 1
    delivery.last_attempt_at, delivery.last_status_code = timezone.now(), answer.status
    delivery.last_response = answer.excerpt
    retry_in: float | None = None
    schedule = retry_schedule()
    if answer.ok:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = (
            WebhookDelivery.Status.DELIVERED,
            delivery.last_attempt_at,
            None,
        )
        WebhookEndpoint.objects.filter(pk=endpoint.pk, consecutive_failures__gt=0).update(consecutive_failures=0)
    elif delivery.attempts <= len(schedule):
        retry_in = float(schedule[delivery.attempts - 1])
        delivery.next_attempt_at = delivery.last_attempt_at + timedelta(seconds=retry_in)
    else:
        delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.FAILED, None
        _failure_count(endpoint)
    delivery.save(
        update_fields=[
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "last_status_code",
            "last_response",
            "delivered_at",
        ]
    )
    return AttemptOutcome(delivery_id, delivery.status, retry_in)


def _failure_count(endpoint: WebhookEndpoint) -> None:
    """One more delivery failed for good: disable the endpoint at the limit."""
    endpoint = _lock_endpoint(endpoint)
    endpoint.consecutive_failures += 1
    endpoint.save(update_fields=["consecutive_failures"])
    limit = int(settings.WEBHOOK_DISABLE_AFTER_FAILURES)
    if endpoint.is_enabled and endpoint.consecutive_failures >= limit:
        _disable(
            endpoint,
            actor=None,
            reason=f"{endpoint.consecutive_failures} deliveries in a row failed after every retry",
        )


@transaction.atomic
def webhook_delivery_replay(*, actor: User, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send the same event (same evt_ id) to the same endpoint again, as a new delivery."""
    delivery = WebhookDelivery.objects.select_related("endpoint__partner", "event").get(pk=delivery.pk)
    endpoint = _lock_endpoint(delivery.endpoint)
    partner_member_require(actor, endpoint.partner, doing="replay webhook deliveries", owner=True)
    if not endpoint.is_enabled:
        raise InvalidTransition(_("The endpoint is disabled; enable it before replaying deliveries to it."))
    if delivery.status == WebhookDelivery.Status.PENDING:
        raise InvalidTransition(_("This delivery is still being attempted; replay it once it has succeeded or failed."))
    replay = WebhookDelivery.objects.create(
        endpoint=endpoint, event=delivery.event, replay_of=delivery, next_attempt_at=timezone.now()
    )
    _audit(
        actor,
        "webhook_delivery.replayed",
        endpoint,
        f"Replayed {delivery.event.type} {delivery.event.public_id} to {endpoint.url}",
        {"event": delivery.event.public_id, "delivery": delivery.pk, "replay": replay.pk},
    )
    enqueue_on_commit(DELIVERY_TASK, replay.pk)
    return replay
