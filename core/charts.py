"""Charts as data: each chart is a table of its figures (what a screen reader and the
keyboard readout use) from which static/js/charts.js draws the picture. Shared by the
partner's revenue page and finance's trends page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from core.currencies import format_money

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
                label=f"{period:%b %Y}",
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
            return f"{self.title}: no figures."
        span = f"{self.periods[0]:%b %Y}" + (f" to {self.periods[-1]:%b %Y}" if len(self.periods) > 1 else "")
        if self.kind == "line":
            last = "; ".join(
                f"{series.name} {format_money(series.values[-1], self.currency)}" for series in self.series
            )
            return f"{self.title} in {self.currency}, {span}. At the end of {self.periods[-1]:%b %Y}: {last}."
        per_month = [sum(series.values[index] for series in self.series) for index in range(len(self.periods))]
        peak = max(range(len(per_month)), key=lambda index: (per_month[index], -index))
        return (
            f"{self.title} in {self.currency}, {span}: {format_money(self.total, self.currency)} in all; "
            f"highest month {self.periods[peak]:%b %Y} ({format_money(per_month[peak], self.currency)})."
        )
