"""Payments over HTTP: the Stripe webhook endpoint.

`POST /webhooks/stripe/` — no session, no CSRF (Stripe cannot have either): the
signature is the authentication. 400 with the usual error body on a bad signature, and
nothing is written; 200 for every verified event, including replays and events we ignore.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from revenue.services.webhooks import BadSignature, webhook_event_process, webhook_signature_verify

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    try:
        event = webhook_signature_verify(payload=request.body, signature=request.headers.get("Stripe-Signature"))
    except BadSignature as error:
        logger.warning("stripe webhook refused: %s", error.message)
        return JsonResponse(error.as_dict(), status=400)
    record = webhook_event_process(event=event)
    return JsonResponse({"received": True, "event": record.event_id, "outcome": record.outcome})
