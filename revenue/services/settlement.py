"""Settlement: a statement per contract per period (DESIGN.md §5, §5a), reviewed by
finance, approved into the ledger.

Which events a statement (contract C, period P) counts — the same SQL selects them when
the draft is computed and when it is approved, so approval settles exactly what was shown:
- attributed sales of C's placement not yet on an approved statement, whose own period is
  P, or an earlier period whose statement is already approved (late sales);
- refunds counted the same way by their own period: a refund of a sale that is not on an
  approved statement lowers the net; a refund of a settled sale is clawed back at that
  statement's effective rate;
- outcomes the same way, withdrawn ones not at all.
Periods are approved in order per contract, so credit carried forward is never used twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from contracts.models import Contract, ContractVersion, Payee, Placement, PlacementTransition
from core.currencies import format_money
from core.db import rows_update, transaction_settings
from core.errors import Conflict, ErrorCode, FourEyesRequired, InvalidTransition, ValidationFailed
from core.locks import AdvisoryKey, Lock, advisory_key, lock_session_acquire, lock_session_release
from core.models import AuditLog, User
from core.permissions import finance_require
from core.queue import enqueue_on_commit
from core.services import audit_record
from ledger.services.posting import Posting, journal_entry_post
from revenue.models import Inquiry, SettlementRun, Statement, StatementAdjustment, StatementLine, StatementSplit
from revenue.money import split_largest_remainder
from revenue.rating import rate_period
from revenue.services.attribution import (
    PICK_KIND,
    PICK_PLACEMENT,
    PICK_TOUCHPOINT,
    RULES_CTE,
    WINNING_TOUCH_JOIN,
    WRITE_ATTRIBUTION_SET,
    attribution_rules,
    picked_sales_sql,
    touch_rules_cte,
)
from revenue.services.rollups import rollup_apply_sql
from webhooks.models import EventType
from webhooks.services import webhook_event_emit

logger = logging.getLogger(__name__)

SETTLED = (Statement.Status.APPROVED, Statement.Status.INVOICED, Statement.Status.PAID, Statement.Status.CLOSED)

# Parameters: %(period)s, %(contracts)s, the attribution rules, and %(partners)s (NULL for
# every partner). `scope` maps each contract to its placement; `settled` lists the
# (contract, period) pairs whose statement is approved.
_SCOPE = f"""
    {RULES_CTE}, {touch_rules_cte()},
    scope AS (SELECT id AS contract_id, placement_id FROM contracts_contract
               WHERE id = ANY(%(contracts)s)),
    settled AS (SELECT contract_id, period FROM revenue_statement
                 WHERE status IN ('approved', 'invoiced', 'paid', 'closed') AND contract_id = ANY(%(contracts)s))
"""
# An event counts in the statement of period P when it is unsettled and its own period is
# P, or an earlier period whose statement is already approved ("late").
_COUNTS_IN_PERIOD = """
    ({alias}.period = %(period)s
     OR (sc.contract_id, {alias}.period) IN (SELECT contract_id, period FROM settled))
"""
_PARTNERS = "(%(partners)s::bigint[] IS NULL OR {alias}.partner_id = ANY(%(partners)s::bigint[]))"
# For a few contracts, the only sales that can be theirs are those carrying a key of one of
# their touchpoints: found through the sales' key indexes instead of a scan of the partner's.
# Only sales of P or before can count in P (a refunded sale precedes its refund), so the
# months after P's partitions are left out (revenue_sale is partitioned by month).
_KEYED_SALES = (
    " UNION ALL ".join(
        f"""
    SELECT ks.id FROM revenue_touchpoint kt
      JOIN revenue_sale ks ON ks.partner_id = kt.partner_id AND ks.{column} = kt.key AND ks.period <= %(period)s
     WHERE kt.kind = '{kind}' AND kt.placement_id IN (SELECT placement_id FROM scope)"""
        for kind, column in (("coupon", "coupon_code"), ("click", "click_id"), ("conversation", "conversation_id"))
    )
    + """
    UNION ALL
    SELECT xs.sale_id FROM revenue_saleexclusion xs WHERE xs.placement_id IN (SELECT placement_id FROM scope)"""
)
# Unsettled sales that may count in P, attributed here and now by the rule itself. Sales of
# earlier periods that attribution already found unattributed stay so (a late touchpoint or
# new terms send them back to pending), which keeps old periods out of every run.
_CANDIDATE_SALES = f"""
    candidate_sales AS (
        SELECT id, partner_id, occurred_at, period, amount, coupon_code, click_id, conversation_id
          FROM revenue_sale
         WHERE type = 'sale' AND statement_id IS NULL AND period <= %(period)s
           AND (period = %(period)s OR attribution <> 'unattributed') AND {_PARTNERS.format(alias="revenue_sale")}
           -- A sale carrying no key has no candidate: it counts only where finance named its
           -- placement (an exclusion). Most sales are such (no employee touched them), and
           -- leaving them here spares each its way through the touchpoint joins.
           AND (coupon_code IS NOT NULL OR click_id IS NOT NULL OR conversation_id IS NOT NULL
                OR id IN (SELECT sale_id FROM revenue_saleexclusion))
           {{narrow_sales}}
    )
"""
_COUNTED_SALES = f"""
    {_CANDIDATE_SALES},
    picked_sales AS ({{picked}}),
    counted_sales AS (
        SELECT p.*, sc.contract_id
          FROM picked_sales p JOIN scope sc ON sc.placement_id = p.pick[{PICK_PLACEMENT}]
         WHERE {_COUNTS_IN_PERIOD.format(alias="p")}
    )
"""
_SALES = f"""
WITH {_SCOPE}, {_COUNTED_SALES.format(picked=picked_sales_sql("candidate_sales"), narrow_sales="{narrow_sales}")}
SELECT contract_id,
       count(*) FILTER (WHERE period = %(period)s),
       coalesce(sum(amount) FILTER (WHERE period = %(period)s), 0),
       count(*) FILTER (WHERE period < %(period)s),
       coalesce(sum(amount) FILTER (WHERE period < %(period)s), 0)
  FROM counted_sales
 GROUP BY contract_id
"""
# Unsettled refunds that may count in P, with the sale each refunds: a settled sale keeps
# the placement it was settled for (and its statement's rate, for the clawback); an
# unsettled one is attributed by the rule, as above.
_COUNTED_REFUNDS = f"""
    candidate_refunds AS (
        SELECT r.id, r.amount, r.period, r.refund_of_id
          FROM revenue_sale r
         -- Every refund names its sale (the check sale_refund_names_its_sale): saying so lets
         -- the planner read the refunds from the partial index sale_refund_of instead of
         -- scanning every sale up to P to find the few refunds among them.
         WHERE r.type = 'refund' AND r.refund_of_id IS NOT NULL AND r.statement_id IS NULL AND r.period <= %(period)s
           AND {_PARTNERS.format(alias="r")}
           AND NOT EXISTS (SELECT 1 FROM revenue_saleexclusion rx WHERE rx.sale_id = r.id)
           {{narrow_refunds}}
    ),
    -- The refunded sales, read once: with nested loops off (every contract at once) each
    -- reading is a hash join against every sale up to P, and both uses below need them.
    refunded AS MATERIALIZED (
        SELECT o.id, o.partner_id, o.occurred_at, o.period, o.coupon_code, o.click_id, o.conversation_id,
               o.statement_id, o.attribution, o.placement_id, o.touchpoint_id, o.attributed_key
          FROM revenue_sale o
         WHERE o.id IN (SELECT refund_of_id FROM candidate_refunds)
    ),
    refunded_sales AS (
        SELECT o.id, o.partner_id, o.occurred_at, o.period, o.coupon_code, o.click_id, o.conversation_id
          FROM refunded o
         WHERE o.statement_id IS NULL AND (o.period >= %(period)s OR o.attribution <> 'unattributed')
    ),
    picked_refunded AS ({picked_sales_sql("refunded_sales")}),
    counted_refunds AS (
        SELECT r.id, r.amount, r.period, sc.contract_id, st.effective_rate,
               CASE WHEN o.statement_id IS NOT NULL THEN o.touchpoint_id ELSE p.pick[{PICK_TOUCHPOINT}] END
                   AS touchpoint_id,
               CASE WHEN o.statement_id IS NOT NULL THEN o.attributed_key
                    ELSE coalesce((ARRAY['coupon_code', 'click_id', 'conversation_id'])[p.pick[{PICK_KIND}]], '')
               END AS attributed_key
          FROM candidate_refunds r
          JOIN refunded o ON o.id = r.refund_of_id
          LEFT JOIN picked_refunded p ON p.id = o.id
          LEFT JOIN revenue_statement st ON st.id = o.statement_id
          JOIN scope sc ON sc.placement_id = CASE WHEN o.statement_id IS NOT NULL THEN o.placement_id
                                                  ELSE p.pick[{PICK_PLACEMENT}] END
         WHERE {_COUNTS_IN_PERIOD.format(alias="r")}
    )
"""
_REFUNDS = f"""
WITH {_SCOPE}, {_COUNTED_REFUNDS}
SELECT contract_id, effective_rate, count(*), sum(amount)
  FROM counted_refunds
 GROUP BY contract_id, effective_rate
"""
# The narrowing for a few contracts (see _KEYED_SALES); none when every contract is settled.
_NARROW = {
    True: {
        "narrow_sales": f"AND id IN ({_KEYED_SALES})",
        "narrow_refunds": f"""AND r.refund_of_id IN (
               SELECT ss.id FROM revenue_sale ss
                WHERE ss.placement_id IN (SELECT placement_id FROM scope) AND ss.statement_id IS NOT NULL
               UNION ALL {_KEYED_SALES})""",
    },
    False: {"narrow_sales": "", "narrow_refunds": ""},
}
_OUTCOMES = f"""
WITH {_SCOPE}
SELECT sc.contract_id, o.kind, count(*)
  FROM revenue_outcome o JOIN scope sc ON sc.placement_id = o.placement_id
 WHERE o.withdrawn_at IS NULL AND o.statement_id IS NULL AND o.period <= %(period)s
   AND {_PARTNERS.format(alias="o")} AND {_COUNTS_IN_PERIOD.format(alias="o")}
 GROUP BY sc.contract_id, o.kind
"""
# Withdrawn outcomes whose fee is already on an approved statement: reversed in the first
# open period (every open period's draft shows them; approving the earliest takes them), at
# the fee of the version that statement was rated under.
_REVERSIBLE_OUTCOMES = """
    SELECT o.id, sc.contract_id, o.kind, (v.terms -> 'outcome_fees' ->> o.kind)::bigint AS fee
      FROM revenue_outcome o
      JOIN scope sc ON sc.placement_id = o.placement_id
      JOIN revenue_statement st ON st.id = o.statement_id
      JOIN contracts_contractversion v ON v.contract_id = st.contract_id AND v.number = st.version_number
     WHERE o.withdrawn_at IS NOT NULL AND o.statement_id IS NOT NULL AND o.reversal_statement_id IS NULL
       AND coalesce((v.terms -> 'outcome_fees' ->> o.kind)::bigint, 0) > 0
"""
_OUTCOME_REVERSALS = f"""
WITH {_SCOPE}, reversible AS ({_REVERSIBLE_OUTCOMES})
SELECT contract_id, kind, fee, count(*) FROM reversible GROUP BY contract_id, kind, fee
"""
_MARK_OUTCOME_REVERSALS = f"""
WITH {_SCOPE}, reversible AS ({_REVERSIBLE_OUTCOMES})
UPDATE revenue_outcome o SET reversal_statement_id = %(statement)s
  FROM reversible r
 WHERE o.id = r.id
"""
# Its braces doubled: the statement below is a template, formatted again before it runs.
_ROLLUP_MARKED = rollup_apply_sql("marked").replace("{", "{{").replace("}", "}}")
# Approval settles the very rows the draft counted, for one contract, and writes onto each
# sale the attribution it was settled under, with its explanation. It locks them in id
# order first (`locked`), the one order every writer of sales rows takes them in, so an
# approval and a refund of its sales arriving at the same moment queue instead of
# deadlocking: the update reaches a row only through `locked`, that is, after locking it.
_MARK_SALES = f"""
WITH {_SCOPE}, {
    _COUNTED_SALES.format(picked=picked_sales_sql("candidate_sales", explain=True), narrow_sales="{narrow_sales}")
},
locked AS (
    SELECT id, placement_id FROM revenue_sale WHERE id IN (SELECT id FROM counted_sales) ORDER BY id FOR UPDATE
),
marked AS (
    UPDATE revenue_sale s
       SET statement_id = %(statement)s, {WRITE_ATTRIBUTION_SET}
      FROM locked l
      JOIN counted_sales p ON p.id = l.id
      {WINNING_TOUCH_JOIN}
     WHERE s.id = l.id
    RETURNING s.partner_id, s.type, s.period, s.currency, s.amount, s.placement_id,
              l.placement_id AS previous_placement_id
)
-- The placement it is settled under may not be the one it showed: the roll-up follows.
{_ROLLUP_MARKED}
"""
_MARK_REFUNDS = f"""
WITH {_SCOPE}, {_COUNTED_REFUNDS}
UPDATE revenue_sale r SET statement_id = %(statement)s
  FROM counted_refunds c
 WHERE r.id = c.id
"""
_MARK_OUTCOMES = f"""
WITH {_SCOPE}
UPDATE revenue_outcome o SET statement_id = %(statement)s
  FROM scope sc
 WHERE sc.placement_id = o.placement_id AND o.withdrawn_at IS NULL AND o.statement_id IS NULL
   AND o.period <= %(period)s AND {_PARTNERS.format(alias="o")} AND {_COUNTS_IN_PERIOD.format(alias="o")}
"""

# Every event a statement counts, one row each, for the evidence export and for inquiries
# (which sales stand behind a line). A statement not yet approved counts what the rule picks
# now, by the very CTEs its figures came from; an approved one the rows marked with it.
# `line` is the statement line the event is part of.
_EVENT_COLUMNS = """
SELECT s.id, s.type, s.external_id, s.occurred_at, s.amount, s.currency, s.period,
       o.external_id AS refund_of, coalesce(o.period, s.period) AS attribution_period,
       t.kind AS touch_kind, t.key AS touch_key, t.occurred_at AS touched_at,
       e.attributed_key, e.clawback_rate, e.excluded_by, e.line
  FROM events e JOIN revenue_sale s ON s.id = e.id
  LEFT JOIN revenue_sale o ON o.id = s.refund_of_id
  -- The touchpoint's key and time, from its key table (one probe; a sale's and its refund's
  -- touchpoint is the same partner's).
  LEFT JOIN revenue_touchpointkey t ON t.partner_id = s.partner_id AND t.touchpoint_id = e.touchpoint_id
 ORDER BY s.type DESC, s.occurred_at, s.id
"""
_OPEN_EVENTS = (
    f"WITH {_SCOPE}, "
    + _COUNTED_SALES.format(picked=picked_sales_sql("candidate_sales"), narrow_sales="{narrow_sales}")
    + ", "
    + _COUNTED_REFUNDS
    + f""",
    events AS (
        SELECT id, pick[{PICK_TOUCHPOINT}] AS touchpoint_id,
               coalesce((ARRAY['coupon_code', 'click_id', 'conversation_id'])[pick[{PICK_KIND}]], '')
                   AS attributed_key,
               NULL::numeric AS clawback_rate, excluded_by,
               CASE WHEN period = %(period)s THEN 'attributed_sales' ELSE 'late_sales' END AS line
          FROM counted_sales
        UNION ALL
        SELECT id, touchpoint_id, attributed_key, effective_rate, NULL::bigint,
               CASE WHEN effective_rate IS NULL THEN 'refunds' ELSE 'clawback' END
          FROM counted_refunds
    )
    """
    + _EVENT_COLUMNS
)
_SETTLED_EVENTS = (
    """
WITH events AS (
    SELECT s.id,
           CASE WHEN s.type = 'sale' THEN s.touchpoint_id ELSE o.touchpoint_id END AS touchpoint_id,
           CASE WHEN s.type = 'sale' THEN s.attributed_key ELSE o.attributed_key END AS attributed_key,
           CASE WHEN s.type = 'refund' AND o.statement_id <> s.statement_id THEN os.effective_rate END
               AS clawback_rate,
           x.inquiry_id AS excluded_by,
           CASE WHEN s.type = 'refund' AND o.statement_id <> s.statement_id THEN 'clawback'
                WHEN s.type = 'refund' THEN 'refunds'
                WHEN s.period = %(period)s THEN 'attributed_sales' ELSE 'late_sales' END AS line
      FROM revenue_sale s
      LEFT JOIN revenue_sale o ON o.id = s.refund_of_id
      LEFT JOIN revenue_statement os ON os.id = o.statement_id
      LEFT JOIN revenue_saleexclusion x ON x.sale_id = s.id
     WHERE s.statement_id = %(statement)s
)
"""
    + _EVENT_COLUMNS
)


def counted_events_query(*, statement: Statement) -> tuple[str, dict[str, Any]]:
    """The SQL and parameters of every sale and refund `statement` counts (see _EVENT_COLUMNS),
    to run in one pass over a server-side cursor."""
    if statement.status in SETTLED:
        return _SETTLED_EVENTS, {"statement": statement.pk, "period": statement.period}
    params = _query_params(contract_ids=[statement.contract_id], period=statement.period, every_partner=False)
    return _OPEN_EVENTS.format(**_NARROW[True]), params


def counted_sale_ids(*, statement: Statement, line: str | None = None, sale_id: int | None = None) -> list[int]:
    """Ids of the sales and refunds `statement` counts now (of one line, or the one sale, if given)."""
    sql, params = counted_events_query(statement=statement)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM ({sql}) counted WHERE (%(line)s::text IS NULL OR line = %(line)s) "
            "AND (%(sale)s::bigint IS NULL OR id = %(sale)s)",
            {**params, "line": line, "sale": sale_id},
        )
        return [row[0] for row in cursor.fetchall()]


@dataclass
class PeriodInputs:
    """What one contract's statement for one period is computed from."""

    sales_count: int = 0
    sales_total: int = 0
    late_count: int = 0
    late_total: int = 0
    refunds_count: int = 0
    refunds_total: int = 0
    clawback_count: int = 0
    # (sum of refunds, effective rate of the statement their sales were settled on)
    clawback_refunds: list[tuple[int, str]] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    carried_credit: int = 0
    adjustments: list[tuple[int, str]] = field(default_factory=list)
    version_number: int = 0
    # (kind, count, fee) of withdrawn outcomes already settled, to reverse (§5a).
    outcome_reversals: list[tuple[str, int, int]] = field(default_factory=list)

    @property
    def net(self) -> int:
        return self.sales_total + self.late_total - self.refunds_total

    def has_activity(self) -> bool:
        """Anything for a statement to show besides the minimum: what keeps an ended
        placement's run-off statements coming (§5a)."""
        return bool(
            self.sales_count
            or self.late_count
            or self.refunds_count
            or self.clawback_count
            or any(self.outcomes.values())
            or self.outcome_reversals
            or self.carried_credit
            or self.adjustments
        )

    def fingerprint(self) -> str:
        payload = json.dumps(asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()


def _query_params(*, contract_ids: list[int], period: date, every_partner: bool) -> dict[str, Any]:
    """Parameters of the settlement queries. Attribution looks at the sales of the
    contracts' partners only (a partner's sales can only match its own touchpoints), or at
    every sale when all contracts are settled together."""
    partner_ids = (
        None
        if every_partner
        else sorted(set(Contract.objects.filter(pk__in=contract_ids).values_list("placement__partner_id", flat=True)))
    )
    return {
        "period": period,
        "contracts": contract_ids,
        "partners": partner_ids,
        **attribution_rules(partner_ids=partner_ids),
    }


def period_inputs(*, contract_ids: list[int], period: date, every_partner: bool = False) -> dict[int, PeriodInputs]:
    """Inputs for many contracts at once: three aggregate queries, whatever the volume,
    each attributing the unsettled sales it reads as it goes."""
    inputs: dict[int, PeriodInputs] = defaultdict(PeriodInputs)
    params = _query_params(contract_ids=contract_ids, period=period, every_partner=every_partner)
    # A settlement aggregate reads a whole month of sales: room to hash the touchpoints in
    # memory instead of spilling batches to disk. Every contract at once: hash joins over the
    # month, whatever stale statistics (right after a large load) would have the planner believe.
    planner = {"work_mem": "256MB", **({"enable_nestloop": "off"} if every_partner else {})}
    if settings.SETTLEMENT_PARALLEL_WORKERS is not None:
        planner["max_parallel_workers_per_gather"] = str(int(settings.SETTLEMENT_PARALLEL_WORKERS))
    with transaction.atomic(), connection.cursor() as cursor, transaction_settings(cursor, **planner):
        cursor.execute(_SALES.format(**_NARROW[not every_partner]), params)
        for contract_id, count, total, late_count, late_total in cursor.fetchall():
            item = inputs[contract_id]
            item.sales_count, item.sales_total = count, int(total)
            item.late_count, item.late_total = late_count, int(late_total)
        # The other three read few rows (refunds and outcomes), but their plans, of hash joins
        # over partitioned tables, cost enough for PostgreSQL to compile them to machine code
        # (JIT): about 0.6–0.9 s of compiling for a query that then runs in milliseconds.
        with transaction_settings(cursor, jit="off"):
            cursor.execute(_REFUNDS.format(**_NARROW[not every_partner]), params)
            for contract_id, rate, count, total in cursor.fetchall():
                item = inputs[contract_id]
                if rate is None:  # the sale is not settled yet: the refund lowers the net
                    item.refunds_count, item.refunds_total = count, int(total)
                else:
                    item.clawback_count += count
                    item.clawback_refunds.append((int(total), str(rate)))
            cursor.execute(_OUTCOMES, params)
            for contract_id, kind, count in cursor.fetchall():
                inputs[contract_id].outcomes[kind] = count
            cursor.execute(_OUTCOME_REVERSALS, params)
            for contract_id, kind, fee, count in cursor.fetchall():
                inputs[contract_id].outcome_reversals.append((kind, count, int(fee)))
    for item in inputs.values():
        item.clawback_refunds.sort()
        item.outcome_reversals.sort()
    # The credit each contract carries is the one its latest settled statement left.
    carried = dict(
        Statement.objects.filter(contract_id__in=contract_ids, period__lt=period, status__in=SETTLED)
        .order_by("contract_id", "-period")
        .distinct("contract_id")
        .values_list("contract_id", "credit_carried_forward")
    )
    adjustments: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for contract_id, amount, reason in (
        StatementAdjustment.objects.filter(contract_id__in=contract_ids, period=period)
        .order_by("created_at", "id")
        .values_list("contract_id", "amount", "reason")
    ):
        adjustments[contract_id].append((amount, reason))
    for contract_id in contract_ids:
        item = inputs[contract_id]
        item.carried_credit = carried.get(contract_id, 0)
        item.adjustments = adjustments[contract_id]
    return dict(inputs)


def _period_start_utc(partner_timezone: str, period: date) -> datetime:
    return datetime.combine(period, time.min, tzinfo=ZoneInfo(partner_timezone))


def contracts_to_settle(*, period: date) -> list[Contract]:
    """Contracts with terms in force for the period. Those whose placement ended before the
    period began are in run-off (`contracts_in_run_off`): they get a statement only while
    something is left to settle."""
    return list(
        Contract.objects.filter(versions__status=ContractVersion.Status.ACCEPTED, versions__effective_from__lte=period)
        .select_related("placement__partner")
        .distinct()
        .order_by("id")
    )


def contracts_in_run_off(*, contracts: list[Contract], period: date) -> set[int]:
    """The contracts whose placement had ended before `period` began. An ended placement
    keeps getting statements while it has late sales, refunds to claw back, withdrawn
    outcomes to reverse or credit carried (§5a), but earns no minimum wage for months after
    it left: it was not working for the partner then."""
    ended = [contract for contract in contracts if contract.placement.status == Placement.Status.ENDED]
    if not ended:
        return set()
    ended_at: dict[int, datetime] = {}
    for placement_id, at in (
        PlacementTransition.objects.filter(
            placement_id__in=[contract.placement_id for contract in ended], to_status="ended"
        )
        .order_by("placement_id", "-at")
        .distinct("placement_id")
        .values_list("placement_id", "at")
    ):
        ended_at[placement_id] = at
    return {
        contract.pk
        for contract in ended
        if contract.placement_id in ended_at
        and ended_at[contract.placement_id] < _period_start_utc(contract.placement.partner.timezone, period)
    }


def _apply_adjustments(
    rating: Any, adjustments: int, splits: list[dict[str, str]]
) -> tuple[int, int, int, list[tuple[str, int]]]:
    """Finance adjustments come after everything §5a computes; the total, what is payable
    and the splits follow from the adjusted total."""
    total = rating.total + adjustments
    if total < 0:
        return total, 0, -total, []
    shares = [(split["payee"], Decimal(split["share"])) for split in splits]
    return total, total, 0, split_largest_remainder(total=total, shares=shares)


def _versions_in_force(contract_ids: list[int], period: date) -> dict[int, ContractVersion]:
    versions = (
        ContractVersion.objects.filter(
            contract_id__in=contract_ids, status=ContractVersion.Status.ACCEPTED, effective_from__lte=period
        )
        .order_by("contract_id", "-effective_from")
        .distinct("contract_id")
    )
    return {version.contract_id: version for version in versions}


@transaction.atomic
def statements_compute(
    *, contracts: list[Contract], period: date, inputs: dict[int, PeriodInputs] | None = None
) -> list[Statement]:
    """Write (or rewrite) the draft statements of `contracts` for `period` with a fixed
    number of queries, however many contracts. Approved statements are never touched;
    draft or in-review ones are replaced in full. `inputs` may be computed beforehand for
    many contracts at once (each aggregate reads the period's sales once). A contract in
    run-off gets a statement only when something is left to settle, rated without the
    minimum; a draft it no longer needs is removed."""
    ids = [contract.pk for contract in contracts]
    versions = _versions_in_force(ids, period)
    existing = {
        statement.contract_id: statement
        for statement in Statement.objects.select_for_update().filter(contract_id__in=ids, period=period)
    }
    if inputs is None:
        inputs = period_inputs(contract_ids=ids, period=period)
    run_off = contracts_in_run_off(contracts=contracts, period=period)
    idle_drafts: list[int] = []
    payees = {payee.slug: payee for payee in Payee.objects.all()}
    now = timezone.now()
    results: list[Statement] = []
    computed: list[tuple[Statement, PeriodInputs, Any, list[tuple[str, int]], dict[str, Decimal]]] = []
    for contract in contracts:
        version = versions.get(contract.pk)
        current = existing.get(contract.pk)
        if version is None:
            continue
        if current is not None and current.status in SETTLED:
            results.append(current)
            continue
        item = inputs.get(contract.pk) or PeriodInputs()
        item.version_number = version.number
        terms = version.terms
        if contract.pk in run_off:
            if not item.has_activity():
                if current is not None:
                    idle_drafts.append(current.pk)
                continue
            terms = {**terms, "minimum_per_period": None}
        rating = rate_period(
            terms=terms,
            net=item.net,
            outcomes=item.outcomes,
            clawback_refunds=[(amount, Decimal(rate)) for amount, rate in item.clawback_refunds],
            carried_credit=item.carried_credit,
            outcome_reversals=item.outcome_reversals,
        )
        adjustments_total = sum(amount for amount, _ in item.adjustments)
        total, payable, credit_forward, splits = _apply_adjustments(rating, adjustments_total, terms["splits"])
        statement = current or Statement(contract=contract, period=period)
        statement.status = Statement.Status.DRAFT
        # A recomputed draft is a new figure: whoever sent the old one to review did not see it.
        statement.submitted_by, statement.submitted_at = None, None
        statement.currency = contract.currency
        statement.version_number = version.number
        statement.net = item.net
        statement.share_precise = rating.share_precise
        statement.effective_rate = rating.effective_rate
        statement.wage, statement.clawback = rating.wage, rating.clawback
        statement.outcome_clawback = rating.outcome_clawback
        statement.carried_credit, statement.adjustments = item.carried_credit, adjustments_total
        statement.total, statement.payable, statement.credit_carried_forward = total, payable, credit_forward
        statement.fingerprint, statement.computed_at = item.fingerprint(), now
        shares = {split["payee"]: Decimal(split["share"]) for split in terms["splits"]}
        computed.append((statement, item, rating, splits, shares))

    if idle_drafts:
        Statement.objects.filter(pk__in=idle_drafts).exclude(status__in=SETTLED).delete()
    replaced = [statement for statement, *_ in computed if statement.pk is not None]
    if replaced:
        StatementLine.objects.filter(statement__in=replaced).delete()
        StatementSplit.objects.filter(statement__in=replaced).delete()
        rows_update(
            replaced,
            [
                "status",
                "currency",
                "version_number",
                "net",
                "share_precise",
                "effective_rate",
                "wage",
                "clawback",
                "outcome_clawback",
                "carried_credit",
                "adjustments",
                "total",
                "payable",
                "credit_carried_forward",
                "fingerprint",
                "computed_at",
                "submitted_by",
                "submitted_at",
            ],
        )
    Statement.objects.bulk_create([statement for statement, *_ in computed if statement.pk is None])

    lines: list[StatementLine] = []
    split_rows: list[StatementSplit] = []
    for statement, item, rating, splits, shares in computed:
        lines.extend(_statement_lines(statement, item, rating, period))
        split_rows.extend(
            StatementSplit(statement=statement, payee=payees[slug], share=shares[slug], amount=amount)
            for slug, amount in splits
        )
        results.append(statement)
    StatementLine.objects.bulk_create(lines)
    StatementSplit.objects.bulk_create(split_rows)
    return results


def _statement_lines(statement: Statement, inputs: PeriodInputs, rating: Any, period: date) -> list[StatementLine]:
    lines: list[StatementLine] = []

    def add(
        kind: str,
        description: str,
        *,
        amount: int = 0,
        revenue: int | None = None,
        quantity: int | None = None,
        precise: Decimal | None = None,
    ) -> None:
        lines.append(
            StatementLine(
                statement=statement,
                position=len(lines) + 1,
                kind=kind,
                description=description[:300],
                quantity=quantity,
                revenue=revenue,
                amount_precise=precise,
                amount=amount,
            )
        )

    add(
        "attributed_sales",
        f"Attributed sales in {period:%B %Y}",
        quantity=inputs.sales_count,
        revenue=inputs.sales_total,
    )
    if inputs.late_count:
        add(
            "late_sales",
            "Late sales from periods already approved",
            quantity=inputs.late_count,
            revenue=inputs.late_total,
        )
    if inputs.refunds_count:
        add("refunds", "Refunds of sales not yet settled", quantity=inputs.refunds_count, revenue=-inputs.refunds_total)
    kind_map = {"cap_reduction": "cap"}
    for line in rating.lines():
        add(
            kind_map.get(line.kind, line.kind),
            line.description,
            amount=line.amount,
            precise=line.amount_precise,
            quantity=inputs.clawback_count if line.kind == "clawback" else None,
        )
    for amount, reason in inputs.adjustments:
        add("adjustment", f"Finance adjustment: {reason}", amount=amount, precise=Decimal(amount))
    return lines


def statement_compute(*, contract: Contract, period: date) -> Statement | None:
    """One contract's statement for one period (see statements_compute)."""
    computed = statements_compute(contracts=[contract], period=period)
    return computed[0] if computed else None


def settlement_period_lock(period: date) -> AdvisoryKey:
    """The session advisory lock held while a run computes `period`."""
    return advisory_key(Lock.SETTLEMENT_PERIOD, period.year * 100 + period.month)


def settlement_run_execute(*, run_id: int) -> SettlementRun:
    """Attribute pending sales, then compute every contract's statement for the run's
    period. A session-level advisory lock makes a second run for the same period wait for
    the first and then recompute the same drafts: one result, whatever the timing."""
    run = SettlementRun.objects.get(pk=run_id)
    if run.status == SettlementRun.Status.DONE:
        return run
    lock = settlement_period_lock(run.period)
    lock_session_acquire(lock)
    try:
        run.status, run.started_at, run.error = SettlementRun.Status.RUNNING, timezone.now(), ""
        run.contracts_done = run.statements_written = 0
        run.save()
        contracts = contracts_to_settle(period=run.period)
        run.contracts_total = len(contracts)
        run.save(update_fields=["contracts_total"])
        # Three aggregates over the period's sales for every contract at once, attributing
        # the sales as they read them; statements are then written a chunk at a time so the
        # progress bar moves.
        inputs = period_inputs(
            contract_ids=[contract.pk for contract in contracts], period=run.period, every_partner=True
        )
        run.attributed = sum(item.sales_count + item.late_count for item in inputs.values())
        run.save(update_fields=["attributed"])
        batch = 250
        for start in range(0, len(contracts), batch):
            chunk = contracts[start : start + batch]
            run.statements_written += len(statements_compute(contracts=chunk, period=run.period, inputs=inputs))
            run.contracts_done += len(chunk)
            run.save(update_fields=["contracts_done", "statements_written"])
        run.status, run.finished_at = SettlementRun.Status.DONE, timezone.now()
        run.save(update_fields=["status", "finished_at"])
    except Exception as error:
        run.status, run.error, run.finished_at = SettlementRun.Status.FAILED, str(error)[:2000], timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])
        raise
    finally:
        lock_session_release(lock)
    return run


@transaction.atomic
def settlement_run_request(*, actor: User | None, period: date, trigger: str = "console") -> SettlementRun:
    if actor is not None:
        finance_require(actor, doing="run settlement")
    if period.day != 1:
        raise ValidationFailed(_("A period is a month: give its first day."), fields={"period": [str(period)]})
    run = SettlementRun.objects.create(period=period, requested_by=actor, trigger=trigger)
    enqueue_on_commit("revenue.tasks.settlement_run_task", run.pk)
    return run


def _lock_statement(statement: Statement) -> Statement:
    return (
        Statement.objects.select_for_update(of=("self",))
        .select_related("contract__placement__partner", "contract__placement__employee")
        .get(pk=statement.pk)
    )


def _audit(actor: User, action: str, statement: Statement, summary: str, changes: dict[str, Any]) -> None:
    audit_record(
        actor=actor,
        action=action,
        target=statement,
        summary=summary,
        partner_id=statement.contract.placement.partner_id,
        changes=changes,
    )


@transaction.atomic
def statement_submit(*, actor: User, statement: Statement) -> Statement:
    statement = _lock_statement(statement)
    finance_require(actor, doing="send statements to review")
    if statement.status != Statement.Status.DRAFT:
        raise InvalidTransition(
            _("The statement is %(status)s; only a draft goes to review.") % {"status": statement.status}
        )
    statement.status = Statement.Status.IN_REVIEW
    statement.submitted_by, statement.submitted_at = actor, timezone.now()
    statement.save(update_fields=["status", "submitted_by", "submitted_at"])
    _audit(
        actor,
        "statement.in_review",
        statement,
        f"{statement} sent to review",
        {"status": ["draft", "in_review"], "submitted_by": actor.username},
    )
    _submitted_emit(statement)
    return statement


def _submitted_emit(statement: Statement) -> None:
    """statement.submitted, for the partner's systems: the figures finance is reviewing.
    A statement re-run after review goes back to draft, so each submission is its own event."""
    placement = statement.contract.placement
    assert statement.submitted_at is not None
    webhook_event_emit(
        partner=placement.partner,
        type=EventType.STATEMENT_SUBMITTED,
        key=f"statement:{statement.pk}:submitted:{statement.submitted_at.isoformat()}",
        payload={
            "statement": {
                "id": statement.pk,
                "contract": statement.contract_id,
                "placement": placement.pk,
                "employee": placement.employee.slug,
                "period": f"{statement.period:%Y-%m}",
                "status": statement.status,
                "currency": statement.currency,
                "net": statement.net,
                "wage": statement.wage,
                "clawback": statement.clawback,
                "carried_credit": statement.carried_credit,
                "adjustments": statement.adjustments,
                "total": statement.total,
                "payable": statement.payable,
                "credit_carried_forward": statement.credit_carried_forward,
                "submitted_at": statement.submitted_at,
                "lines": [
                    {"kind": line.kind, "description": line.description, "amount": line.amount}
                    for line in statement.lines.all()
                ],
            }
        },
    )


def four_eyes_threshold(currency: str) -> int:
    """The amount (minor units of `currency`) above which a second person must release money:
    settings.FOUR_EYES_THRESHOLD by currency, "*" for the others, 0 when unset."""
    thresholds: dict[str, int | str] = settings.FOUR_EYES_THRESHOLD
    return int(thresholds.get(currency, thresholds.get("*", 0)))


def _submitter_id(statement: Statement) -> int | None:
    if statement.submitted_by_id is not None:
        return statement.submitted_by_id
    # Sent to review before submitters were recorded on the statement: the audit trail knows.
    return (
        AuditLog.objects.filter(
            action="statement.in_review",
            target_id=str(statement.pk),
            target_type__model="statement",
            target_type__app_label="revenue",
        )
        .order_by("-at", "-id")
        .values_list("actor_id", flat=True)
        .first()
    )


def _check_four_eyes(actor: User, statement: Statement, submitter_id: int | None) -> None:
    threshold = four_eyes_threshold(statement.currency)
    if statement.payable <= threshold or submitter_id is None or submitter_id != actor.pk:
        return
    raise FourEyesRequired(
        f"You sent this statement to review, so another finance user must approve it: "
        f"{format_money(statement.payable, statement.currency)} payable is above the four-eyes "
        f"threshold of {format_money(threshold, statement.currency)}.",
        fields={"approver": ["must be a different finance user than the one who submitted the statement."]},
    )


def _check_no_open_inquiry(statement: Statement) -> None:
    """The partner questioned the figures: money does not move until finance answers."""
    open_ids = list(
        Inquiry.objects.filter(statement=statement, status=Inquiry.Status.OPEN)
        .order_by("id")
        .values_list("pk", flat=True)
    )
    if open_ids:
        listed = ", ".join(f"#{pk}" for pk in open_ids)
        raise Conflict(
            f"The partner has {len(open_ids)} open inquir{'y' if len(open_ids) == 1 else 'ies'} on this statement "
            f"({listed}); accept or reject {'it' if len(open_ids) == 1 else 'them'} before approving.",
            code=ErrorCode.INQUIRY_OPEN,
            fields={"inquiries": [str(pk) for pk in open_ids]},
        )


@transaction.atomic
def statement_adjust(*, actor: User, statement: Statement, amount: int, reason: str) -> Statement:
    statement = _lock_statement(statement)
    finance_require(actor, doing="adjust statements")
    if statement.status in SETTLED:
        raise InvalidTransition(_("An approved statement never changes; adjust the next period instead."))
    if not isinstance(amount, int) or isinstance(amount, bool) or amount == 0:
        raise ValidationFailed(
            _("An adjustment is a non-zero whole number of minor units."),
            fields={"amount": ["must be a non-zero integer."]},
        )
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("An adjustment needs a reason."), fields={"reason": ["is required."]})
    StatementAdjustment.objects.create(
        contract=statement.contract, period=statement.period, amount=amount, reason=reason[:300], created_by=actor
    )
    updated = statement_compute(contract=statement.contract, period=statement.period)
    # The adjustment just stored is something to settle, so the contract has a statement.
    assert updated is not None
    _audit(
        actor,
        "statement.adjusted",
        statement,
        f"{statement} adjusted by {amount}: {reason}",
        {"amount": amount, "reason": reason, "total": [statement.total, updated.total]},
    )
    return updated


@transaction.atomic
def statement_approve(*, actor: User, statement: Statement) -> Statement:
    """Approve: settle the counted events, post Dr partner receivable / Cr payee payables
    and platform revenue, and freeze the statement."""
    statement = _lock_statement(statement)
    finance_require(actor, doing="approve statements")
    if statement.status != Statement.Status.IN_REVIEW:
        raise InvalidTransition(
            _("The statement is %(status)s; only one in review can be approved.") % {"status": statement.status}
        )
    _check_no_open_inquiry(statement)
    submitter_id = _submitter_id(statement)
    _check_four_eyes(actor, statement, submitter_id)
    earlier = (
        Statement.objects.filter(contract=statement.contract, period__lt=statement.period)
        .exclude(status__in=SETTLED)
        .order_by("period")
        .first()
    )
    if earlier is not None:
        raise InvalidTransition(f"Approve {earlier.period:%Y-%m} first: periods are approved in order.")
    contract = statement.contract
    # The inputs again, attributed afresh: sales, refunds or touchpoints received since the
    # draft make it stale rather than slip past and turn up later as "late".
    inputs = period_inputs(contract_ids=[contract.pk], period=statement.period).get(contract.pk, PeriodInputs())
    inputs.version_number = statement.version_number
    if inputs.fingerprint() != statement.fingerprint:
        raise Conflict(
            "New sales, refunds or outcomes arrived since this draft was computed; "
            "re-run the period and review it again."
        )
    params = {
        **_query_params(contract_ids=[contract.pk], period=statement.period, every_partner=False),
        "statement": statement.pk,
    }
    with connection.cursor() as cursor:
        cursor.execute(_MARK_SALES.format(**_NARROW[True]), params)
        cursor.execute(_MARK_REFUNDS.format(**_NARROW[True]), params)
        cursor.execute(_MARK_OUTCOMES, params)
        cursor.execute(_MARK_OUTCOME_REVERSALS, params)
    partner = contract.placement.partner
    if statement.payable > 0:
        postings = [
            Posting(
                f"partner_receivable:{partner.slug}",
                statement.payable,
                statement.currency,
                f"Wage for {statement.period:%Y-%m}",
            )
        ]
        for split in statement.splits.select_related("payee").filter(amount__gt=0):
            code = (
                "platform_revenue" if split.payee.kind == Payee.Kind.PLATFORM else f"payee_payable:{split.payee.slug}"
            )
            postings.append(Posting(code, -split.amount, statement.currency, f"{split.payee.name} share"))
        statement.journal_entry = journal_entry_post(
            idempotency_key=f"statement:{statement.pk}:approved",
            memo=f"{contract.placement} — statement {statement.period:%Y-%m}",
            occurred_on=statement.period,
            postings=postings,
            actor=actor,
        )
    # Nothing payable (a zero period, or a credit carried forward): settled all the same,
    # but closed here, as there is nothing to invoice or pay out.
    status = Statement.Status.APPROVED if statement.payable > 0 else Statement.Status.CLOSED
    statement.status = status
    statement.approved_by, statement.approved_at = actor, timezone.now()
    statement.save(update_fields=["status", "approved_by", "approved_at", "journal_entry"])
    submitter = (
        User.objects.filter(pk=submitter_id).values_list("username", flat=True).first()
        if submitter_id is not None
        else None
    )
    _audit(
        actor,
        "statement.approved",
        statement,
        f"Approved {statement} ({statement.currency} {statement.payable} payable), "
        f"submitted by {submitter or 'unknown'}, approved by {actor.username}"
        + ("; nothing due, closed without an invoice" if status == Statement.Status.CLOSED else ""),
        {
            "status": ["in_review", str(status)],
            "payable": statement.payable,
            "submitted_by": submitter,
            "approved_by": actor.username,
        },
    )
    return statement
