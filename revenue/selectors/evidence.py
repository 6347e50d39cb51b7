"""The evidence behind a statement, for the partner's auditor (issue 15): every sale and
refund it counts, with the touchpoint each was attributed to, the attribution rule (key,
window, model) of the contract version in force for the sale's own period, and the share
rule and figures of the statement — enough to recompute net and share without us.

One SQL statement over a server-side cursor, streamed a chunk at a time: a statement may
count 100,000 sales, and nothing here issues a query per row.

How to recompute (also in the JSON's "method"):
  net   = Σ amount of rows with line "attributed_sales" or "late_sales"
          − Σ amount of rows with line "refunds"
  share = the share rule applied to net (flat: net × rate; graduated: each tier's rate on
          the part of net inside the tier; volume: net × the rate of the tier net reaches; a
          net exactly on up_to is in that tier; a negative net at the first tier's rate)
  clawback = Σ over "clawback" rows of amount × clawback_rate, rounded once, half-up.
"""

from __future__ import annotations

import csv
import json
from bisect import bisect_right
from collections.abc import Iterator
from datetime import date
from typing import Any

from django.db import connection

from contracts.models import ContractVersion
from revenue.models import Statement
from revenue.services.settlement import counted_events_query

CHUNK = 2000
EVENT_FIELDS = [
    "type",
    "external_id",
    "occurred_at",
    "amount",
    "currency",
    "period",
    "line",
    "refund_of",
    "touch_kind",
    "touch_key",
    "touched_at",
    "attributed_key",
    "attribution_version",
    "window_days",
    "attribution_model",
    "clawback_rate",
    "reattributed_by_inquiry",
]
METHOD = [
    'net = sum(amount where line in ("attributed_sales", "late_sales")) - sum(amount where line = "refunds")',
    "share = rule applied to net: flat net*rate; graduated each tier's rate on the part of net in it; "
    "volume net*rate of the tier net reaches; net exactly on up_to is in that tier; negative net at the "
    "first tier's rate",
    'clawback = round_half_up(sum(amount*clawback_rate where line = "clawback"))',
    "wage = round_half_up(share + outcome fees), raised to minimum_per_period, lowered to cap_per_period",
    "total = wage - clawback - outcome_clawback - carried_credit + adjustments",
]


def _versions(statement: Statement) -> tuple[list[date], list[ContractVersion]]:
    versions = list(
        ContractVersion.objects.filter(contract_id=statement.contract_id, status=ContractVersion.Status.ACCEPTED)
        .order_by("effective_from", "number")
        .only("number", "effective_from", "terms")
    )
    return [version.effective_from for version in versions], versions


def evidence_header(*, statement: Statement) -> dict[str, Any]:
    """The statement's rule and figures, as the export states them."""
    version = ContractVersion.objects.get(contract_id=statement.contract_id, number=statement.version_number)
    terms = version.terms
    placement = statement.contract.placement
    return {
        "id": statement.pk,
        "partner": placement.partner.slug,
        "employee": placement.employee.slug,
        "placement": placement.pk,
        "period": f"{statement.period:%Y-%m}",
        "status": statement.status,
        "currency": statement.currency,
        "contract_version": statement.version_number,
        "rule": {
            "share": terms["share"],
            "outcome_fees": terms.get("outcome_fees", {}),
            "minimum_per_period": terms.get("minimum_per_period"),
            "cap_per_period": terms.get("cap_per_period"),
            "attribution": terms["attribution"],
        },
        "figures": {
            "net": statement.net,
            "share_precise": str(statement.share_precise),
            "effective_rate": str(statement.effective_rate),
            "wage": statement.wage,
            "clawback": statement.clawback,
            "outcome_clawback": statement.outcome_clawback,
            "carried_credit": statement.carried_credit,
            "adjustments": statement.adjustments,
            "total": statement.total,
            "payable": statement.payable,
            "credit_carried_forward": statement.credit_carried_forward,
            "fingerprint": statement.fingerprint,
        },
        "lines": [
            {
                "position": line.position,
                "kind": line.kind,
                "description": line.description,
                "quantity": line.quantity,
                "revenue": line.revenue,
                "amount_precise": None if line.amount_precise is None else str(line.amount_precise),
                "amount": line.amount,
            }
            for line in statement.lines.order_by("position")
        ],
        "method": METHOD,
    }


def evidence_events(*, statement: Statement) -> Iterator[dict[str, Any]]:
    """Every counted sale and refund, in one streamed query."""
    starts, versions = _versions(statement)
    sql, params = counted_events_query(statement=statement)
    cursor = connection.chunked_cursor()
    try:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(CHUNK):
            for (
                _id,
                kind,
                external_id,
                occurred_at,
                amount,
                currency,
                period,
                refund_of,
                attribution_period,
                touch_kind,
                touch_key,
                touched_at,
                attributed_key,
                clawback_rate,
                excluded_by,
                line,
            ) in rows:
                index = bisect_right(starts, attribution_period) - 1
                rules = versions[index].terms["attribution"] if index >= 0 else {}
                yield {
                    "type": kind,
                    "external_id": external_id,
                    "occurred_at": occurred_at.isoformat(),
                    "amount": amount,
                    "currency": currency,
                    "period": f"{period:%Y-%m}",
                    "line": line,
                    "refund_of": refund_of,
                    "touch_kind": touch_kind,
                    "touch_key": touch_key,
                    "touched_at": touched_at.isoformat() if touched_at else None,
                    "attributed_key": attributed_key or None,
                    "attribution_version": versions[index].number if index >= 0 else None,
                    "window_days": rules.get("window_days"),
                    "attribution_model": rules.get("model"),
                    "clawback_rate": None if clawback_rate is None else str(clawback_rate),
                    "reattributed_by_inquiry": excluded_by,
                }
    finally:
        cursor.close()


def evidence_json(*, statement: Statement) -> Iterator[str]:
    header = evidence_header(statement=statement)
    yield json.dumps({"statement": header})[:-1] + ', "events": ['
    first = True
    for event in evidence_events(statement=statement):
        yield ("" if first else ",") + json.dumps(event)
        first = False
    yield "]}"


class _Line:
    def write(self, value: str) -> str:
        return value


def evidence_csv(*, statement: Statement) -> Iterator[str]:
    """One row per event; the statement's rule and figures repeat on every row, so each row
    (and any filtered sheet of them) carries what it was rated under."""
    header = evidence_header(statement=statement)
    figures = header["figures"]
    fixed = {
        "statement": header["id"],
        "statement_period": header["period"],
        "contract_version": header["contract_version"],
        "share_rule": json.dumps(header["rule"]["share"], separators=(",", ":")),
        "statement_net": figures["net"],
        "statement_share_precise": figures["share_precise"],
        "statement_wage": figures["wage"],
        "statement_total": figures["total"],
    }
    writer = csv.writer(_Line())
    yield writer.writerow([*EVENT_FIELDS, *fixed])
    tail = list(fixed.values())
    for event in evidence_events(statement=statement):
        yield writer.writerow([*("" if event[f] is None else event[f] for f in EVENT_FIELDS), *tail])
