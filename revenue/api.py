"""The revenue API (DESIGN.md §5b). The partner integration API for reported data — sales
and refunds, touchpoints, outcomes — is a public contract: keep it stable. Below it, the
statements and settlement endpoints: partners read their approved statements; finance runs
settlement and reviews, adjusts and approves.

Each view checks the envelope, finds the caller's own partner and calls one service; the
service validates every item and answers per item. Callers are a partner's systems
(`Authorization: Bearer <API key>`) or its signed-in members; platform staff are refused,
since they report nothing on a partner's behalf.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.http import StreamingHttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from contracts.models import Partner
from contracts.selectors import viewer_partner_id
from core.api import parse_status, validated
from core.errors import ApplicationError, ErrorCode, NotFound, PermissionDenied, ValidationFailed
from core.models import User
from core.permissions import FINANCE_ROLES, api_person, has_role
from revenue import exports
from revenue.models import Inquiry, InquiryComment, SettlementRun, Statement, StatementLine, StatementSplit
from revenue.pagination import StatementCursorPagination
from revenue.selectors.inquiries import inquiry_get, inquiry_history, inquiry_list, reattribution_target
from revenue.selectors.statements import sale_get, sales_by_key, statement_get, statement_list
from revenue.serializers import (
    MAX_BATCH,
    IngestErrorSerializer,
    IngestResultSerializer,
    OutcomeBatchSerializer,
    SalesBatchSerializer,
    TouchpointBatchSerializer,
)
from revenue.services import inquiries, settlement, statement_batches
from revenue.services.ingestion import IngestResult, outcomes_ingest, sales_ingest, touchpoints_ingest
from revenue.services.inquiries import INQUIRABLE_LINES
from revenue.throttling import IngestRateThrottle

# A full batch of the longest events is about 1.5 MB; anything far larger is refused unread.
MAX_BODY_BYTES = 10 * 1024 * 1024


class PayloadTooLarge(ApplicationError):
    """413: too many items in one request, or too large a body."""

    status = 413

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code  # type: ignore[assignment]


def _caller_partner(request: Request) -> Partner:
    partner_id = viewer_partner_id(request.user)
    if partner_id is None or partner_id < 0:
        raise PermissionDenied(
            _("Only a partner's systems (API key) and members report sales, touchpoints and outcomes.")
        )
    api_key = getattr(request.user, "api_key", None)
    if api_key is not None:
        return api_key.partner  # loaded with the key by the authentication
    return Partner.objects.get(pk=partner_id)


def _batch(request: Request, name: str) -> list[Any]:
    """The envelope {"<name>": [ … up to 1,000 items … ]}."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        raise PayloadTooLarge(
            _("The request body is over %(max_body_bytes)s bytes.") % {"max_body_bytes": MAX_BODY_BYTES},
            code=ErrorCode.REQUEST_TOO_LARGE,
        )
    data = request.data
    if not isinstance(data, dict):
        raise ValidationFailed(
            f'The body must be a JSON object: {{"{name}": [...]}}.', fields={name: ["This field is required."]}
        )
    unknown = sorted(key for key in data if key != name)
    if unknown:
        raise ValidationFailed(
            _("Unknown field(s) in the request body: %(join)s.") % {"join": ", ".join(unknown)},
            fields={key: ["Unknown field."] for key in unknown},
        )
    if name not in data:
        raise ValidationFailed(_("%(name)s is required.") % {"name": name}, fields={name: ["This field is required."]})
    items = data[name]
    if not isinstance(items, list):
        raise ValidationFailed(
            _("%(name)s must be a list.") % {"name": name}, fields={name: ["Expected a list of items."]}
        )
    if len(items) > MAX_BATCH:
        raise PayloadTooLarge(
            _("%(len)s %(name)s in one request; send at most %(max_batch)s per request.")
            % {"len": len(items), "name": name, "max_batch": MAX_BATCH},
            code=ErrorCode.TOO_MANY_EVENTS,
        )
    return items


def _answer(result: IngestResult) -> Response:
    return Response(result.as_dict())


_ERRORS = {
    400: OpenApiResponse(IngestErrorSerializer, description="Malformed envelope (code malformed_request or invalid)."),
    401: OpenApiResponse(IngestErrorSerializer, description="Missing, wrong or revoked API key."),
    403: OpenApiResponse(IngestErrorSerializer, description="The caller does not act for a partner."),
    413: OpenApiResponse(
        IngestErrorSerializer,
        description="Over 1,000 items (too_many_events) or a body over 10 MB (request_too_large).",
    ),
    429: OpenApiResponse(
        IngestErrorSerializer,
        description="Too many requests; retry after the number of seconds in the Retry-After header.",
    ),
    503: OpenApiResponse(
        IngestErrorSerializer,
        description="The database failed under the request "
        "(code service_unavailable): nothing of the batch was stored; send the same batch "
        "again after the number of seconds in the Retry-After header.",
    ),
}
_RESULT = OpenApiResponse(
    IngestResultSerializer,
    description="One result per item: counts of accepted and duplicate items, and each rejected item "
    "with its index and a stable code. Valid items are stored even when others are rejected.",
)


class SalesIngestApi(APIView):
    throttle_classes = [IngestRateThrottle]

    @extend_schema(
        tags=["ingestion"],
        summary="Report sales and refunds (up to 1,000 events)",
        description=(
            "Idempotent per `external_id`: the same event again is a duplicate (no change); "
            "the same `external_id` with different content is rejected (`conflict`). Rejection "
            "codes: invalid, unknown_field, unknown_currency, currency_mismatch, conflict, "
            "unknown_sale, refund_exceeds_sale."
        ),
        request=SalesBatchSerializer,
        responses={200: _RESULT, **_ERRORS},
        examples=[
            OpenApiExample(
                "A sale and its refund",
                request_only=True,
                value={
                    "events": [
                        {
                            "external_id": "pos-8812-001",
                            "type": "sale",
                            "occurred_at": "2026-10-03T12:01:00+09:00",
                            "amount": 1280,
                            "currency": "JPY",
                            "coupon_code": "RINNA-7F3K2",
                            "store_id": "tokyo-221",
                        },
                        {
                            "external_id": "pos-8812-001-r",
                            "type": "refund",
                            "refund_of": "pos-8812-001",
                            "occurred_at": "2026-10-05T09:00:00+09:00",
                            "amount": 1280,
                            "currency": "JPY",
                        },
                    ]
                },
            )
        ],
    )
    def post(self, request: Request) -> Response:
        partner = _caller_partner(request)
        return _answer(sales_ingest(partner=partner, events=_batch(request, "events")))


class TouchpointsIngestApi(APIView):
    throttle_classes = [IngestRateThrottle]

    @extend_schema(
        tags=["ingestion"],
        summary="Report your own touchpoints: tracked clicks, conversation ids, coupons",
        description=(
            "Unique per kind and key: the same touchpoint again is a duplicate, the same key "
            "with other content a `conflict`. Rejection codes: invalid, unknown_field, "
            "unknown_placement, placement_inactive, conflict."
        ),
        request=TouchpointBatchSerializer,
        responses={200: _RESULT, **_ERRORS},
    )
    def post(self, request: Request) -> Response:
        partner = _caller_partner(request)
        return _answer(touchpoints_ingest(partner=partner, touchpoints=_batch(request, "touchpoints")))


class OutcomesIngestApi(APIView):
    throttle_classes = [IngestRateThrottle]

    @extend_schema(
        tags=["ingestion"],
        summary="Confirm outcomes (resolutions, delivered works), or withdraw them",
        description=(
            'Unique per placement, kind and external_id. `"withdrawn": true` withdraws an '
            "outcome sent earlier. Rejection codes: invalid, unknown_field, unknown_placement, "
            "placement_inactive, conflict, unknown_outcome."
        ),
        request=OutcomeBatchSerializer,
        responses={200: _RESULT, **_ERRORS},
    )
    def post(self, request: Request) -> Response:
        partner = _caller_partner(request)
        return _answer(outcomes_ingest(partner=partner, outcomes=_batch(request, "outcomes")))


# --- statements and settlement ------------------------------------------------------------------------


class StatementLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = StatementLine
        fields = ["position", "kind", "description", "quantity", "revenue", "amount_precise", "amount"]


class StatementSplitSerializer(serializers.ModelSerializer):
    payee = serializers.CharField(source="payee.slug")

    class Meta:
        model = StatementSplit
        fields = ["payee", "share", "amount"]


class StatementSerializer(serializers.ModelSerializer):
    period = serializers.SerializerMethodField()
    partner = serializers.CharField(source="contract.placement.partner.slug")
    employee = serializers.CharField(source="contract.placement.employee.slug")
    placement = serializers.IntegerField(source="contract.placement_id")
    lines = StatementLineSerializer(many=True)
    splits = StatementSplitSerializer(many=True)

    class Meta:
        model = Statement
        fields = [
            "id",
            "period",
            "partner",
            "employee",
            "placement",
            "contract",
            "status",
            "currency",
            "version_number",
            "net",
            "wage",
            "clawback",
            "outcome_clawback",
            "carried_credit",
            "adjustments",
            "total",
            "payable",
            "credit_carried_forward",
            "effective_rate",
            "computed_at",
            "approved_at",
            "lines",
            "splits",
        ]

    def get_period(self, statement: Statement) -> str:
        return f"{statement.period:%Y-%m}"


def parse_period(raw: str | None) -> date | None:
    if not raw:
        return None
    try:
        year, month = (int(part) for part in raw.split("-"))
        return date(year, month, 1)
    except ValueError as error:
        raise ValidationFailed(
            _("period must look like 2026-10; got %(raw)r.") % {"raw": raw}, fields={"period": ["expected YYYY-MM."]}
        ) from error


class StatementListApi(APIView):
    # Keyset pages in the list's own order (newest period first, then contract): see
    # revenue.pagination for why not DRF's CursorPagination.
    pagination_class = StatementCursorPagination

    @extend_schema(
        summary="Statements with their lines (partners see approved ones), a page at a time",
        description=(
            "Ordered by period (newest first), then contract. Follow `next` for the "
            "following page and `previous` for the one before; both keep the filters. "
            "A cursor that was not issued by this API is `400 invalid`."
        ),
        parameters=[
            OpenApiParameter("period", str, description="YYYY-MM"),
            OpenApiParameter("status", str, enum=Statement.Status.values),
        ],
        responses=StatementSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        statements = statement_list(
            viewer=request.user,
            period=parse_period(request.query_params.get("period")),
            status=parse_status(request.query_params.get("status"), Statement.Status.values),
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(statements, request, view=self)
        return paginator.get_paginated_response(StatementSerializer(page, many=True).data)


class StatementDetailApi(APIView):
    @extend_schema(summary="One statement", responses=StatementSerializer)
    def get(self, request: Request, statement_id: int) -> Response:
        return Response(StatementSerializer(statement_get(viewer=request.user, statement_id=statement_id)).data)


class AdjustmentInput(serializers.Serializer):
    amount = serializers.IntegerField(help_text="Minor units; negative lowers the total.")
    reason = serializers.CharField(max_length=300)


class StatementActionApi(APIView):
    @extend_schema(
        operation_id="statements_decide",
        summary="Finance: submit (draft → in review), approve, or adjust a statement",
        parameters=[OpenApiParameter("action", str, OpenApiParameter.PATH, enum=["submit", "approve", "adjust"])],
        request=AdjustmentInput,
        responses=StatementSerializer,
    )
    def post(self, request: Request, statement_id: int, action: str) -> Response:
        actor = api_person(request)
        statement = statement_get(viewer=actor, statement_id=statement_id)
        if action == "submit":
            statement = settlement.statement_submit(actor=actor, statement=statement)
        elif action == "approve":
            statement = settlement.statement_approve(actor=actor, statement=statement)
        elif action == "adjust":
            data = AdjustmentInput(data=request.data)
            data.is_valid(raise_exception=True)
            statement = settlement.statement_adjust(
                actor=actor,
                statement=statement,
                amount=data.validated_data["amount"],
                reason=data.validated_data["reason"],
            )
        else:
            raise NotFound(_("No statement action %(action)r; use submit, approve or adjust.") % {"action": action})
        return Response(StatementSerializer(statement_get(viewer=actor, statement_id=statement.pk)).data)


class SettlementRunSerializer(serializers.ModelSerializer):
    period = serializers.SerializerMethodField()
    progress_percent = serializers.IntegerField()

    class Meta:
        model = SettlementRun
        fields = [
            "id",
            "period",
            "status",
            "contracts_total",
            "contracts_done",
            "statements_written",
            "attributed",
            "trigger",
            "created_at",
            "started_at",
            "finished_at",
            "error",
            "progress_percent",
        ]

    def get_period(self, run: SettlementRun) -> str:
        return f"{run.period:%Y-%m}"


class SettlementRunInput(serializers.Serializer):
    period = serializers.RegexField(r"^\d{4}-\d{2}$", help_text="YYYY-MM")


class SettlementRunListApi(APIView):
    @extend_schema(
        summary="Finance: start a settlement run for a period (runs on a worker)",
        request=SettlementRunInput,
        responses={202: SettlementRunSerializer},
    )
    def post(self, request: Request) -> Response:
        actor = api_person(request)
        data = SettlementRunInput(data=request.data)
        data.is_valid(raise_exception=True)
        run = settlement.settlement_run_request(actor=actor, period=parse_period(data.validated_data["period"]))
        return Response(SettlementRunSerializer(run).data, status=202)


class SettlementRunDetailApi(APIView):
    @extend_schema(summary="Finance: a settlement run's progress", responses=SettlementRunSerializer)
    def get(self, request: Request, run_id: int) -> Response:
        return Response(SettlementRunSerializer(_finance_run(api_person(request), run_id)).data)


class SaleAttributionSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    type = serializers.CharField()
    period = serializers.SerializerMethodField()
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    attribution = serializers.CharField()
    placement = serializers.IntegerField(source="placement_id", allow_null=True)
    employee = serializers.CharField(source="placement.employee.slug", allow_null=True, default=None)
    attributed_key = serializers.CharField()
    explanation = serializers.CharField(source="attribution_note")
    settled_in_statement = serializers.IntegerField(source="statement_id", allow_null=True)

    def get_period(self, sale) -> str:
        return f"{sale.period:%Y-%m}"


class SaleAttributionApi(APIView):
    @extend_schema(summary="Why a sale was (or was not) attributed to an employee", responses=SaleAttributionSerializer)
    def get(self, request: Request, external_id: str) -> Response:
        return Response(SaleAttributionSerializer(sale_get(viewer=request.user, external_id=external_id)).data)


class StatementBatchInput(serializers.Serializer):
    statements = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        allow_empty=False,
        max_length=statement_batches.MAX_STATEMENTS,
        help_text="Only these statements of the run; leave out for every one in the status the action moves from.",
    )


class StatementOutcomeSerializer(serializers.Serializer):
    statement = serializers.IntegerField(source="statement_id")
    contract = serializers.IntegerField(source="contract_id", allow_null=True)
    partner = serializers.CharField(allow_null=True)
    outcome = serializers.ChoiceField(choices=["submitted", "approved", "refused"])
    status = serializers.CharField(allow_null=True, help_text="The statement's status after the attempt.")
    error = inline_serializer(
        "StatementRefusal",
        {
            "code": serializers.CharField(),
            "message": serializers.CharField(),
            "fields": serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
        },
        allow_null=True,
    )


class StatementBatchSerializer(serializers.Serializer):
    run = serializers.IntegerField(source="run.pk")
    period = serializers.SerializerMethodField()
    action = serializers.CharField()
    counts = serializers.DictField(child=serializers.IntegerField())
    results = StatementOutcomeSerializer(source="outcomes", many=True)

    def get_period(self, result: statement_batches.BatchResult) -> str:
        return f"{result.run.period:%Y-%m}"


def _finance_run(actor: User, run_id: int) -> SettlementRun:
    if not has_role(actor, FINANCE_ROLES):
        raise NotFound(_("No settlement run %(run_id)s.") % {"run_id": run_id})
    run = SettlementRun.objects.filter(pk=run_id).first()
    if run is None:
        raise NotFound(_("No settlement run %(run_id)s.") % {"run_id": run_id})
    return run


class SettlementRunBatchApi(APIView):
    action: str = ""

    @extend_schema(
        summary="Finance: submit or approve the statements of a run, each through its own checks",
        description=(
            "`submit` sends the run's drafts to review, `approve` approves the run's statements in review — or "
            "only the `statements` named. Each statement goes through the same service and checks as "
            "`POST /statements/<id>/submit|approve`, in its own transaction: one refused (a stale draft, an "
            "earlier period not yet approved, the approver's own submission…) does not hold back the others. "
            "The answer lists every statement with `submitted`/`approved` or `refused` and the error."
        ),
        request=StatementBatchInput,
        responses=StatementBatchSerializer,
    )
    def post(self, request: Request, run_id: int) -> Response:
        actor = api_person(request)
        run = _finance_run(actor, run_id)
        data = StatementBatchInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = statement_batches.statements_batch_decide(
            actor=actor, run=run, action=self.action, statement_ids=data.validated_data.get("statements")
        )
        return Response(StatementBatchSerializer(result).data)


# --- inquiries and evidence (issue 15) -------------------------------------------------------------------


class InquiryCommentSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author_label")

    class Meta:
        model = InquiryComment
        fields = ["author", "side", "body", "created_at"]


class InquirySerializer(serializers.ModelSerializer):
    line = serializers.CharField(source="line_kind", allow_blank=True)
    sale = serializers.CharField(source="sale.external_id", allow_null=True, default=None)
    opened_by = serializers.CharField(source="opened_via")
    resolved_by = serializers.CharField(source="resolved_by.username", allow_null=True, default=None)
    reattributed_to = serializers.IntegerField(source="reattributed_to_id", allow_null=True)
    attachment = serializers.CharField(source="attachment_name", allow_blank=True)
    comments = InquiryCommentSerializer(many=True)
    history = serializers.SerializerMethodField()

    class Meta:
        model = Inquiry
        fields = [
            "id",
            "statement",
            "status",
            "reason",
            "line",
            "sale",
            "comment",
            "attachment",
            "opened_by",
            "opened_at",
            "resolved_by",
            "resolved_at",
            "resolution_note",
            "reattributed_to",
            "figures_before",
            "figures_after",
            "comments",
            "history",
        ]

    @extend_schema_field(
        inline_serializer(
            "InquiryStep",
            {
                "at": serializers.DateTimeField(),
                "action": serializers.CharField(),
                "actor": serializers.CharField(),
                "summary": serializers.CharField(),
            },
            many=True,
        )
    )
    def get_history(self, inquiry: Inquiry) -> list[dict[str, Any]]:
        rows = inquiry_history(inquiries=[inquiry])[inquiry.pk]
        return [{"at": r.at, "action": r.action, "actor": r.actor_label, "summary": r.summary} for r in rows]


class InquiryInput(serializers.Serializer):
    reason = serializers.ChoiceField(choices=Inquiry.Reason.values)
    comment = serializers.CharField(max_length=4000)
    line = serializers.ChoiceField(choices=[str(kind) for kind in INQUIRABLE_LINES], required=False)
    sale = serializers.CharField(max_length=128, required=False, help_text="external_id of a sale or refund")
    attachment = serializers.FileField(required=False, help_text="PDF, PNG, JPEG, CSV or TXT, at most 5 MB")


class StatementInquiriesApi(APIView):
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        tags=["inquiries"],
        summary="A statement's inquiries, with their comments and history",
        responses=InquirySerializer(many=True),
    )
    def get(self, request: Request, statement_id: int) -> Response:
        statement = statement_get(viewer=request.user, statement_id=statement_id)
        return Response(InquirySerializer(inquiry_list(statement=statement), many=True).data)

    @extend_schema(
        tags=["inquiries"],
        summary="Partner: question a line of a statement in review, or one sale or refund it counts",
        description=(
            "Name either `line` or `sale`. JSON, or multipart with an `attachment`. Refusals: "
            "`statement_not_in_review` and `inquiry_window_closed` (409, the contract's review window, 7 days "
            "after the statement was sent to review by default), `inquiry_duplicate` (409), "
            "`attachment_invalid` (400), `attachment_too_large` (413), `invalid` (400)."
        ),
        request={"application/json": InquiryInput, "multipart/form-data": InquiryInput},
        responses={201: InquirySerializer},
    )
    def post(self, request: Request, statement_id: int) -> Response:
        statement = statement_get(viewer=request.user, statement_id=statement_id)
        data = validated(InquiryInput, request.data)
        sale = None
        if data.get("sale"):
            sale = sales_by_key(partner_ids=[statement.contract.placement.partner_id], external_id=data["sale"]).first()
            if sale is None:
                raise ValidationFailed(
                    f"No sale or refund {data['sale']!r}.", fields={"sale": ["no such sale or refund."]}
                )
        inquiry = inquiries.inquiry_open(
            actor=request.user,
            statement=statement,
            reason=data["reason"],
            comment=data["comment"],
            line_kind=data.get("line", ""),
            sale=sale,
            attachment=data.get("attachment"),
        )
        return Response(InquirySerializer(inquiry_get(viewer=request.user, inquiry_id=inquiry.pk)).data, status=201)


class InquiryDetailApi(APIView):
    @extend_schema(tags=["inquiries"], summary="One inquiry", responses=InquirySerializer)
    def get(self, request: Request, inquiry_id: int) -> Response:
        return Response(InquirySerializer(inquiry_get(viewer=request.user, inquiry_id=inquiry_id)).data)


class ResolveInput(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["accept", "reject"])
    note = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
    placement = serializers.IntegerField(
        required=False, min_value=1, help_text="Accept only: give the sales to this placement of the same partner."
    )


class InquiryResolveApi(APIView):
    @extend_schema(
        tags=["inquiries"],
        summary="Finance: accept (exclude or re-attribute the sales, re-rate) or reject (with a reason)",
        request=ResolveInput,
        responses=InquirySerializer,
    )
    def post(self, request: Request, inquiry_id: int) -> Response:
        actor = api_person(request)
        inquiry = inquiry_get(viewer=actor, inquiry_id=inquiry_id)
        data = validated(ResolveInput, request.data)
        placement = reattribution_target(placement_id=data.get("placement"))
        inquiries.inquiry_resolve(
            actor=actor, inquiry=inquiry, decision=data["decision"], note=data["note"], reattribute_to=placement
        )
        return Response(InquirySerializer(inquiry_get(viewer=actor, inquiry_id=inquiry_id)).data)


class CommentInput(serializers.Serializer):
    body = serializers.CharField(max_length=4000)


class InquiryCommentApi(APIView):
    @extend_schema(
        tags=["inquiries"],
        summary="Comment on an open inquiry",
        request=CommentInput,
        responses={201: InquirySerializer},
    )
    def post(self, request: Request, inquiry_id: int) -> Response:
        inquiry = inquiry_get(viewer=request.user, inquiry_id=inquiry_id)
        data = validated(CommentInput, request.data)
        inquiries.inquiry_comment(actor=request.user, inquiry=inquiry, body=data["body"])
        return Response(InquirySerializer(inquiry_get(viewer=request.user, inquiry_id=inquiry_id)).data, status=201)


class InquiryWithdrawApi(APIView):
    @extend_schema(
        tags=["inquiries"], summary="Partner: withdraw an open inquiry", request=None, responses=InquirySerializer
    )
    def post(self, request: Request, inquiry_id: int) -> Response:
        inquiry = inquiry_get(viewer=request.user, inquiry_id=inquiry_id)
        inquiries.inquiry_withdraw(actor=request.user, inquiry=inquiry)
        return Response(InquirySerializer(inquiry_get(viewer=request.user, inquiry_id=inquiry_id)).data)


class StatementEvidenceApi(APIView):
    fmt = "json"

    @extend_schema(
        tags=["inquiries"],
        summary="The evidence behind a statement: every counted sale and refund, the rule and the figures",
        description=(
            "`evidence.json`: {statement: {rule, figures, lines, method}, events: [...]}; `evidence.csv`: one row "
            "per event with the rule and figures repeated. Streamed."
        ),
        responses={(200, "application/json"): OpenApiTypes.OBJECT, (200, "text/csv"): OpenApiTypes.STR},
    )
    def get(self, request: Request, statement_id: int) -> StreamingHttpResponse:
        statement = statement_get(viewer=request.user, statement_id=statement_id)
        return exports.statement_evidence(statement=statement, fmt=self.fmt)
