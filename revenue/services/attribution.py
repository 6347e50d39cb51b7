"""Attribution: which placement, if any, earned each sale (DESIGN.md §5a).

One set-based pass over every pending sale at once:
- a candidate is a touchpoint of the same partner whose key the sale carries
  (coupon → coupon_code, click → click_id, conversation → conversation_id);
- it is eligible when its placement's contract, in the version in force for the sale's
  period, counts that key and the sale falls within `window_days` after the touch;
- of the eligible candidates, `last_touch` takes the latest touch and `first_touch` the
  earliest; ties go by the order of the contract's `keys`, then the lowest touchpoint id.
  (Candidates from contracts with different models are ordered last-touch first: the rare
  sale carrying keys of two differently configured placements goes to the last-touch one.)
Sales left over are marked unattributed with the reason. Refunds follow their sale.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction

# One advisory-lock key for attribution passes: two passes at once would only redo each
# other's work, so the second waits for the first.
ATTRIBUTION_LOCK = 0x48414B454E01

# Accepted contract versions as rows a sale's period can be matched against.
_RULES = """
    SELECT p.id AS placement_id,
           v.effective_from AS valid_from,
           COALESCE(LEAD(v.effective_from) OVER (PARTITION BY v.contract_id ORDER BY v.effective_from),
                    'infinity'::date) AS valid_to,
           (v.terms -> 'attribution' ->> 'window_days')::int AS window_days,
           v.terms -> 'attribution' ->> 'model' AS model,
           ARRAY(SELECT jsonb_array_elements_text(v.terms -> 'attribution' -> 'keys')) AS keys
      FROM contracts_contractversion v
      JOIN contracts_contract c ON c.id = v.contract_id
      JOIN contracts_placement p ON p.id = c.placement_id
     WHERE v.status = 'accepted'
"""

_CANDIDATES = """
    SELECT s.id AS sale_id, s.occurred_at, s.period, t.id AS touch_id, t.placement_id,
           t.occurred_at AS touched_at, t.key AS touch_key, '{column}' AS key_name
      FROM pending s
      JOIN revenue_touchpoint t
        ON t.partner_id = s.partner_id AND t.kind = '{kind}' AND t.key = s.{column}
"""

_ATTRIBUTE = f"""
WITH rules AS ({_RULES}),
pending AS (
    SELECT id, partner_id, occurred_at, period, coupon_code, click_id, conversation_id
      FROM revenue_sale
     WHERE attribution = 'pending' AND type = 'sale' {{scope}}
),
candidates AS (
    {_CANDIDATES.format(kind="coupon", column="coupon_code")}
    UNION ALL
    {_CANDIDATES.format(kind="click", column="click_id")}
    UNION ALL
    {_CANDIDATES.format(kind="conversation", column="conversation_id")}
),
eligible AS (
    SELECT c.*, r.model, array_position(r.keys, c.key_name) AS key_rank,
           count(*) OVER (PARTITION BY c.sale_id) AS eligible_count
      FROM candidates c
      JOIN rules r
        ON r.placement_id = c.placement_id AND c.period >= r.valid_from AND c.period < r.valid_to
     WHERE c.key_name = ANY (r.keys)
       AND c.touched_at <= c.occurred_at
       AND c.occurred_at <= c.touched_at + make_interval(days => r.window_days)
),
best AS (
    SELECT DISTINCT ON (sale_id) *
      FROM eligible
     ORDER BY sale_id,
              CASE WHEN model = 'last_touch' THEN touched_at END DESC NULLS LAST,
              CASE WHEN model = 'first_touch' THEN touched_at END ASC NULLS LAST,
              key_rank, touch_id
),
touched AS (SELECT DISTINCT sale_id FROM candidates)
-- One pass: every pending sale is written once, attributed or not, with its reason.
UPDATE revenue_sale s
   SET attribution = CASE WHEN b.sale_id IS NULL THEN 'unattributed' ELSE 'attributed' END,
       placement_id = b.placement_id,
       touchpoint_id = b.touch_id,
       attributed_key = coalesce(b.key_name, ''),
       attribution_note = CASE
           WHEN b.sale_id IS NOT NULL THEN left(format(
               '%%s %%s, touched %%s, %%s after the touch; %%s of %%s eligible touchpoint(s).',
               b.key_name, b.touch_key,
               to_char(b.touched_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'),
               justify_interval(date_trunc('minute', b.occurred_at - b.touched_at)),
               replace(b.model, '_', ' '), b.eligible_count), 300)
           WHEN p.coupon_code IS NULL AND p.click_id IS NULL AND p.conversation_id IS NULL
               THEN 'The sale carries no coupon code, click id or conversation id.'
           WHEN t.sale_id IS NULL THEN 'No employee touchpoint carries this sale''s keys.'
           ELSE 'Touchpoints carry its keys, but none within the attribution window and keys of '
                'a contract in force for the sale''s period.'
       END
  FROM pending p
  LEFT JOIN best b ON b.sale_id = p.id
  LEFT JOIN touched t ON t.sale_id = p.id
 WHERE s.id = p.id
RETURNING s.attribution
"""


@dataclass(frozen=True)
class AttributionResult:
    attributed: int
    unattributed: int


@transaction.atomic
def attribution_run(*, partner_ids: list[int] | None = None, sale_ids: list[int] | None = None) -> AttributionResult:
    """Attribute pending sales: all of them, a partner's, or the given ids (how ingestion
    hands over a batch, so the pass finds them by primary key)."""
    conditions = []
    if partner_ids is not None:
        conditions.append("AND partner_id = ANY(%(partners)s)")
    if sale_ids is not None:
        conditions.append("AND id = ANY(%(sales)s)")
    params = {"partners": partner_ids, "sales": sale_ids}
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ATTRIBUTION_LOCK])
        cursor.execute(_ATTRIBUTE.format(scope=" ".join(conditions)), params)
        outcomes = [row[0] for row in cursor.fetchall()]
    attributed = outcomes.count("attributed")
    return AttributionResult(attributed=attributed, unattributed=len(outcomes) - attributed)


@transaction.atomic
def attribution_reopen(*, period_from: str | None = None, placement_ids: list[int] | None = None) -> int:
    """Send unsettled sales back to pending (after a contract's attribution terms change,
    for instance); closed periods are never reopened: their sales carry a statement."""
    conditions = ["type = 'sale'", "statement_id IS NULL", "attribution <> 'pending'"]
    params: dict[str, object] = {}
    if period_from is not None:
        conditions.append("period >= %(period_from)s")
        params["period_from"] = period_from
    if placement_ids is not None:
        conditions.append("placement_id = ANY(%(placements)s)")
        params["placements"] = placement_ids
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE revenue_sale SET attribution = 'pending', placement_id = NULL, touchpoint_id = NULL, "
            "attributed_key = '', attribution_note = '' WHERE " + " AND ".join(conditions), params)
        return cursor.rowcount
