"""Reads of webhooks, scoped like every other read: a partner's people and its API keys see
its own endpoints and deliveries; another partner's are not found (404), never forbidden."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from contracts.selectors import partners_visible
from core.errors import NotFound
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.signing import signature_verify


def endpoint_list(*, viewer: Any) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(partner__in=partners_visible(viewer=viewer)).select_related(
        "partner", "created_by"
    )


def endpoint_get(*, viewer: Any, endpoint_id: int) -> WebhookEndpoint:
    endpoint = endpoint_list(viewer=viewer).filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound(_("No webhook endpoint %(endpoint_id)s.") % {"endpoint_id": endpoint_id})
    return endpoint


def delivery_list(
    *, viewer: Any, status: str | None = None, endpoint_id: int | None = None, event_type: str | None = None
) -> QuerySet[WebhookDelivery]:
    deliveries = (
        WebhookDelivery.objects.filter(endpoint__partner__in=partners_visible(viewer=viewer))
        .select_related("endpoint", "event", "event__partner")
        .order_by("-created_at", "-id")
    )
    if status:
        deliveries = deliveries.filter(status=status)
    if endpoint_id is not None:
        deliveries = deliveries.filter(endpoint_id=endpoint_id)
    if event_type:
        deliveries = deliveries.filter(event__type=event_type)
    return deliveries


def delivery_get(*, viewer: Any, delivery_id: int) -> WebhookDelivery:
    delivery = delivery_list(viewer=viewer).filter(pk=delivery_id).first()
    if delivery is None:
        raise NotFound(_("No webhook delivery %(delivery_id)s.") % {"delivery_id": delivery_id})
    return delivery


def endpoints_listening(*, partner_id: int, event_type: str) -> QuerySet[WebhookEndpoint]:
    """The partner's enabled endpoints subscribed to `event_type`."""
    return WebhookEndpoint.objects.filter(
        partner_id=partner_id, status=WebhookEndpoint.Status.ENABLED, event_types__contains=[event_type]
    ).order_by("pk")


def partners_listening(*, partner_ids: list[int] | None, event_type: str) -> set[int]:
    """Which of these partners (None: any) have an endpoint for `event_type`: emitters skip
    building a payload nobody would receive."""
    endpoints = WebhookEndpoint.objects.filter(
        status=WebhookEndpoint.Status.ENABLED, event_types__contains=[event_type]
    )
    if partner_ids is not None:
        endpoints = endpoints.filter(partner_id__in=partner_ids)
    return set(endpoints.values_list("partner_id", flat=True).distinct())


def stalled_deliveries(*, older_than: timedelta | None = None, limit: int | None = None) -> list[int]:
    """Pending deliveries whose attempt was due before `older_than` ago
    (settings.STALLED_WORK_AFTER) and that no worker is attempting (SKIP LOCKED: an attempt
    holds its row for as long as it talks to the receiver), the most overdue first. Their
    message was lost (the broker was down) or their worker died."""
    cutoff = timezone.now() - (settings.STALLED_WORK_AFTER if older_than is None else older_than)
    limit = settings.STALLED_WORK_BATCH if limit is None else limit
    with transaction.atomic():
        return list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lt=cutoff)
            .order_by("next_attempt_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )


def signature_matches_endpoint(*, url: str, body: bytes, header: str) -> bool:
    """Whether a delivery to `url` is signed by an enabled endpoint registered with that URL
    (the run command's stand-in receiver checks what a partner's own system would)."""
    endpoints = WebhookEndpoint.objects.filter(url=url, status=WebhookEndpoint.Status.ENABLED)
    return any(signature_verify(secret=endpoint.secret, body=body, header=header) for endpoint in endpoints)
