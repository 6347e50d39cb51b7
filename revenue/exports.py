"""Finance's CSV export of statement lines (the streaming itself is core.exports), and the
evidence export of one statement."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.http import StreamingHttpResponse

from core.exports import csv_response
from revenue.models import Statement
from revenue.selectors import evidence, reports


def statements_csv(*, viewer: Any, period: date) -> StreamingHttpResponse:
    """One row per statement line of the period: statement_id, period, partner, employee,
    status, line_kind, description, quantity, revenue, amount, currency."""
    return csv_response(
        f"statements-{period:%Y-%m}.csv",
        reports.STATEMENT_EXPORT_HEADER,
        reports.statement_lines_export(viewer=viewer, period=period),
    )


def statement_evidence(*, statement: Statement, fmt: str) -> StreamingHttpResponse:
    """The evidence behind a statement (revenue.selectors.evidence), streamed as CSV or JSON."""
    name = f"statement-{statement.pk}-{statement.period:%Y-%m}-evidence.{fmt}"
    if fmt == "csv":
        response = StreamingHttpResponse(
            evidence.evidence_csv(statement=statement), content_type="text/csv; charset=utf-8"
        )
    else:
        response = StreamingHttpResponse(evidence.evidence_json(statement=statement), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
