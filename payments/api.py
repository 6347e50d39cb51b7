"""Payments over HTTP: the Stripe webhook endpoint; invoices (`GET /api/v1/invoices`,
`GET /api/v1/invoices/<id>` — a partner sees only its own; finance `POST /api/v1/invoices`
`{"statement": id}` to invoice an approved statement) and payout runs (finance:
`POST /api/v1/payout-runs`, `GET /api/v1/payout-runs/<id>`).

`POST /webhooks/stripe/` — no session, no CSRF (Stripe cannot have either): the
signature is the authentication. 400 with the usual error body on a bad signature, and
nothing is written; 200 for every verified event, including replays and events we ignore.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import parse_status
from core.errors import NotFound
from core.permissions import FINANCE_ROLES, IsFinance, api_person, has_role
from payments.models import CreditNote, Invoice, PayoutRun
from payments.selectors.billing import invoice_get, invoices_for
from payments.services import credit_notes, invoicing, payouts
from payments.services.webhooks import BadSignature, webhook_event_process, webhook_signature_verify
from revenue.selectors.statements import statement_get

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


class TaxLineSerializer(serializers.Serializer):
    jurisdiction = serializers.CharField()
    category = serializers.CharField()
    rate = serializers.CharField(help_text='A decimal fraction: "0.1000" is 10%.')
    taxable = serializers.IntegerField(help_text="Minor units.")
    tax = serializers.IntegerField(help_text="Minor units, rounded down once per rate.")


class CreditNoteSerializer(serializers.ModelSerializer):
    invoice = serializers.IntegerField(source="invoice_id")
    tax_lines = TaxLineSerializer(source="tax_breakdown", many=True)

    class Meta:
        model = CreditNote
        fields = [
            "id",
            "number",
            "invoice",
            "currency",
            "subtotal",
            "tax_amount",
            "amount",
            "tax_lines",
            "reason",
            "source",
            "kind",
            "status",
            "issued_at",
        ]


class InvoiceSerializer(serializers.ModelSerializer):
    partner = serializers.CharField(source="partner.slug")
    statement = serializers.IntegerField(source="statement_id")
    period = serializers.SerializerMethodField()
    amount = serializers.IntegerField(help_text="subtotal + tax_amount, minor units.")
    subtotal = serializers.IntegerField(help_text="Before tax: the statement's payable + clawback_credited.")
    clawback_credited = serializers.IntegerField(
        help_text="The statement's clawback given back by credit notes on the earlier invoices, so billed here."
    )
    amount_due = serializers.IntegerField(help_text="amount less credit notes issued before payment.")
    tax_lines = TaxLineSerializer(source="tax_breakdown", many=True)
    credit_notes = CreditNoteSerializer(many=True)

    class Meta:
        model = Invoice
        fields = [
            "id",
            "number",
            "partner",
            "statement",
            "period",
            "provider",
            "currency",
            "subtotal",
            "clawback_credited",
            "tax_amount",
            "amount",
            "amount_due",
            "tax_treatment",
            "tax_point",
            "tax_lines",
            "tax_note",
            "seller_registration_number",
            "buyer_registration_number",
            "credit_notes",
            "status",
            "hosted_url",
            "failure_message",
            "issued_at",
            "paid_at",
            "failed_at",
        ]

    def get_period(self, invoice: Invoice) -> str:
        return f"{invoice.statement.period:%Y-%m}"


class InvoiceInput(serializers.Serializer):
    statement = serializers.IntegerField(help_text="An approved statement with something payable.")


class InvoiceListApi(APIView):
    @extend_schema(
        summary="Invoices (a partner sees its own) and their status",
        parameters=[OpenApiParameter("status", str, enum=Invoice.Status.values)],
        responses=InvoiceSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        invoices = invoices_for(
            viewer=request.user, status=parse_status(request.query_params.get("status"), Invoice.Status.values)
        )
        return Response({"results": InvoiceSerializer(invoices[:500], many=True).data})

    @extend_schema(
        summary="Finance: invoice an approved statement (issued on a worker; asking twice returns the first invoice)",
        request=InvoiceInput,
        responses={202: InvoiceSerializer},
    )
    def post(self, request: Request) -> Response:
        actor = api_person(request)
        data = InvoiceInput(data=request.data)
        data.is_valid(raise_exception=True)
        statement = statement_get(viewer=actor, statement_id=data.validated_data["statement"])
        invoice = invoicing.invoice_create(actor=actor, statement=statement)
        return Response(InvoiceSerializer(invoice).data, status=202)


class InvoiceDetailApi(APIView):
    @extend_schema(summary="One invoice", responses=InvoiceSerializer)
    def get(self, request: Request, invoice_id: int) -> Response:
        return Response(InvoiceSerializer(invoice_get(viewer=request.user, invoice_id=invoice_id)).data)


class CreditNoteInput(serializers.Serializer):
    amount = serializers.IntegerField(
        help_text="The reduction before tax, minor units; the tax is added by the invoice's rates."
    )
    reason = serializers.CharField(max_length=300)
    # DRF's metaclass takes declared fields off the class, so this never shadows Field.source.
    source = serializers.CharField(  # type: ignore[assignment]
        max_length=120,
        help_text="What the correction is for (e.g. inquiry:12); the same source again is the same note.",
    )


class CreditNoteListApi(APIView):
    @extend_schema(summary="Credit notes of an invoice", responses=CreditNoteSerializer(many=True))
    def get(self, request: Request, invoice_id: int) -> Response:
        invoice = invoice_get(viewer=request.user, invoice_id=invoice_id)
        return Response({"results": CreditNoteSerializer(invoice.credit_notes.all(), many=True).data})

    @extend_schema(
        summary="Finance or the account manager: credit part of an issued invoice (issued on a worker; "
        "the same source again returns the first note)",
        request=CreditNoteInput,
        responses={202: CreditNoteSerializer},
    )
    def post(self, request: Request, invoice_id: int) -> Response:
        actor = api_person(request)
        invoice = invoice_get(viewer=actor, invoice_id=invoice_id) if has_role(actor, FINANCE_ROLES) else None
        if invoice is None:
            # Outside finance, only the partner's own account manager may credit (a partner
            # member or another manager: 404, the invoice's existence is not theirs to learn).
            invoice = (
                Invoice.objects.filter(pk=invoice_id, partner__account_manager=actor).exclude(status="draft").first()
            )
            if invoice is None:
                raise NotFound(f"No invoice {invoice_id}.")
        data = CreditNoteInput(data=request.data)
        data.is_valid(raise_exception=True)
        note = credit_notes.credit_note_issue(actor=actor, invoice=invoice, **data.validated_data)
        return Response(CreditNoteSerializer(note).data, status=202)


class PayoutRunSerializer(serializers.ModelSerializer):
    progress_percent = serializers.IntegerField()

    class Meta:
        model = PayoutRun
        fields = [
            "id",
            "status",
            "as_of",
            "trigger",
            "payouts_total",
            "payouts_done",
            "payouts_sent",
            "payouts_failed",
            "created_at",
            "started_at",
            "finished_at",
            "error",
            "progress_percent",
        ]


class PayoutRunInput(serializers.Serializer):
    as_of = serializers.DateTimeField(required=False, help_text="Default now; each payee's hold still applies.")


class PayoutRunListApi(APIView):
    permission_classes = [IsAuthenticated, IsFinance]
    role_refusal = "Only finance can run payouts."

    @extend_schema(
        summary="Finance: start a payout run (runs on a worker)",
        request=PayoutRunInput,
        responses={202: PayoutRunSerializer},
    )
    def post(self, request: Request) -> Response:
        data = PayoutRunInput(data=request.data)
        data.is_valid(raise_exception=True)
        run = payouts.payout_run_request(actor=api_person(request), as_of=data.validated_data.get("as_of"))
        return Response(PayoutRunSerializer(run).data, status=202)


class PayoutRunDetailApi(APIView):
    @extend_schema(summary="Finance: a payout run's progress", responses=PayoutRunSerializer)
    def get(self, request: Request, run_id: int) -> Response:
        actor = api_person(request)
        run = PayoutRun.objects.filter(pk=run_id).first()
        if run is None or not has_role(actor, FINANCE_ROLES):
            raise NotFound(_("No payout run %(run_id)s.") % {"run_id": run_id})
        return Response(PayoutRunSerializer(run).data)
