"""Finance's CSV export of statement lines (the streaming itself is core.exports)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.http import StreamingHttpResponse

from core.exports import csv_response
from revenue.selectors import reports


def statements_csv(*, viewer: Any, period: date) -> StreamingHttpResponse:
    """One row per statement line of the period: statement_id, period, partner, employee,
    status, line_kind, description, quantity, revenue, amount, currency."""
    return csv_response(
        f"statements-{period:%Y-%m}.csv",
        reports.STATEMENT_EXPORT_HEADER,
        reports.statement_lines_export(viewer=viewer, period=period),
    )
