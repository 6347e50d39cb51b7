"""The ledger's API for finance: a statement of account (DESIGN.md §4)."""

from __future__ import annotations

from datetime import date, timedelta

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ValidationFailed
from core.periods import add_months
from core.permissions import IsFinance
from ledger.selectors.statements import AccountStatement, AccountStatementLine, account_statement


class AccountStatementLineSerializer(serializers.Serializer[AccountStatementLine]):
    entry_id = serializers.IntegerField()
    occurred_on = serializers.DateField()
    memo = serializers.CharField()
    description = serializers.CharField()
    debit = serializers.IntegerField()
    credit = serializers.IntegerField()
    balance = serializers.IntegerField(help_text="Debit-positive running balance after this line.")


class AccountStatementSerializer(serializers.Serializer[AccountStatement]):
    account = serializers.CharField(source="code")
    currency = serializers.CharField()
    kind = serializers.CharField()
    start = serializers.DateField(source="first")
    end = serializers.DateField(source="last")
    opening_balance = serializers.IntegerField(source="opening")
    debits = serializers.IntegerField()
    credits = serializers.IntegerField()
    closing_balance = serializers.IntegerField(source="closing")
    truncated = serializers.BooleanField(help_text="True when the span holds more lines than one answer carries.")
    lines = AccountStatementLineSerializer(many=True)


def _day(raw: str | None, name: str, default: date) -> date:
    if raw is None:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(
            _("%(name)s must be a date as YYYY-MM-DD.") % {"name": name}, fields={name: [f"got {raw!r}."]}
        ) from None


class AccountStatementApi(APIView):
    permission_classes = [IsAuthenticated, IsFinance]
    role_refusal = "The ledger is finance's: only finance can read statements of account."

    @extend_schema(
        summary="Finance: a ledger account's statement of account over a span of days",
        description=(
            "Balance brought forward, every line by date with its running balance, and the balance "
            "carried forward; amounts in minor units, debit-positive. Up to 366 days."
        ),
        parameters=[
            OpenApiParameter("start", date, description="Default: the first day of this month (UTC)."),
            OpenApiParameter("end", date, description="Default: the last day of start's month."),
        ],
        responses=AccountStatementSerializer,
    )
    def get(self, request: Request, code: str, currency: str) -> Response:
        first = _day(request.query_params.get("start"), "start", timezone.now().date().replace(day=1))
        last = _day(request.query_params.get("end"), "end", add_months(first.replace(day=1), 1) - timedelta(days=1))
        statement = account_statement(code=code, currency=currency, first=first, last=last)
        return Response(AccountStatementSerializer(statement).data)
