"""Payments over HTTP: the Stripe webhook endpoint, and invoices for partners and finance
(`GET /api/v1/invoices`, `GET /api/v1/invoices/<id>`; a partner sees only its own).

`POST /webhooks/stripe/` — no session, no CSRF (Stripe cannot have either): the
signature is the authentication. 400 with the usual error body on a bad signature, and
nothing is written; 200 for every verified event, including replays and events we ignore.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from revenue.models import Invoice
from revenue.selectors.payments import invoice_get, invoices_for
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


class InvoiceSerializer(serializers.ModelSerializer):
    partner = serializers.CharField(source="partner.slug")
    statement = serializers.IntegerField(source="statement_id")
    period = serializers.SerializerMethodField()

    class Meta:
        model = Invoice
        fields = ["id", "number", "partner", "statement", "period", "provider", "currency", "amount", "status",
                  "hosted_url", "failure_message", "issued_at", "paid_at", "failed_at"]

    def get_period(self, invoice: Invoice) -> str:
        return f"{invoice.statement.period:%Y-%m}"


class InvoiceListApi(APIView):
    @extend_schema(summary="Invoices (a partner sees its own) and their status",
                   parameters=[OpenApiParameter("status", str, enum=Invoice.Status.values)],
                   responses=InvoiceSerializer(many=True))
    def get(self, request: Request) -> Response:
        invoices = invoices_for(viewer=request.user, status=request.query_params.get("status") or None)
        return Response({"results": InvoiceSerializer(invoices[:500], many=True).data})


class InvoiceDetailApi(APIView):
    @extend_schema(summary="One invoice", responses=InvoiceSerializer)
    def get(self, request: Request, invoice_id: int) -> Response:
        return Response(InvoiceSerializer(invoice_get(viewer=request.user, invoice_id=invoice_id)).data)
