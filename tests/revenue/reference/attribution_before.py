"""The code before the settlement SQL change of issue 16 (commit 84a4180), frozen: the reference
tests/revenue/test_settlement_equivalence.py holds the current code to. Not imported by the product.

The original docstring follows.

Attribution: which placement, if any, earned each sale (DESIGN.md §5a).

The rule, evaluated in SQL for many sales at once (never a Python loop per sale):
- a candidate is a touchpoint of the same partner whose key the sale carries
  (coupon → coupon_code, click → click_id, conversation → conversation_id);
- it is eligible when its placement's contract, in the version in force for the sale's
  period, counts that key and the sale falls within `window_days` after the touch;
- of the eligible candidates, `last_touch` takes the latest touch and `first_touch` the
  earliest; ties go by the order of the contract's `keys`, then the lowest touchpoint id.
  (Candidates from contracts with different models are ordered last-touch first: the rare
  sale carrying keys of two differently configured placements goes to the last-touch one.)

Touchpoint keys are unique per (partner, kind), so a sale has at most one candidate per
kind: three joins on the unique key (hash joins for a month, index probes for a batch) and
a `LEAST` over three sort keys pick the winner row by row, with no sort and no grouping
per sale. A candidate's sort key is a bigint array — [model rank, ±touch time in µs, key
rank, touchpoint id, placement id, kind code] — and arrays compare element by element, so
`LEAST` is exactly the ordering above (a NULL, an ineligible candidate, is skipped).

Two uses of the same rule:
- settlement evaluates it inside its aggregates for every unsettled sale it counts
  (`picked_sales_sql`), and approval writes the winner onto exactly the rows it settles,
  so what a statement counts never depends on anything precomputed;
- `attribution_run` writes the winner and an explanation onto pending sales right after
  ingestion (by id), which is what the portal and the API show for unsettled sales.
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from contracts.models import ContractVersion, Partner
from core.db import transaction_settings
from core.locks import Lock, advisory_key, lock_transaction_acquire
from revenue.services.rollups import rollup_apply_sql
from webhooks.models import EventType
from webhooks.selectors import partners_listening
from webhooks.services import webhook_event_emit

# One advisory-lock key for attribution passes: two passes at once would only redo each
# other's work, so the second waits for the first.

# The last version of a contract is in force from its start on.
OPEN_ENDED = date.max
KIND_CODES = {"coupon": 1, "click": 2, "conversation": 3}
SALE_KEYS = ("coupon_code", "click_id", "conversation_id")  # by kind code - 1

# The sort key's elements (PostgreSQL arrays are 1-based).
PICK_TOUCHPOINT, PICK_PLACEMENT, PICK_KIND = 4, 5, 6

# Accepted contract versions, as parameter arrays (one element per version): the rules
# travel with the query, so the planner can run it in parallel workers. A kind's rank is
# NULL where the version does not count that kind of key.
RULES_CTE = """
    rules AS NOT MATERIALIZED (
        SELECT * FROM unnest(%(rule_placement)s::bigint[], %(rule_from)s::date[], %(rule_to)s::date[],
                             %(rule_window)s::int[], %(rule_first)s::bool[], %(rule_coupon_rank)s::int[],
                             %(rule_click_rank)s::int[], %(rule_conversation_rank)s::int[])
          AS r(placement_id, valid_from, valid_to, window_days, first_touch, coupon_rank, click_rank,
               conversation_rank)
    )
"""


def touch_rules_cte(touchpoints: str = "revenue_touchpoint") -> str:
    """`touch_rules`: each touchpoint of `touchpoints` (the table, or a CTE of the few a
    batch can match) with the version(s) of its contract that count its kind of key, and
    its sort key, built once per touchpoint rather than once per sale."""
    rank = "CASE t.kind WHEN 'coupon' THEN r.coupon_rank WHEN 'click' THEN r.click_rank ELSE r.conversation_rank END"
    # extract() is exact (numeric): touches a microsecond apart keep their order.
    return f"""
    touch_rules AS NOT MATERIALIZED (
        SELECT t.partner_id, t.kind, t.key, t.occurred_at AS touched_at,
               t.occurred_at + make_interval(days => r.window_days) AS touch_until,
               r.valid_from, r.valid_to,
               ARRAY[r.first_touch::int::bigint,
                     CASE WHEN r.first_touch THEN 1 ELSE -1 END
                         * (extract(epoch FROM t.occurred_at) * 1000000)::bigint,
                     {rank}, t.id, t.placement_id,
                     CASE t.kind WHEN 'coupon' THEN 1 WHEN 'click' THEN 2 ELSE 3 END] AS pick
          FROM {touchpoints} t JOIN rules r ON r.placement_id = t.placement_id
         WHERE {rank} IS NOT NULL
    )
    """


# The touchpoints a few sales (`source`) can match, found through the key index: a batch
# then never reads the whole touchpoint table. Only a touch within the attribution window
# before a sale can be eligible, so the batch's window — %(touch_from)s (its earliest sale
# less the longest window) to %(touch_until)s (its latest sale) — bounds them too: the
# touchpoints are partitioned by month on occurred_at (migration 0020), and the look-up then
# reads the window's months only. A touchpoint outside it was never eligible for these sales.
def batch_touchpoints_cte(source: str) -> str:
    return (
        "batch_touchpoints AS MATERIALIZED ("
        + " UNION ".join(
            f"""
        SELECT t.* FROM {source} s JOIN revenue_touchpoint t
            ON t.partner_id = s.partner_id AND t.kind = '{kind}' AND t.key = s.{column}
           AND t.occurred_at >= %(touch_from)s AND t.occurred_at <= %(touch_until)s"""
            for kind, column in (("coupon", "coupon_code"), ("click", "click_id"), ("conversation", "conversation_id"))
        )
        + ")"
    )


def _candidate(alias: str) -> str:
    return (
        f"CASE WHEN {alias}.touched_at <= s.occurred_at AND s.occurred_at <= {alias}.touch_until THEN {alias}.pick END"
    )


_JOINS = """
      LEFT JOIN touch_rules c ON c.partner_id = s.partner_id AND c.kind = 'coupon' AND c.key = s.coupon_code
                             AND s.period >= c.valid_from AND s.period < c.valid_to
      LEFT JOIN touch_rules k ON k.partner_id = s.partner_id AND k.kind = 'click' AND k.key = s.click_id
                             AND s.period >= k.valid_from AND s.period < k.valid_to
      LEFT JOIN touch_rules v ON v.partner_id = s.partner_id AND v.kind = 'conversation'
                             AND v.key = s.conversation_id
                             AND s.period >= v.valid_from AND s.period < v.valid_to
"""


def picked_sales_sql(source: str, *, explain: bool = False) -> str:
    """A SELECT over `source` (a CTE or table aliased `s`, with the sale columns id,
    partner_id, occurred_at, period and the three keys) adding `pick`, the winning
    candidate's sort key (NULL when no candidate is eligible). `explain` adds how many
    candidates were eligible. Needs RULES_CTE and a touch_rules_cte in the same WITH."""
    extra = ""
    if explain:
        extra = ", " + " + ".join(f"({_candidate(alias)} IS NOT NULL)::int" for alias in "ckv") + " AS eligible"
    # A sale finance took out (an accepted inquiry) has no pick, or the placement finance
    # named, with no touchpoint or key: the decision is stored, so every pass repeats it.
    return f"""
    SELECT s.*,
           CASE WHEN x.id IS NULL THEN LEAST({_candidate("c")}, {_candidate("k")}, {_candidate("v")})
                WHEN x.placement_id IS NOT NULL THEN ARRAY[0, 0, 0, NULL, x.placement_id, NULL]::bigint[]
           END AS pick,
           x.inquiry_id AS excluded_by{extra}
      FROM {source} s
      LEFT JOIN revenue_saleexclusion x ON x.sale_id = s.id
      {_JOINS}
    """


def attribution_rules(*, partner_ids: list[int] | None = None) -> dict[str, list[Any]]:
    """The query parameters RULES_CTE reads: every accepted contract version (of the
    given partners' placements), with the period range it is in force for."""
    versions = ContractVersion.objects.filter(status=ContractVersion.Status.ACCEPTED)
    if partner_ids is not None:
        versions = versions.filter(contract__placement__partner_id__in=partner_ids)
    rows = list(
        versions.order_by("contract_id", "effective_from").values_list(
            "contract_id", "contract__placement_id", "effective_from", "terms"
        )
    )
    params: dict[str, list[Any]] = {
        name: []
        for name in (
            "rule_placement",
            "rule_from",
            "rule_to",
            "rule_window",
            "rule_first",
            "rule_coupon_rank",
            "rule_click_rank",
            "rule_conversation_rank",
        )
    }
    for index, (contract_id, placement_id, effective_from, terms) in enumerate(rows):
        following = rows[index + 1] if index + 1 < len(rows) else None
        rules = terms["attribution"]
        keys = list(rules["keys"])
        params["rule_placement"].append(placement_id)
        params["rule_from"].append(effective_from)
        params["rule_to"].append(following[2] if following and following[0] == contract_id else OPEN_ENDED)
        params["rule_window"].append(int(rules["window_days"]))
        params["rule_first"].append(rules["model"] == "first_touch")
        for key, name in zip(SALE_KEYS, ("rule_coupon_rank", "rule_click_rank", "rule_conversation_rank"), strict=True):
            params[name].append(keys.index(key) + 1 if key in keys else None)
    return params


# What a settled or freshly attributed sale carries: the winner and, in words, why (or why
# not). Reads `p` (a picked_sales_sql row with `eligible`) and `t` (the winning touchpoint's
# key: revenue_touchpointkey, joined as WINNING_TOUCH_JOIN does — one probe of an unpartitioned
# unique index rather than one per month of the partitioned touchpoints). Whether any
# touchpoint carries a key is asked of the key table too, which holds exactly their keys.
WRITE_ATTRIBUTION_SET = """
       attribution = CASE WHEN p.pick IS NULL THEN 'unattributed' ELSE 'attributed' END,
       placement_id = p.pick[5],
       touchpoint_id = p.pick[4],
       attributed_key = coalesce((ARRAY['coupon_code', 'click_id', 'conversation_id'])[p.pick[6]], ''),
       attribution_note = CASE
           WHEN p.excluded_by IS NOT NULL AND p.pick IS NULL
               THEN format('Excluded by finance on accepting inquiry #%%s.', p.excluded_by)
           WHEN p.excluded_by IS NOT NULL
               THEN format('Re-attributed by finance to placement %%s on accepting inquiry #%%s.', p.pick[5],
                           p.excluded_by)
           WHEN p.pick IS NOT NULL THEN left(format(
               '%%s %%s, touched %%s, %%s after the touch; %%s of %%s eligible touchpoint(s).',
               (ARRAY['coupon_code', 'click_id', 'conversation_id'])[p.pick[6]], t.key,
               to_char(t.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'),
               justify_interval(date_trunc('minute', p.occurred_at - t.occurred_at)),
               CASE p.pick[1] WHEN 1 THEN 'first touch' ELSE 'last touch' END, p.eligible), 300)
           WHEN p.coupon_code IS NULL AND p.click_id IS NULL AND p.conversation_id IS NULL
               THEN 'The sale carries no coupon code, click id or conversation id.'
           WHEN NOT EXISTS (SELECT 1 FROM revenue_touchpointkey x
                             WHERE x.partner_id = p.partner_id AND x.kind = 'coupon' AND x.key = p.coupon_code)
            AND NOT EXISTS (SELECT 1 FROM revenue_touchpointkey x
                             WHERE x.partner_id = p.partner_id AND x.kind = 'click' AND x.key = p.click_id)
            AND NOT EXISTS (SELECT 1 FROM revenue_touchpointkey x
                             WHERE x.partner_id = p.partner_id AND x.kind = 'conversation'
                               AND x.key = p.conversation_id)
               THEN 'No employee touchpoint carries this sale''s keys.'
           ELSE 'Touchpoints carry its keys, but none within the attribution window and keys of '
                'a contract in force for the sale''s period.'
       END
"""
# The winning touchpoint of `p` for WRITE_ATTRIBUTION_SET (its key and time).
WINNING_TOUCH_JOIN = f"""
      LEFT JOIN revenue_touchpointkey t ON t.partner_id = p.partner_id AND t.touchpoint_id = p.pick[{PICK_TOUCHPOINT}]
"""

_ATTRIBUTE = """
WITH {rules},
pending AS MATERIALIZED (
    SELECT s.id, s.partner_id, s.occurred_at, s.period, s.coupon_code, s.click_id, s.conversation_id,
           s.placement_id AS previous_placement_id
      FROM {locked} JOIN revenue_sale s ON s.id = l.id
),
{touch_rules},
picked AS ({picked}),
written AS (
    UPDATE revenue_sale s
       SET {write}
      FROM picked p
      {winning_touch}
     WHERE s.id = p.id
    RETURNING s.id, s.partner_id, s.attribution, s.external_id, s.placement_id, s.attributed_key, s.amount,
              s.currency, s.occurred_at, s.type, s.period, p.previous_placement_id
),
-- The monthly roll-up follows in the same statement (revenue.services.rollups).
rolled_up AS ({rollup}),
-- What the pass attributed, for the sale.attributed webhook: only for the partners with an
-- endpoint listening, in parts of at most WEBHOOK_SALES_PER_EVENT sales, built here as JSON
-- rather than row by row in Python. The row without a partner holds the pass's totals.
told AS (
    SELECT w.*, (row_number() OVER (PARTITION BY w.partner_id ORDER BY w.id) - 1) / %(per_event)s AS part
      FROM written w
     WHERE w.attribution = 'attributed' AND w.partner_id = ANY(%(listening)s::bigint[])
)
SELECT NULL::bigint AS partner_id, NULL::bigint AS part, count(*) FILTER (WHERE attribution = 'attributed'),
       count(*) FILTER (WHERE attribution <> 'attributed'), NULL::json
  FROM written
UNION ALL
SELECT partner_id, part, NULL, NULL,
       json_agg(json_build_object('id', id, 'external_id', external_id, 'placement', placement_id,
                                  'attributed_key', attributed_key, 'amount', amount, 'currency', currency,
                                  'occurred_at', occurred_at) ORDER BY id)
  FROM told
 GROUP BY partner_id, part
"""

# Step one of a pass: lock the pending sales it will decide, in id order (the one lock order
# for sales rows: ingestion, uploads, resets and approval lock them so too), skipping rows
# another transaction holds. Those are being written (a refund of them, a late touchpoint's
# reset), and whoever holds them leaves them pending and queues a pass of its own, so a pass
# never waits on a sale and can never be one end of a deadlock. A batch's few ids come back
# to Python; a whole pass's go to a temporary table, as it can lock millions.
_PENDING_TO_LOCK = """
SELECT id, occurred_at FROM revenue_sale
 WHERE attribution = 'pending' AND type = 'sale' AND statement_id IS NULL {scope}
 ORDER BY id {limit}
   FOR UPDATE SKIP LOCKED
"""


@dataclass(frozen=True)
class AttributionResult:
    attributed: int
    unattributed: int
    # Pending sales left for a later pass because another transaction held them.
    skipped: int = 0


@transaction.atomic
def attribution_run(
    *, partner_ids: list[int] | None = None, sale_ids: list[int] | None = None, limit: int | None = None
) -> AttributionResult:
    """Attribute pending sales and explain each decision: all of them, a partner's, the
    given ids (how ingestion hands over a batch, so the pass finds them by primary key),
    or the oldest `limit` (the sweep that catches batches whose hand-over was lost).

    The decision is a pure function of what is stored. The pass first locks the sales it
    decides, then reads the rules and decides in a later statement, so its snapshot holds
    every touchpoint and every accepted version committed before it held the sales. Anything
    that commits later and could change a decision (a touchpoint carrying a sale's key, new
    terms) must lock the same sales to send them back to pending, so it waits for this pass
    and then resets what the pass wrote: no decision is ever made on a stale snapshot and left
    standing."""
    conditions = []
    if partner_ids is not None:
        conditions.append("AND partner_id = ANY(%(partners)s)")
    periods = None
    if sale_ids is not None:
        conditions.append("AND id = ANY(%(sales)s)")
        if partner_ids is not None:
            # The batch's months, from the key table (revenue_sale is partitioned by month):
            # the lock then reads only their partitions, not every month's id index.
            periods = _sale_periods(partner_ids, sale_ids)
            conditions.append("AND period = ANY(%(periods)s::date[])")
    params: dict[str, Any] = {
        "partners": partner_ids,
        "sales": sale_ids,
        "periods": periods,
        "limit": limit,
        "listening": sorted(partners_listening(partner_ids=partner_ids, event_type=EventType.SALE_ATTRIBUTED)),
        "per_event": max(1, int(settings.WEBHOOK_SALES_PER_EVENT)),
    }
    batch = sale_ids is not None or limit is not None
    lock_transaction_acquire(advisory_key(Lock.ATTRIBUTION))
    with connection.cursor() as cursor:
        lock = _PENDING_TO_LOCK.format(scope=" ".join(conditions), limit="LIMIT %(limit)s" if limit is not None else "")
        if batch:
            cursor.execute(lock, params)
            pending = cursor.fetchall()
            params["locked"] = [row[0] for row in pending]
            locked, locked_source = len(params["locked"]), "unnest(%(locked)s::bigint[]) AS l(id)"
        else:
            # A pass inside a caller's transaction (a test, a seed) may follow another one there.
            cursor.execute("DROP TABLE IF EXISTS attribution_locked")
            cursor.execute(f"CREATE TEMPORARY TABLE attribution_locked ON COMMIT DROP AS {lock}", params)
            locked, locked_source = cursor.rowcount, "attribution_locked l"
            cursor.execute("ANALYZE attribution_locked")
        params.update(attribution_rules(partner_ids=partner_ids))
        if batch:
            # The batch's window (batch_touchpoints_cte): no sale pending, no touchpoint read.
            longest = timedelta(days=max(params["rule_window"], default=0))
            params["touch_from"] = min((at for _, at in pending), default=None)
            params["touch_until"] = max((at for _, at in pending), default=None)
            if params["touch_from"] is not None:
                params["touch_from"] -= longest
        # A whole pass is made of hash joins. Right after a large load the planner's
        # statistics can still say the tables are nearly empty, and nested loops over
        # whole tables, planned on that belief, take minutes instead of seconds.
        planner = {} if batch else {"enable_nestloop": "off"}
        # A batch (ids or a limit) reaches its few touchpoints by index; a whole pass hashes them all.
        touch_rules = (
            f"{batch_touchpoints_cte('pending')}, {touch_rules_cte('batch_touchpoints')}"
            if batch
            else touch_rules_cte()
        )
        with transaction_settings(cursor, **planner):
            cursor.execute(
                _ATTRIBUTE.format(
                    rules=RULES_CTE,
                    touch_rules=touch_rules,
                    locked=locked_source,
                    picked=picked_sales_sql("pending", explain=True),
                    write=WRITE_ATTRIBUTION_SET,
                    winning_touch=WINNING_TOUCH_JOIN,
                    rollup=rollup_apply_sql("written"),
                ),
                params,
            )
            rows = cursor.fetchall()
        skipped = 0
        if sale_ids is not None and locked < len(sale_ids):
            cursor.execute(
                "SELECT count(*) FROM revenue_sale WHERE id = ANY(%(sales)s) AND attribution = 'pending' "
                "AND type = 'sale' AND statement_id IS NULL",
                params,
            )
            skipped = cursor.fetchone()[0]
    totals = next(row for row in rows if row[0] is None)
    _attributed_emit([(int(row[0]), int(row[1]), row[4]) for row in rows if row[0] is not None])
    return AttributionResult(attributed=int(totals[2]), unattributed=int(totals[3]), skipped=skipped)


def _sale_periods(partner_ids: list[int], sale_ids: list[int]) -> list[date]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT period FROM revenue_salekey WHERE partner_id = ANY(%s) AND sale_id = ANY(%s)",
            [partner_ids, sale_ids],
        )
        return [row[0] for row in cursor.fetchall()]


def _attributed_emit(parts: list[tuple[int, int, list[dict[str, Any]]]]) -> None:
    """One sale.attributed event per partner for this pass (several when it attributed more
    than settings.WEBHOOK_SALES_PER_EVENT of its sales), in the pass's transaction."""
    if not parts:
        return
    pass_id = secrets.token_hex(8)
    partners = Partner.objects.in_bulk({partner_id for partner_id, _, _ in parts})
    counts = Counter(partner_id for partner_id, _, _ in parts)
    for partner_id, part, sales in sorted(parts, key=lambda p: (p[0], p[1])):
        webhook_event_emit(
            partner=partners[partner_id],
            type=EventType.SALE_ATTRIBUTED,
            key=f"attribution-pass:{pass_id}:{part}",
            payload={"sales": sales, "count": len(sales), "part": part + 1, "parts": counts[partner_id]},
        )


# Sending sales back to pending locks them in id order first (the one lock order), and
# includes sales that are pending already: a pass may hold them and be deciding on a
# snapshot without the change, and the lock makes this wait for it, then reset its decision.
# The placement each sale had is read as it is locked (the latest committed one, if the
# lock had to wait), and taken off the monthly roll-up in the same statement. `partitions`
# bounds the update's months (" AND s.period >= …") where the caller knows them: without it
# the update is planned over every month's partition, whatever `condition` prunes.
RESET_TO_PENDING_SQL = (
    """
WITH locked AS MATERIALIZED (
    SELECT id, placement_id FROM revenue_sale WHERE {condition} ORDER BY id FOR UPDATE
),
reset AS (
    UPDATE revenue_sale s
    SET attribution = 'pending', placement_id = NULL, touchpoint_id = NULL, attributed_key = '',
        attribution_note = ''
      FROM locked l
     WHERE s.id = l.id{partitions}
    RETURNING s.id, s.partner_id, s.type, s.period, s.currency, s.amount, s.placement_id,
              l.placement_id AS previous_placement_id
),
rolled_up AS ("""
    + rollup_apply_sql("reset").replace("{", "{{").replace("}", "}}")
    + """)
SELECT id FROM reset
"""
)


@transaction.atomic
def attribution_reopen(
    *, period_from: date | None = None, placement_ids: list[int] | None = None, partner_ids: list[int] | None = None
) -> int:
    """Send unsettled sales back to pending (after a contract's terms change, for instance)
    and return how many; closed periods are never reopened: their sales carry a
    statement."""
    conditions = ["type = 'sale'", "statement_id IS NULL"]
    params: dict[str, date | list[int]] = {}
    if period_from is not None:
        conditions.append("period >= %(period_from)s")
        params["period_from"] = period_from
    if placement_ids is not None:
        conditions.append("placement_id = ANY(%(placements)s)")
        params["placements"] = placement_ids
    if partner_ids is not None:
        conditions.append("partner_id = ANY(%(partners)s)")
        params["partners"] = partner_ids
    with connection.cursor() as cursor:
        cursor.execute(RESET_TO_PENDING_SQL.format(condition=" AND ".join(conditions), partitions=""), params)
        return int(cursor.rowcount)
