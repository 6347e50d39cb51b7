"""Charts as data: each chart is a table of its figures (what a screen reader and the
keyboard readout use) from which static/js/charts.js draws the picture. Shared by the
partner's revenue page and finance's trends page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.utils import translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from core.currencies import format_money


def month_label(period: date) -> str:
    """ "Oct 2026" in English, as the charts always wrote it; the language's own year-month
    format elsewhere (2026年10月)."""
    if (translation.get_language() or "en").startswith("en"):
        return f"{period:%b %Y}"
    return date_format(period, "YEAR_MONTH_FORMAT")


CHART_MONTHS = 12


@dataclass(frozen=True)
class ChartSeries:
    name: str
    values: list[int]


@dataclass(frozen=True)
class ChartCell:
    value: int
    formatted: str


@dataclass(frozen=True)
class ChartRow:
    period: date
    label: str
    cells: list[ChartCell]


@dataclass(frozen=True)
class TimeChart:
    key: str  # unique on the page: the ids of its parts
    title: str
    kind: str  # "bar" or "line"
    currency: str
    periods: list[date]
    series: list[ChartSeries]
    stacked: bool = False

    @property
    def rows(self) -> list[ChartRow]:
        return [
            ChartRow(
                period=period,
                label=month_label(period),
                cells=[
                    ChartCell(value=series.values[index], formatted=format_money(series.values[index], self.currency))
                    for series in self.series
                ],
            )
            for index, period in enumerate(self.periods)
        ]

    @property
    def total(self) -> int:
        return sum(sum(series.values) for series in self.series)

    @property
    def summary(self) -> str:
        """One sentence a screen reader announces for the whole chart."""
        if not self.periods:
            return _("%(title)s: no figures.") % {"title": self.title}
        first, last_period = month_label(self.periods[0]), month_label(self.periods[-1])
        span = _("%(first)s to %(last)s") % {"first": first, "last": last_period} if len(self.periods) > 1 else first
        if self.kind == "line":
            last = "; ".join(
                f"{series.name} {format_money(series.values[-1], self.currency)}" for series in self.series
            )
            return _("%(title)s in %(currency)s, %(span)s. At the end of %(month)s: %(last)s.") % {
                "title": self.title,
                "currency": self.currency,
                "span": span,
                "month": last_period,
                "last": last,
            }
        per_month = [sum(series.values[index] for series in self.series) for index in range(len(self.periods))]
        peak = max(range(len(per_month)), key=lambda index: (per_month[index], -index))
        return _("%(title)s in %(currency)s, %(span)s: %(total)s in all; highest month %(peak_month)s (%(peak)s).") % {
            "title": self.title,
            "currency": self.currency,
            "span": span,
            "total": format_money(self.total, self.currency),
            "peak_month": month_label(self.periods[peak]),
            "peak": format_money(per_month[peak], self.currency),
        }
