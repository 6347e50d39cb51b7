"""CSV exports: streamed row by row from a server-side cursor, so a period
of any size leaves memory flat and the first bytes go out at once.

Amounts are integers in the currency's minor unit, as stored (a `currency` column on each
row says which): exact, and the same numbers the API returns.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Any

from django.http import StreamingHttpResponse


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
