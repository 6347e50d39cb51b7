"""Statements and settlement endpoints. Partners read their approved statements; finance
runs settlement and reviews, adjusts and approves."""

from __future__ import annotations

from datetime import date

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from contracts.api import _person
from core.errors import NotFound, ValidationFailed
from core.models import User
from revenue.models import SettlementRun, Statement, StatementLine, StatementSplit
from revenue.pagination import StatementCursorPagination
from revenue.selectors.statements import sale_get, statement_get, statement_list
from revenue.services import settlement, statement_batches


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
        fields = ["id", "period", "partner", "employee", "placement", "contract", "status", "currency",
                  "version_number", "net", "wage", "clawback", "outcome_clawback", "carried_credit", "adjustments",
                  "total", "payable", "credit_carried_forward", "effective_rate", "computed_at", "approved_at",
                  "lines", "splits"]

    def get_period(self, statement: Statement) -> str:
        return f"{statement.period:%Y-%m}"


def parse_period(raw: str | None) -> date | None:
    if not raw:
        return None
    try:
        year, month = (int(part) for part in raw.split("-"))
        return date(year, month, 1)
    except ValueError as error:
        raise ValidationFailed(f"period must look like 2026-10; got {raw!r}.",
                               fields={"period": ["expected YYYY-MM."]}) from error


def parse_status(raw: str | None, allowed: list[str]) -> str | None:
    """A status filter: one of `allowed`, or none. A mistyped one must not look like "there are none"."""
    if not raw:
        return None
    if raw not in allowed:
        raise ValidationFailed(f"Unknown status {raw!r}.",
                               fields={"status": [f"must be one of {', '.join(allowed)}; got {raw!r}."]})
    return raw


class StatementListApi(APIView):
    # Keyset pages in the list's own order (newest period first, then contract): see
    # revenue.pagination for why not DRF's CursorPagination.
    pagination_class = StatementCursorPagination

    @extend_schema(summary="Statements with their lines (partners see approved ones), a page at a time",
                   description=("Ordered by period (newest first), then contract. Follow `next` for the "
                                "following page and `previous` for the one before; both keep the filters. "
                                "A cursor that was not issued by this API is `400 invalid`."),
                   parameters=[OpenApiParameter("period", str, description="YYYY-MM"),
                               OpenApiParameter("status", str, enum=Statement.Status.values)],
                   responses=StatementSerializer(many=True))
    def get(self, request: Request) -> Response:
        statements = statement_list(viewer=request.user, period=parse_period(request.query_params.get("period")),
                                    status=parse_status(request.query_params.get("status"), Statement.Status.values))
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
    @extend_schema(operation_id="statements_decide",
                   summary="Finance: submit (draft → in review), approve, or adjust a statement",
                   parameters=[OpenApiParameter("action", str, OpenApiParameter.PATH,
                                                enum=["submit", "approve", "adjust"])],
                   request=AdjustmentInput, responses=StatementSerializer)
    def post(self, request: Request, statement_id: int, action: str) -> Response:
        actor = _person(request)
        statement = statement_get(viewer=actor, statement_id=statement_id)
        if action == "submit":
            statement = settlement.statement_submit(actor=actor, statement=statement)
        elif action == "approve":
            statement = settlement.statement_approve(actor=actor, statement=statement)
        elif action == "adjust":
            data = AdjustmentInput(data=request.data)
            data.is_valid(raise_exception=True)
            statement = settlement.statement_adjust(actor=actor, statement=statement,
                                                    amount=data.validated_data["amount"],
                                                    reason=data.validated_data["reason"])
        else:
            raise NotFound(f"No statement action {action!r}; use submit, approve or adjust.")
        return Response(StatementSerializer(statement_get(viewer=actor, statement_id=statement.pk)).data)


class SettlementRunSerializer(serializers.ModelSerializer):
    period = serializers.SerializerMethodField()
    progress_percent = serializers.IntegerField()

    class Meta:
        model = SettlementRun
        fields = ["id", "period", "status", "contracts_total", "contracts_done", "statements_written",
                  "attributed", "trigger", "created_at", "started_at", "finished_at", "error",
                  "progress_percent"]

    def get_period(self, run: SettlementRun) -> str:
        return f"{run.period:%Y-%m}"


class SettlementRunInput(serializers.Serializer):
    period = serializers.RegexField(r"^\d{4}-\d{2}$", help_text="YYYY-MM")


class SettlementRunListApi(APIView):
    @extend_schema(summary="Finance: start a settlement run for a period (runs on a worker)",
                   request=SettlementRunInput, responses={202: SettlementRunSerializer})
    def post(self, request: Request) -> Response:
        actor = _person(request)
        data = SettlementRunInput(data=request.data)
        data.is_valid(raise_exception=True)
        run = settlement.settlement_run_request(actor=actor, period=parse_period(data.validated_data["period"]))
        return Response(SettlementRunSerializer(run).data, status=202)


class SettlementRunDetailApi(APIView):
    @extend_schema(summary="Finance: a settlement run's progress", responses=SettlementRunSerializer)
    def get(self, request: Request, run_id: int) -> Response:
        return Response(SettlementRunSerializer(_finance_run(_person(request), run_id)).data)


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
    @extend_schema(summary="Why a sale was (or was not) attributed to an employee",
                   responses=SaleAttributionSerializer)
    def get(self, request: Request, external_id: str) -> Response:
        return Response(SaleAttributionSerializer(sale_get(viewer=request.user, external_id=external_id)).data)


class StatementBatchInput(serializers.Serializer):
    statements = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), required=False, allow_empty=False,
        max_length=statement_batches.MAX_STATEMENTS,
        help_text="Only these statements of the run; leave out for every one in the status the action moves from.")


class StatementOutcomeSerializer(serializers.Serializer):
    statement = serializers.IntegerField(source="statement_id")
    contract = serializers.IntegerField(source="contract_id", allow_null=True)
    partner = serializers.CharField(allow_null=True)
    outcome = serializers.ChoiceField(choices=["submitted", "approved", "refused"])
    status = serializers.CharField(allow_null=True, help_text="The statement's status after the attempt.")
    error = inline_serializer("StatementRefusal", {
        "code": serializers.CharField(), "message": serializers.CharField(),
        "fields": serializers.DictField(child=serializers.ListField(child=serializers.CharField()))},
        allow_null=True)


class StatementBatchSerializer(serializers.Serializer):
    run = serializers.IntegerField(source="run.pk")
    period = serializers.SerializerMethodField()
    action = serializers.CharField()
    counts = serializers.DictField(child=serializers.IntegerField())
    results = StatementOutcomeSerializer(source="outcomes", many=True)

    def get_period(self, result: statement_batches.BatchResult) -> str:
        return f"{result.run.period:%Y-%m}"


def _finance_run(actor: User, run_id: int) -> SettlementRun:
    if actor.role not in ("finance", "staff"):
        raise NotFound(f"No settlement run {run_id}.")
    run = SettlementRun.objects.filter(pk=run_id).first()
    if run is None:
        raise NotFound(f"No settlement run {run_id}.")
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
            "The answer lists every statement with `submitted`/`approved` or `refused` and the error."),
        request=StatementBatchInput, responses=StatementBatchSerializer,
    )
    def post(self, request: Request, run_id: int) -> Response:
        actor = _person(request)
        run = _finance_run(actor, run_id)
        data = StatementBatchInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = statement_batches.statements_batch_decide(
            actor=actor, run=run, action=self.action, statement_ids=data.validated_data.get("statements"))
        return Response(StatementBatchSerializer(result).data)
