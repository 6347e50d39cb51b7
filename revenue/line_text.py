"""A statement line's description in the reader's language.

Lines are stored with the English sentence settlement wrote (revenue.rating and
revenue.services.settlement), which the PDF, the CSV export and the API keep as they are.
The pages say the same thing in the active language: each stored pattern is read back into
its parts and said again through gettext. A description that matches no pattern (an older
wording) is shown as stored."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

# The words the stored sentences carry, so that English reads exactly as stored.
_SHARE_MODELS = {
    "flat": pgettext_lazy("share model in a statement line", "flat"),
    "graduated": pgettext_lazy("share model in a statement line", "graduated"),
    "volume": pgettext_lazy("share model in a statement line", "volume"),
}
_OUTCOMES = {
    "resolution": pgettext_lazy("outcome kind in a statement line", "resolution"),
    "delivered work": pgettext_lazy("outcome kind in a statement line", "delivered work"),
}


def _outcome(kind: str) -> str:
    return str(_OUTCOMES.get(kind, kind))


# (pattern of the stored English sentence, how to say it with the parts it matched)
_PATTERNS: dict[str, tuple[re.Pattern[str], Callable[[re.Match[str], date], str]]] = {
    "attributed_sales": (
        re.compile(r"Attributed sales in \w+ \d{4}"),
        lambda m, period: _("Attributed sales in %(month)s") % {"month": date_format(period, "YEAR_MONTH_FORMAT")},
    ),
    "late_sales": (
        re.compile(r"Late sales from periods already approved"),
        lambda m, period: _("Late sales from periods already approved"),
    ),
    "refunds": (
        re.compile(r"Refunds of sales not yet settled"),
        lambda m, period: _("Refunds of sales not yet settled"),
    ),
    "share": (
        re.compile(r"Revenue share \((?P<model>\w+)\) of the period's net revenue"),
        lambda m, period: (
            _("Revenue share (%(model)s) of the period's net revenue")
            % {"model": _SHARE_MODELS.get(m["model"], m["model"])}
        ),
    ),
    "outcome_fee": (
        re.compile(r"Outcome fees: (?P<count>[\d,]+) × (?P<kind>.+)"),
        lambda m, period: (
            _("Outcome fees: %(count)s × %(outcome)s") % {"count": m["count"], "outcome": _outcome(m["kind"])}
        ),
    ),
    "minimum_top_up": (
        re.compile(r"Top-up to the minimum wage for the period"),
        lambda m, period: _("Top-up to the minimum wage for the period"),
    ),
    "cap": (
        re.compile(r"Reduction to the cap for the period"),
        lambda m, period: _("Reduction to the cap for the period"),
    ),
    "clawback": (
        re.compile(
            r"Clawback: (?P<count>[\d,]+) refund\(s\) of sales on approved statements, at their effective rates"
        ),
        lambda m, period: (
            _("Clawback: %(count)s refund(s) of sales on approved statements, at their effective rates")
            % {"count": m["count"]}
        ),
    ),
    "outcome_clawback": (
        re.compile(r"Outcome clawback: (?P<count>[\d,]+) withdrawn (?P<kind>.+)\(s\) already settled, at their fee"),
        lambda m, period: (
            _("Outcome clawback: %(count)s withdrawn %(outcome)s(s) already settled, at their fee")
            % {"count": m["count"], "outcome": _outcome(m["kind"])}
        ),
    ),
    "carried_credit": (
        re.compile(r"Credit carried forward from the previous period"),
        lambda m, period: _("Credit carried forward from the previous period"),
    ),
    "adjustment": (
        re.compile(r"Finance adjustment: (?P<reason>.*)", re.S),
        lambda m, period: _("Finance adjustment: %(reason)s") % {"reason": m["reason"]},
    ),
}


def line_description(*, kind: str, description: str, period: date) -> str:
    """The stored `description` of a line of `kind`, in the active language."""
    known = _PATTERNS.get(kind)
    if known is None:
        return description
    pattern, say = known
    match = pattern.fullmatch(description)
    return say(match, period) if match is not None else description
