"""Calendar months as periods: the first day of a month stands for the month."""

from __future__ import annotations

import re
from datetime import date


def add_months(period: date, months: int) -> date:
    index = period.year * 12 + period.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def months_between(first: date, last: date) -> list[date]:
    """Every period from `first` to `last`, both included."""
    periods = [first]
    while periods[-1] < last:
        periods.append(add_months(periods[-1], 1))
    return periods


_PERIOD = re.compile(r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})")


def period_text(period: date) -> str:
    return f"{period:%Y-%m}"


def period_parse(raw: str) -> date | None:
    """'2026-10' → date(2026, 10, 1); None when it is not a month."""
    match = _PERIOD.fullmatch((raw or "").strip())
    if match is None:
        return None
    year, month = int(match["year"]), int(match["month"])
    if not (1 <= month <= 12 and year >= 1):
        return None
    return date(year, month, 1)
