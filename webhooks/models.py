"""Outbound webhooks: what a partner's systems are told, signed, and the log of telling them.

Not to be confused with payments.models.WebhookEvent, the provider's (Stripe's) events we
*receive*. Here the platform is the sender:

- WebhookEndpoint: a URL of a partner's, the event types it wants, and the secret each
  delivery to it is signed with (stored as is: signing needs it; shown once, rotatable);
- OutboundEvent: one business event (a statement submitted, an invoice issued …) with its
  public id `evt_…`, stored once per (partner, type, idempotency key), so emitting the same
  business event twice makes one event;
- WebhookDelivery: one event to one endpoint, its attempts and what the receiver last said.
  A replay is a new delivery of the same event (same `evt_…` id: receivers dedupe on it).
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _


class EventType(models.TextChoices):
    SALE_ATTRIBUTED = "sale.attributed", _("Sales attributed to an employee")
    STATEMENT_SUBMITTED = "statement.submitted", _("Statement sent to review")
    # Emitted by revenue.services.inquiries when finance accepts or rejects an inquiry.
    INQUIRY_RESOLVED = "inquiry.resolved", _("Inquiry on a statement resolved")
    INVOICE_ISSUED = "invoice.issued", _("Invoice issued")
    PAYOUT_PAID = "payout.paid", _("Your statements' shares paid out to payees")
    COUPON_ISSUED = "coupon.issued", _("Coupon issued by an employee")


class WebhookEndpoint(models.Model):
    class Status(models.TextChoices):
        ENABLED = "enabled", _("Enabled")
        DISABLED = "disabled", _("Disabled")

    partner = models.ForeignKey("contracts.Partner", on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True, default="")
    event_types = ArrayField(models.CharField(max_length=40))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ENABLED)
    # The signing secret (whsec_…). Kept readable because every delivery is signed with it;
    # shown to a person only when it is created or rotated.
    secret = models.CharField(max_length=80)
    # After a rotation the old secret signs too (a second v1=) until it expires, so a
    # receiver can switch over without dropping deliveries.
    previous_secret = models.CharField(max_length=80, blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    # Deliveries in a row that ended failed; one delivered resets it.
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True, default="")
    created_by = models.ForeignKey("core.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=["enabled", "disabled"]), name="webhook_endpoint_status"),
            models.CheckConstraint(condition=~Q(event_types=[]), name="webhook_endpoint_has_events"),
        ]

    def __str__(self) -> str:
        return f"{self.url} ({self.status})"

    @property
    def is_enabled(self) -> bool:
        return self.status == self.Status.ENABLED


class OutboundEvent(models.Model):
    public_id = models.CharField(max_length=40, unique=True)
    partner = models.ForeignKey("contracts.Partner", on_delete=models.CASCADE, related_name="outbound_events")
    type = models.CharField(max_length=40, choices=EventType.choices)
    # The business event's own identity ("statement:12:submitted:…"): the same one twice is one event.
    idempotency_key = models.CharField(max_length=200)
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "type", "idempotency_key"], name="outbound_event_once"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.type}"


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(OutboundEvent, on_delete=models.CASCADE, related_name="deliveries")
    # A replay asked for from the portal or the API: the same event again, as a new delivery.
    replay_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replays")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    # The start of the receiver's answer, or why there was none (a timeout, a refused address).
    last_response = models.CharField(max_length=500, blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "delivered", "failed"]), name="webhook_delivery_status"
            ),
            # Emitting makes one delivery per endpoint and event; replays add more.
            models.UniqueConstraint(
                fields=["endpoint", "event"], condition=Q(replay_of__isnull=True), name="webhook_delivery_once"
            ),
            models.CheckConstraint(
                condition=~Q(status="pending") | Q(next_attempt_at__isnull=False), name="webhook_delivery_pending_due"
            ),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="webhook_delivery_due"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} of {self.event_id} to {self.endpoint_id} ({self.status})"
