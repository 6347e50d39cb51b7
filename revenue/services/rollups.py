"""The monthly roll-up of attributed sales (revenue.models.SaleMonthlyRollup): kept
incrementally by every write that moves a sale onto a placement or off one, and reconciled
with the sales table.

Incremental: a writer that changes sales' placements returns, from its UPDATE, each
changed row's placement before and after (`previous_placement_id`, `placement_id`), and
the same statement feeds them to `rollup_apply_sql`: one INSERT … SELECT … GROUP BY … ON
CONFLICT DO UPDATE adding the deltas, never a loop per sale. The deltas come from the rows
the UPDATE actually changed, read after the writer locked them, so two workers never count
the same change, and ON CONFLICT serialises them on the roll-up row. Rows are upserted in
key order, so two batches touching the same months queue rather than deadlock.

Reconciled: `rollup_reconcile` sums the sales of a range in one statement, whose snapshot
also reads the roll-up, and adds the difference (not the sum) to the roll-up: a change
committed after that snapshot is in neither side, so its own delta, added before or after,
still stands. Drift is logged and audited per partner, with counts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db import connection, transaction

from contracts.models import Partner
from core.services import audit_record

logger = logging.getLogger(__name__)

ROLLUP_ACTOR = "system:rollup-reconcile"

_KEY = "partner_id, placement_id, period, currency"


def rollup_add_sql(deltas: str) -> str:
    """INSERT adding `deltas` (a relation with partner_id, placement_id, period, currency,
    sales, amount; several rows per key allowed) to the roll-up. Usable as a CTE."""
    return f"""
    INSERT INTO revenue_salemonthlyrollup AS r ({_KEY}, sales, amount)
    SELECT {_KEY}, sum(sales), sum(amount)
      FROM {deltas}
     GROUP BY {_KEY}
    HAVING sum(sales) <> 0 OR sum(amount) <> 0
     ORDER BY {_KEY}
    ON CONFLICT ({_KEY}) DO UPDATE SET sales = r.sales + EXCLUDED.sales, amount = r.amount + EXCLUDED.amount
    """


def rollup_apply_sql(moved: str) -> str:
    """INSERT adding to the roll-up what the rows of `moved` changed: a relation (a CTE of
    an UPDATE's RETURNING) with partner_id, type, period, currency, amount and the
    placement before (`previous_placement_id`) and after (`placement_id`) the change.
    Usable as a CTE in the writer's statement."""
    deltas = f"""(
        SELECT partner_id, placement_id, period, currency, 1 AS sales, amount
          FROM {moved}
         WHERE type = 'sale' AND placement_id IS NOT NULL AND placement_id IS DISTINCT FROM previous_placement_id
        UNION ALL
        SELECT partner_id, previous_placement_id, period, currency, -1, -amount
          FROM {moved}
         WHERE type = 'sale' AND previous_placement_id IS NOT NULL
           AND placement_id IS DISTINCT FROM previous_placement_id
    ) AS deltas"""
    return rollup_add_sql(deltas)


_RECONCILE = """
WITH truth AS (
    SELECT {key}, count(*) AS sales, sum(amount)::bigint AS amount
      FROM revenue_sale
     WHERE type = 'sale' AND placement_id IS NOT NULL {scope}
     GROUP BY {key}
),
stored AS (
    SELECT {key}, sales, amount FROM revenue_salemonthlyrollup WHERE TRUE {scope}
),
compared AS MATERIALIZED (
    SELECT {key}, coalesce(t.sales, 0) - coalesce(s.sales, 0) AS sales,
           coalesce(t.amount, 0) - coalesce(s.amount, 0) AS amount
      FROM truth t FULL JOIN stored s USING ({key})
),
drift AS MATERIALIZED (SELECT * FROM compared WHERE sales <> 0 OR amount <> 0),
corrected AS ({add})
SELECT NULL::bigint, count(*), NULL::bigint, NULL::bigint, NULL::bigint FROM compared
UNION ALL
SELECT partner_id, count(*), sum(abs(sales)), sum(sales), sum(amount) FROM drift GROUP BY partner_id
"""


@dataclass(frozen=True)
class RollupReconciliation:
    # (partner, placement, month, currency) groups compared, and those found wrong.
    groups: int
    corrected: int
    partner_ids: list[int]


@transaction.atomic
def rollup_reconcile(
    *, period_from: date | None = None, period_to: date | None = None, partner_ids: list[int] | None = None
) -> RollupReconciliation:
    """Recompute the roll-up of the months [period_from, period_to] (unbounded where None)
    of the given partners (all where None) from the sales table and correct any drift,
    leaving an audit record per partner corrected."""
    conditions = []
    params: dict[str, Any] = {"from": period_from, "to": period_to, "partners": partner_ids}
    if period_from is not None:
        conditions.append("AND period >= %(from)s")
    if period_to is not None:
        conditions.append("AND period <= %(to)s")
    if partner_ids is not None:
        conditions.append("AND partner_id = ANY(%(partners)s)")
    with connection.cursor() as cursor:
        cursor.execute(
            _RECONCILE.format(key=_KEY, scope=" ".join(conditions), add=rollup_add_sql("drift")),
            params,
        )
        rows = cursor.fetchall()
    groups = next(int(row[1]) for row in rows if row[0] is None)
    drifted = {int(row[0]): (int(row[1]), int(row[2]), int(row[3]), int(row[4])) for row in rows if row[0] is not None}
    scope = (
        f"{period_from or 'the first month'}…{period_to or 'the last month'}, "
        f"{'all partners' if partner_ids is None else f'partners {sorted(partner_ids)}'}"
    )
    if not drifted:
        logger.info("Revenue roll-up reconciled (%s): %d groups, no drift.", scope, groups)
        return RollupReconciliation(groups=groups, corrected=0, partner_ids=[])
    partners = Partner.objects.in_bulk(list(drifted))
    for partner_id, (corrected, sales_moved, sales_delta, amount_delta) in sorted(drifted.items()):
        summary = (
            f"Revenue roll-up corrected ({scope}): {corrected} month group(s) of {partners[partner_id]}, "
            f"{sales_moved} sale(s) out of place, sales {sales_delta:+d}, amount {amount_delta:+d}"
        )
        logger.warning(summary)
        audit_record(
            actor=None,
            via=ROLLUP_ACTOR,
            action="revenue.rollup_corrected",
            target=partners[partner_id],
            summary=summary,
            partner_id=partner_id,
            changes={
                "groups": corrected,
                "sales_out_of_place": sales_moved,
                "sales": sales_delta,
                "amount": amount_delta,
                "period_from": period_from.isoformat() if period_from else None,
                "period_to": period_to.isoformat() if period_to else None,
            },
        )
    return RollupReconciliation(
        groups=groups, corrected=sum(row[0] for row in drifted.values()), partner_ids=sorted(drifted)
    )


@transaction.atomic
def rollup_rebuild() -> RollupReconciliation:
    """Every month of every partner reconciled: afterwards the roll-up equals the sums of the
    sales table (a rebuild that never empties the table the pages read)."""
    return rollup_reconcile()
