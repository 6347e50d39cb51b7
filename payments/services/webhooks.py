"""Stripe webhooks: verified, stored once, applied in any order.

- The signature is checked by the official library (`stripe.Webhook.construct_event`,
  header `Stripe-Signature: t=…,v1=HMAC-SHA256(secret, "t.payload")`, five-minute
  tolerance). A bad or missing signature raises before anything is written.
- Each event id is stored once (unique): a replay finds it and changes nothing.
- Events are applied as facts about the invoice, never as steps: the invoice's own
  status only moves forward (draft → open → payment_failed → paid), so `invoice.paid`
  before `invoice.finalized`, or a `payment_failed` arriving after `paid`, end the same.
- Unknown event types, and invoices that are not ours, are stored as ignored (200), so
  Stripe stops resending them.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from core.errors import ApplicationError, ValidationFailed
from core.locks import Lock, lock_transaction_acquire_text
from payments.models import Invoice, WebhookEvent
from payments.services.invoicing import (
    invoice_opened_record,
    invoice_payment_failed_record,
    invoice_payment_record,
)

logger = logging.getLogger(__name__)

PAID_EVENTS = ("invoice.paid", "invoice.payment_succeeded")
OPEN_EVENTS = ("invoice.finalized", "invoice.sent")
FAILED_EVENTS = ("invoice.payment_failed",)
VOID_EVENTS = ("invoice.voided",)
HANDLED = PAID_EVENTS + OPEN_EVENTS + FAILED_EVENTS + VOID_EVENTS


class BadSignature(ValidationFailed):
    pass


def webhook_signature_verify(*, payload: bytes, signature: str | None) -> dict[str, Any]:
    """Return the event, or raise BadSignature. Writes nothing."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise BadSignature(_("Webhooks are not configured (STRIPE_WEBHOOK_SECRET is not set)."))
    try:
        stripe.Webhook.construct_event(payload, signature, secret)
        event = json.loads(payload)
    except stripe.SignatureVerificationError as error:
        raise BadSignature(
            _("The Stripe-Signature header does not verify: %(user_message_or_error)s")
            % {"user_message_or_error": error.user_message or error}
        ) from error
    except ValueError as error:
        raise BadSignature(_("The payload is not a JSON event.")) from error
    if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
        raise BadSignature(_("The payload is not a Stripe event."))
    return event


def _invoice_for(obj: dict[str, Any]) -> Invoice | None:
    if obj.get("object") != "invoice":
        return None
    query = Invoice.objects.select_for_update(of=("self",)).select_related("partner", "statement__contract__placement")
    found = query.filter(provider="stripe", provider_invoice_id=obj.get("id") or "-").first()
    if found is None:
        # Issued, but our record of it not yet committed: the metadata names our row.
        ours = (obj.get("metadata") or {}).get("haken_invoice")
        if ours and str(ours).isdigit():
            found = query.filter(provider="stripe", pk=int(ours), provider_invoice_id="").first()
    return found


def _moment(value: Any, fallback: int) -> datetime:
    seconds = value if isinstance(value, int) and value > 0 else fallback
    return datetime.fromtimestamp(seconds, tz=UTC)


def _apply(event: dict[str, Any], invoice: Invoice) -> tuple[str, str]:
    kind, obj = event["type"], event["data"]["object"]
    created = int(event.get("created") or 0)
    transitions = obj.get("status_transitions") or {}
    if invoice.status == Invoice.Status.DRAFT and obj.get("id"):
        invoice = invoice_opened_record(
            invoice=invoice,
            provider_invoice_id=obj["id"],
            number=obj.get("number") or "",
            hosted_url=obj.get("hosted_invoice_url") or "",
        )
    if kind in PAID_EVENTS:
        if obj.get("status") != "paid":
            return WebhookEvent.Outcome.IGNORED, f"the invoice in the event is {obj.get('status')}, not paid"
        if invoice.status == Invoice.Status.PAID:
            return WebhookEvent.Outcome.IGNORED, "already paid"
        invoice_payment_record(
            invoice=invoice,
            amount=int(obj.get("amount_paid") or 0),
            currency=str(obj.get("currency") or ""),
            paid_at=_moment(transitions.get("paid_at"), created),
            via="stripe",
        )
        return WebhookEvent.Outcome.PROCESSED, "paid"
    if kind in FAILED_EVENTS:
        if invoice.status == Invoice.Status.PAID:
            return WebhookEvent.Outcome.IGNORED, "already paid"
        attempts = obj.get("attempt_count")
        invoice_payment_failed_record(
            invoice=invoice,
            failed_at=_moment(None, created),
            message=f"The payment was declined{f' (attempt {attempts})' if attempts else ''}.",
        )
        return WebhookEvent.Outcome.PROCESSED, "payment failed"
    if kind in VOID_EVENTS:
        if invoice.status == Invoice.Status.PAID:
            return WebhookEvent.Outcome.IGNORED, "already paid"
        Invoice.objects.filter(pk=invoice.pk).update(status=Invoice.Status.VOID)
        return WebhookEvent.Outcome.PROCESSED, "void"
    return WebhookEvent.Outcome.PROCESSED, "open"


@transaction.atomic
def webhook_event_process(*, event: dict[str, Any], provider: str = "stripe") -> WebhookEvent:
    """Apply a verified event once. The same event id again returns the stored one."""
    lock_transaction_acquire_text(Lock.WEBHOOK_EVENT, str(event["id"]))  # two deliveries at once: one waits
    existing = WebhookEvent.objects.filter(provider=provider, event_id=event["id"]).first()
    if existing is not None:
        return existing
    obj = (event.get("data") or {}).get("object") or {}
    record = WebhookEvent(
        provider=provider,
        event_id=str(event["id"])[:100],
        type=str(event["type"])[:100],
        created=int(event.get("created") or 0),
        payload=event,
        outcome=WebhookEvent.Outcome.IGNORED,
    )
    if event["type"] not in HANDLED:
        record.message = "not an event this platform acts on"
    else:
        invoice = _invoice_for(obj)
        if invoice is None:
            record.message = "not one of this platform's invoices"
        else:
            record.invoice = invoice
            try:
                with transaction.atomic():
                    record.outcome, record.message = _apply(event, invoice)
            except ApplicationError as error:
                # Stored, answered 200 (Stripe would resend forever), and shown on the
                # reconciliation report: the event disagrees with the invoice.
                record.outcome, record.message = WebhookEvent.Outcome.REJECTED, error.message[:300]
    try:
        with transaction.atomic():
            record.save()
    except IntegrityError:
        # Stored meanwhile by another delivery (the lock makes this all but impossible).
        return WebhookEvent.objects.get(provider=provider, event_id=event["id"])
    return record
