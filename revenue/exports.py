"""CSV exports for finance: streamed row by row from a server-side cursor, so a period
of any size leaves memory flat and the first bytes go out at once.

Amounts are integers in the currency's minor unit, as stored (a `currency` column on each
row says which): exact, and the same numbers the API returns.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

from django.http import StreamingHttpResponse

from revenue.selectors import reports


class _Echo:
    """A file-like object whose write() hands the line back, for csv.writer to stream."""

    def write(self, value: str) -> str:
        return value


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    # Text people typed (reasons, memos, names) must not run as a spreadsheet formula;
    # numbers are ints here, so a negative amount is never touched.
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_rows(header: list[str], rows: Iterable[tuple[Any, ...]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([_cell(value) for value in row])


def csv_response(filename: str, header: list[str], rows: Iterable[tuple[Any, ...]]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(csv_rows(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def statements_csv(*, viewer: Any, period: date) -> StreamingHttpResponse:
    """One row per statement line of the period: statement_id, period, partner, employee,
    status, line_kind, description, quantity, revenue, amount, currency."""
    return csv_response(f"statements-{period:%Y-%m}.csv", reports.STATEMENT_EXPORT_HEADER,
                        reports.statement_lines_export(viewer=viewer, period=period))


def ledger_csv() -> StreamingHttpResponse:
    """One row per journal line: entry_id, occurred_on, memo, account, currency, debit,
    credit (each side a non-negative amount)."""
    return csv_response("ledger.csv", reports.LEDGER_EXPORT_HEADER, reports.journal_lines_export())
