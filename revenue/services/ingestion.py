"""Ingestion of what partners report: sales and refunds, touchpoints, outcomes (DESIGN.md
§5, §5b).

Every batch goes through two steps:

1. validation in plain Python, one cheap pass per event (no ORM objects, no serializers),
   by the rules of `revenue/sale_rules.py` (which drive the CSV upload's SQL checks too);
   an invalid event becomes a rejection with a stable code and never reaches the
   database;
2. set-based SQL: one `INSERT … SELECT … FROM unnest(…) ON CONFLICT DO NOTHING RETURNING`
   per kind of row, plus a handful of batch-wide reads (existing rows, locks on the sales
   being refunded). The number of queries does not grow with the batch.

Idempotency. A sale's `external_id` is its idempotency key (unique per partner); its
`content_digest` is the SHA-256 of the canonical event (`sale_digest`: fields normalised, in
a fixed order, `occurred_at` in UTC microseconds). The same id with the same digest — in the database or earlier in the
batch — is a *duplicate* and changes nothing; with another digest it is rejected as a
*conflict*. Touchpoints are keyed by (partner, kind, key) and outcomes by (placement,
kind, external_id); their content is compared column by column.

Concurrency. Rows are inserted in a fixed order (sorted by key), so two batches sharing
keys wait for each other instead of deadlocking; the loser sees the winner's rows as
duplicates. Refunds lock the sales they name (`SELECT … ORDER BY id FOR UPDATE`) and only
then sum the refunds already stored, so two concurrent batches can never refund more than
a sale's amount.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple, TypeVar

import orjson
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from contracts.models import Partner, Placement
from core.db import transaction_settings
from core.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from core.queue import enqueue_on_commit
from revenue import sale_rules
from revenue.models import Outcome, OutcomeKey, Sale, SaleUpload, Touchpoint
from revenue.sale_rules import (  # noqa: F401  (re-exported: callers import them from here)
    EARLIEST_OCCURRED_AT,
    FUTURE_TOLERANCE,
    MAX_AMOUNT,
    MAX_KEY_LENGTH,
    SALE_FIELDS,
    SALE_OPTIONAL_KEYS,
    RejectionCode,
)
from revenue.services.attribution import RESET_TO_PENDING_SQL
from webhooks.models import EventType
from webhooks.services import webhook_event_emit

MAX_DATABASE_ID = 2**63 - 1

# Placements that can still earn: touchpoints and outcomes for others are refused.
EARNING_PLACEMENT_STATUSES = frozenset({Placement.Status.APPROVED, Placement.Status.ACTIVE, Placement.Status.PAUSED})


@dataclass(frozen=True)
class Rejection:
    index: int
    external_id: str | None
    code: str
    message: str
    # The event field at fault, where there is one (the CSV upload names the column).
    field: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "external_id": self.external_id, "code": self.code, "message": self.message}


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    # Ids of the rows this call inserted: Sale rows (sales and refunds) for sales_ingest,
    # Touchpoint rows for touchpoints_ingest, Outcome rows for outcomes_ingest.
    inserted_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The public answer of DESIGN.md §5b."""
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [rejection.as_dict() for rejection in self.rejected],
        }


# --- validation helpers -----------------------------------------------------------------


class _Reject(Exception):
    """Internal control flow: one event is rejected."""

    def __init__(self, code: str, message: str, field: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


# The checks of a text field and a time, and their messages, are sale_rules' (touchpoints and
# outcomes use them too); they raise sale_rules.Rejected, which _parse_each reports.


def _text(event: dict[str, Any], name: str) -> str:
    """A required string field of 1–128 characters."""
    return sale_rules.check_text(event.get(name), name=name, required=True)


def _instant(value: Any, name: str, latest: datetime) -> datetime:
    """An aware ISO 8601 date-time, converted to UTC."""
    return sale_rules.check_instant(value, name=name, latest=latest)


def _placement_id(event: dict[str, Any]) -> int:
    value = event.get("placement")
    if value is None:
        raise _Reject(RejectionCode.INVALID, "placement is required (a placement id).", "placement")
    if type(value) is not int:
        raise _Reject(RejectionCode.INVALID, "placement must be an integer id.", "placement")
    return value


def _unknown_fields(event: dict[str, Any], allowed: frozenset[str]) -> None:
    sale_rules.check_unknown_fields(event, allowed)


def _echo_id(event: Any, name: str) -> str | None:
    """The event's id as it was sent, to echo in a rejection (None if it is not a string)."""
    value = event.get(name) if isinstance(event, dict) else None
    return value[:MAX_KEY_LENGTH] if isinstance(value, str) else None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def sale_digest(
    *,
    external_id: str,
    type: str,
    occurred_at: datetime,
    amount: int,
    currency: str,
    keys: Sequence[str | None],
    refund_of: str | None,
) -> str:
    """SHA-256 of the canonical event: its fields in a fixed order (the five optional keys in
    SALE_OPTIONAL_KEYS' order), `|` between them, every text as `<length>:<text>` (so no
    value can imitate a separator) or `~` when absent, `occurred_at` as whole microseconds
    since 1970 (UTC, whatever offset was sent)."""
    micros = (occurred_at - _EPOCH) // timedelta(microseconds=1)
    texts = (external_id, type, currency, *keys, refund_of)
    encoded = [("~" if text is None else f"{len(text)}:{text}") for text in texts]
    canonical = "|".join([*encoded[:2], str(micros), str(amount), *encoded[2:]])
    return hashlib.sha256(canonical.encode()).hexdigest()


# The same digest of a sale event, computed by PostgreSQL (the CSV upload checks whole files
# in SQL): the exact text `sale_digest` hashes. Placeholders name SQL expressions: text (NULL
# when absent), bigint amount, timestamptz occurred_at. The same event posted through either
# path must digest the same, or a re-sent event would be a conflict instead of a duplicate;
# tests hold the two together (length() counts characters, as Python's len counts code points).
SALE_DIGEST_SQL = (
    "encode(sha256(convert_to("
    + " || '|' || ".join(
        [
            *(f"coalesce(length({{{name}}}) || ':' || {{{name}}}, '~')" for name in ("external_id", "type")),
            "(extract(epoch FROM {occurred_at}) * 1000000)::bigint::text",
            "({amount})::text",
            *(
                f"coalesce(length({{{name}}}) || ':' || {{{name}}}, '~')"
                for name in (
                    "currency",
                    "coupon_code",
                    "click_id",
                    "conversation_id",
                    "customer_ref",
                    "store_id",
                    "refund_of",
                )
            ),
        ]
    )
    + ", 'UTF8')), 'hex')"
)


_Row = TypeVar("_Row")


def _parse_each(items: list[Any], parse: Callable[[int, Any], _Row], outcomes: _Outcomes, id_field: str) -> list[_Row]:
    """Parse every item in order; an item that does not parse is rejected under its index."""
    parsed: list[_Row] = []
    for index, item in enumerate(items):
        try:
            parsed.append(parse(index, item))
        except (_Reject, sale_rules.Rejected) as reject:
            outcomes.reject(index, _echo_id(item, id_field), reject.code, reject.message, reject.field)
    return parsed


def _after_ingest(partner_id: int, sale_ids: list[int] | None) -> None:
    """THE call site that hands newly stored (or reset) sales to attribution (DESIGN.md §5
    step 3), after the transaction commits. Passing the ids lets attribution find them by
    primary key instead of scanning the partner's sales."""
    enqueue_on_commit("revenue.tasks.attribution_run_task", partner_id, sale_ids)


class _Outcomes:
    """Per-index outcome of a batch: "accepted", "duplicate" or a Rejection."""

    def __init__(self, size: int) -> None:
        self.status: list[Any] = [None] * size

    def reject(self, index: int, external_id: str | None, code: str, message: str, field: str = "") -> None:
        self.status[index] = Rejection(index, external_id, code, message, field)

    def follow(self, followers: Iterable[tuple[int, int]]) -> None:
        """Later copies of an event in the same batch share the first copy's fate."""
        for index, primary in followers:
            first = self.status[primary]
            if isinstance(first, Rejection):
                self.status[index] = Rejection(index, first.external_id, first.code, first.message, first.field)
            else:
                self.status[index] = "duplicate"

    def result(self, inserted_ids: list[int]) -> IngestResult:
        result = IngestResult(inserted_ids=inserted_ids)
        for status in self.status:
            if status == "accepted":
                result.accepted += 1
            elif status == "duplicate":
                result.duplicates += 1
            else:
                result.rejected.append(status)
        return result


# --- sales and refunds ------------------------------------------------------------------


class _SaleRow(NamedTuple):
    position: int  # the event's index in the batch (a field `index` would shadow tuple.index)
    external_id: str
    type: str
    occurred_at: datetime
    amount: int
    currency: str
    coupon_code: str | None
    click_id: str | None
    conversation_id: str | None
    customer_ref: str | None
    store_id: str | None
    refund_of: str | None
    digest: str


def _sale_parse(index: int, event: Any, partner_currency: str, latest: datetime) -> _SaleRow:
    """The event typed and digested, if it keeps the rules of sale_rules (else Rejected)."""
    values = sale_rules.check_sale_event(event, partner_currency=partner_currency, latest=latest)
    keys = [values[name] for name in SALE_OPTIONAL_KEYS]
    digest = sale_digest(
        external_id=values["external_id"],
        type=values["type"],
        occurred_at=values["occurred_at"],
        amount=values["amount"],
        currency=values["currency"],
        keys=keys,
        refund_of=values["refund_of"],
    )
    return _SaleRow(
        position=index,
        external_id=values["external_id"],
        type=values["type"],
        occurred_at=values["occurred_at"],
        amount=values["amount"],
        currency=values["currency"],
        coupon_code=values["coupon_code"],
        click_id=values["click_id"],
        conversation_id=values["conversation_id"],
        customer_ref=values["customer_ref"],
        store_id=values["store_id"],
        refund_of=values["refund_of"],
        digest=digest,
    )


# Keys first: the idempotency key (partner, external_id) is unique in revenue_salekey, not in
# the partitioned revenue_sale (migration 0017). The key insert claims each new key, with the
# sale's id and month, and skips keys already taken (a concurrent batch's claim waits for it,
# as the unique index did); only the claimed rows become sales, in the same statement (the
# sales' trigger finds its key claimed for that id and lets it pass). The ids are drawn in
# external_id order, the order the keys are locked in.
_SALE_INSERT = """
WITH e AS MATERIALIZED (
    SELECT e.*, date_trunc('month', e.occurred_at AT TIME ZONE %s)::date AS period
    FROM json_to_recordset(%s::json)
         AS e(external_id text, occurred_at timestamptz, amount bigint, currency text, coupon_code text,
              click_id text, conversation_id text, customer_ref text, store_id text, refund_of_id bigint,
              digest text)
), claimed AS (
    INSERT INTO revenue_salekey (partner_id, external_id, sale_id, period)
    SELECT %s, k.external_id, nextval('revenue_sale_id_seq'), k.period
    FROM (SELECT external_id, period FROM e ORDER BY external_id) k
    ON CONFLICT (partner_id, external_id) DO NOTHING
    RETURNING sale_id, external_id
)
INSERT INTO revenue_sale (
    id, partner_id, external_id, type, occurred_at, amount, currency, coupon_code, click_id,
    conversation_id, customer_ref, store_id, refund_of_id, period, content_digest, received_at,
    upload_id, attribution, attributed_key, attribution_note
)
SELECT c.sale_id, %s, e.external_id, %s, e.occurred_at, e.amount, e.currency, e.coupon_code, e.click_id,
       e.conversation_id, e.customer_ref, e.store_id, e.refund_of_id, e.period, e.digest, %s, %s,
       'pending', '', ''
FROM claimed c JOIN e ON e.external_id = c.external_id
RETURNING id, external_id
"""

# In force around _SALE_INSERT only: tells revenue_sale's key trigger that every sale of the
# statement had its key claimed for it by the statement itself.
KEYS_CLAIMED_BY_THE_STATEMENT = {"haken.sale_keys_claimed": "on"}
# What a batch of sales runs under: the above, and no JIT. The look-ups by key probe every
# month's partition per key in the plan (run-time pruning visits one), so a batch naming
# 1,000 sales (1,000 refunds, or a batch sent again) is costed over PostgreSQL's JIT threshold
# and spent 140–180 ms compiling a plan that executes in a few.
# Nor sequential or bitmap scans: while the key table's statistics lagged its rows (between
# two autovacuum analyses), the keys' look-up was planned as a bitmap scan of
# `salekey_sale_unique` on the partner alone, reading every key of the partner to keep the
# batch's 50 (45,000 entries: 8.9 ms a look-up; through the primary key 0.9 ms; the HTTP
# benchmark 44 -> 48% of COPY). Every statement of a batch reads by unique key or by
# `sale_refund_of`. (Statistics of a nearly empty table still cost a plain index scan of
# `salekey_sale_unique` as cheap as the primary key's: tests/revenue/test_ingestion_lookups.py.)
_SALES_BATCH_SETTINGS = {
    **KEYS_CLAIMED_BY_THE_STATEMENT,
    "jit": "off",
    "enable_seqscan": "off",
    "enable_bitmapscan": "off",
}

# Sales by their keys: the keys in one scan of the key table (the primary key, on the partner
# and `external_id = ANY`), sorted by sale id (so a FOR UPDATE added to the query locks in id
# order), then each sale by a probe of the one partition its month names (run-time pruning).
# The probe is a LATERAL subquery that OFFSET 0 keeps from being flattened into a join: as a
# join, the planner was free to (and, while the statistics of freshly filled partitions
# lagged, did) merge-join the keys with every sale of the partner, read in full — 30,000 rows
# read and sorted at 30,000 sales stored, twice a batch with refunds, growing with the
# partner's sales. `partner_id + 0` keeps the partner a filter there, not an index condition:
# with it as one, a partition whose statistics say it is nearly empty (each new month's,
# until it is analyzed) was read through `sale_partner_period_recent` (partner, period, …)
# for every sale of that month, per key, instead of through its primary key for one.
# (The key table's scan is not forced the same way: probed per key, it was costed no dearer
# through `salekey_sale_unique` (partner, sale id) while its statistics were those of a
# nearly empty table, and read the partner's every key per key; in one scan it reads them
# at most once.) Parameters: the partner, the external ids, the partner again.
SALE_BY_KEY_SQL = """
SELECT {columns}
  FROM (SELECT k.sale_id, k.period FROM revenue_salekey k
         WHERE k.partner_id = %s AND k.external_id = ANY(%s::text[])
         ORDER BY k.sale_id) k
 CROSS JOIN LATERAL (
    SELECT * FROM revenue_sale s
     WHERE s.id = k.sale_id AND s.period = k.period AND s.partner_id + 0 = %s
    OFFSET 0) s
"""


def _sales_insert(
    *,
    partner: Partner,
    kind: str,
    rows: Sequence[_SaleRow],
    refund_of_ids: dict[str, int],
    upload_id: int | None,
    received_at: datetime,
) -> dict[str, int]:
    """Insert `rows` in one statement (sorted by external_id so concurrent batches lock in
    the same order); return {external_id: id} of the rows actually inserted. Call it inside
    transaction_settings(KEYS_CLAIMED_BY_THE_STATEMENT): the statement claims its sales' keys
    itself, so the key trigger need not claim or check them again (migration 0021)."""
    if not rows:
        return {}
    rows = sorted(rows, key=lambda row: row.external_id)
    # The rows go as one JSON text (orjson, in C) rather than eleven arrays: psycopg quotes an
    # array into the SQL text element by element in Python, which took as long as the whole
    # validation of the batch (about 30 ms a 1,000-event batch on the loaded 2-core machine,
    # against 2 ms for this).
    batch = orjson.dumps(
        [
            {
                "external_id": r.external_id,
                "occurred_at": r.occurred_at,
                "amount": r.amount,
                "currency": r.currency,
                "coupon_code": r.coupon_code,
                "click_id": r.click_id,
                "conversation_id": r.conversation_id,
                "customer_ref": r.customer_ref,
                "store_id": r.store_id,
                "refund_of_id": refund_of_ids.get(r.refund_of) if r.refund_of else None,
                "digest": r.digest,
            }
            for r in rows
        ]
    ).decode()
    params: list[sale_rules.SqlValue] = [
        partner.timezone,
        batch,
        partner.pk,
        partner.pk,
        kind,
        received_at,
        upload_id,
    ]
    with connection.cursor() as cursor:
        cursor.execute(_SALE_INSERT, params)
        return {external_id: pk for pk, external_id in cursor.fetchall()}


def _sale_digests(partner: Partner, external_ids: list[str]) -> dict[str, str]:
    if not external_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            SALE_BY_KEY_SQL.format(columns="s.external_id, s.content_digest"), [partner.pk, external_ids, partner.pk]
        )
        return dict(cursor.fetchall())


def _sale_conflict_message(external_id: str) -> str:
    return sale_rules.CONFLICT_STORED.message(external_id=external_id)


def _settle_not_inserted(
    outcomes: _Outcomes, partner: Partner, rows: Sequence[_SaleRow], inserted: dict[str, int]
) -> None:
    """Rows the INSERT skipped exist already: a duplicate with the same digest, else a conflict."""
    missing = [row for row in rows if row.external_id not in inserted]
    stored = _sale_digests(partner, [row.external_id for row in missing])
    for row in rows:
        if row.external_id in inserted:
            outcomes.status[row.position] = "accepted"
    for row in missing:
        if stored.get(row.external_id) == row.digest:
            outcomes.status[row.position] = "duplicate"
        else:
            outcomes.reject(
                row.position,
                row.external_id,
                RejectionCode.CONFLICT,
                _sale_conflict_message(row.external_id),
                "external_id",
            )


@transaction.atomic
def sales_ingest(*, partner: Partner, events: list[dict[str, Any]], upload: SaleUpload | None = None) -> IngestResult:
    """Store a batch of sale and refund events of `partner` (DESIGN.md §5b).

    Valid events are stored even when others are rejected; the result counts accepted
    events and duplicates and lists each rejection by its index in `events`."""
    outcomes = _Outcomes(len(events))
    latest = timezone.now() + FUTURE_TOLERANCE
    received_at = timezone.now()
    upload_id = upload.pk if upload is not None else None

    # 1. Validate each event in Python; fold repeats of an external_id within the batch.
    first_by_id: dict[str, _SaleRow] = {}
    followers: list[tuple[int, int]] = []
    for row in _parse_each(
        events, lambda index, event: _sale_parse(index, event, partner.currency, latest), outcomes, "external_id"
    ):
        first = first_by_id.get(row.external_id)
        if first is None:
            first_by_id[row.external_id] = row
        elif first.digest == row.digest:
            followers.append((row.position, first.position))
        else:
            conflict = sale_rules.CONFLICT_EARLIER
            outcomes.reject(
                row.position,
                row.external_id,
                conflict.code,
                conflict.message(external_id=row.external_id, earlier=sale_rules.in_batch(first.position)),
                conflict.field,
            )
    sales = [row for row in first_by_id.values() if row.type == Sale.Type.SALE]
    refunds = [row for row in first_by_id.values() if row.type == Sale.Type.REFUND]

    # The settings are set once for both inserts (two round trips a batch, not four): what
    # runs between them only reads.
    with connection.cursor() as cursor, transaction_settings(cursor, **_SALES_BATCH_SETTINGS):
        # 2. Sales: one INSERT; rows it skipped already exist (duplicate or conflict).
        inserted_sales = _sales_insert(
            partner=partner,
            kind=Sale.Type.SALE,
            rows=sales,
            refund_of_ids={},
            upload_id=upload_id,
            received_at=received_at,
        )
        _settle_not_inserted(outcomes, partner, sales, inserted_sales)

        # 3. Refunds: lock the sales they name, then check each against what is left to refund.
        inserted_refunds = _refunds_store(
            outcomes,
            partner=partner,
            refunds=refunds,
            batch_sales={row.external_id: row.position for row in sales if row.external_id in inserted_sales},
            upload_id=upload_id,
            received_at=received_at,
        )

    outcomes.follow(followers)
    inserted_ids = sorted([*inserted_sales.values(), *inserted_refunds.values()])
    if inserted_sales:
        # Refunds follow their sale's attribution; only new sales need attributing.
        _after_ingest(partner.pk, sorted(inserted_sales.values()))
    return outcomes.result(inserted_ids)


def _refund_of(row: _SaleRow) -> str:
    """The external_id of the sale a refund row names: a refund without refund_of never gets
    this far (sale_rules.REFUND_OF requires it of a refund)."""
    assert row.refund_of is not None, row.external_id
    return row.refund_of


# The refunds stored against some sales ({refund_of_id: total}, rows without an external_id)
# and the digests of some refunds' keys already stored (rows with one), in one statement.
# Each sale's refunds are summed by a subquery of their own, probes of `sale_refund_of` in
# each month: as `refund_of_id = ANY(…)` over the table, a month whose statistics lagged its
# rows (a fresh month's) was read in full, every batch.
# Parameters: the sales' ids (all the partner's: the targets found above), then SALE_BY_KEY_SQL's.
_REFUNDED_AND_STORED_SQL = """
SELECT NULL AS external_id, NULL AS digest, target.id,
       coalesce((SELECT SUM(r.amount) FROM revenue_sale r WHERE r.refund_of_id = target.id), 0)::bigint
  FROM unnest(%s::bigint[]) AS target(id)
UNION ALL
""" + SALE_BY_KEY_SQL.format(columns="s.external_id, s.content_digest, NULL::bigint, NULL::bigint")


def _refunds_store(
    outcomes: _Outcomes,
    *,
    partner: Partner,
    refunds: list[_SaleRow],
    batch_sales: dict[str, int],
    upload_id: int | None,
    received_at: datetime,
) -> dict[str, int]:
    """`batch_sales`: the sales this batch inserted, {external_id: index}; a refund may
    name one only if it comes later in the batch."""
    if not refunds:
        return {}
    refund_ids = {row.external_id for row in refunds}
    named = sorted({_refund_of(row) for row in refunds})
    with connection.cursor() as cursor:
        # Lock first (in id order, so concurrent batches queue rather than deadlock), then
        # read: under READ COMMITTED each statement sees what committed before it started,
        # so the sums read by the next statement include every refund a batch that held these
        # locks stored (which is why the two cannot be one statement).
        cursor.execute(
            SALE_BY_KEY_SQL.format(columns="s.id, s.external_id, s.type, s.amount, s.currency, s.occurred_at")
            + " FOR UPDATE OF s",
            [partner.pk, named, partner.pk],
        )
        targets = {row[1]: row for row in cursor.fetchall()}
        # One round trip for the rest: what each target has had refunded, and the digests of
        # the batch's refunds already stored (a re-sent refund is a duplicate).
        cursor.execute(
            _REFUNDED_AND_STORED_SQL,
            [[row[0] for row in targets.values()], partner.pk, sorted(refund_ids), partner.pk],
        )
        refunded: dict[int, int] = {}
        stored: dict[str, str] = {}
        for external_id, digest, refund_of_id, total in cursor.fetchall():
            if external_id is None:
                refunded[refund_of_id] = int(total)
            else:
                stored[external_id] = digest

    to_insert: list[_SaleRow] = []
    refund_of_ids: dict[str, int] = {}
    remaining = {pk: amount - refunded.get(pk, 0) for pk, _, _, amount, _, _ in targets.values()}
    for row in sorted(refunds, key=lambda r: r.position):
        refund_of = _refund_of(row)
        if row.external_id in stored:
            if stored[row.external_id] == row.digest:
                outcomes.status[row.position] = "duplicate"
            else:
                outcomes.reject(
                    row.position,
                    row.external_id,
                    RejectionCode.CONFLICT,
                    _sale_conflict_message(row.external_id),
                    "external_id",
                )
            continue
        try:
            target = targets.get(refund_of)
            # The checks of sale_rules.REFUND_RULES, in their order.
            if refund_of in refund_ids:
                raise sale_rules.Rejected(sale_rules.REFUND_OF_REFUND, refund_of=refund_of)
            if target is None or batch_sales.get(refund_of, -1) > row.position:
                later = sale_rules.later_in_batch() if target else ""
                raise sale_rules.Rejected(sale_rules.UNKNOWN_SALE, refund_of=refund_of, later=later)
            sale_id, _, sale_type, sale_amount, sale_currency, sale_occurred_at = target
            if sale_type != Sale.Type.SALE:
                raise sale_rules.Rejected(sale_rules.REFUND_OF_REFUND, refund_of=refund_of)
            if sale_currency != row.currency:
                raise sale_rules.Rejected(sale_rules.REFUND_CURRENCY, refund_of=refund_of, sale_currency=sale_currency)
            if row.occurred_at < sale_occurred_at:
                raise sale_rules.Rejected(sale_rules.BEFORE_SALE, refund_of=refund_of)
            if row.amount > remaining[sale_id]:
                raise sale_rules.Rejected(
                    sale_rules.REFUND_EXCEEDS,
                    amount=row.amount,
                    refund_of=refund_of,
                    left_to_refund=remaining[sale_id],
                    sale_amount=sale_amount,
                )
        except sale_rules.Rejected as rejected:
            outcomes.reject(row.position, row.external_id, rejected.code, rejected.message, rejected.field)
            continue
        remaining[sale_id] -= row.amount
        refund_of_ids[refund_of] = sale_id
        to_insert.append(row)

    inserted = _sales_insert(
        partner=partner,
        kind=Sale.Type.REFUND,
        rows=to_insert,
        refund_of_ids=refund_of_ids,
        upload_id=upload_id,
        received_at=received_at,
    )
    # A row skipped here was inserted by a concurrent batch after our existence check: its
    # amount was counted above, which can only make this batch stricter, never over-refund.
    _settle_not_inserted(outcomes, partner, to_insert, inserted)
    return inserted


# --- touchpoints ------------------------------------------------------------------------

TOUCHPOINT_FIELDS = frozenset({"placement", "kind", "key", "occurred_at"})
TOUCHPOINT_KINDS = frozenset(Touchpoint.Kind.values)


class _TouchRow(NamedTuple):
    position: int  # the touchpoint's index in the batch
    placement_id: int
    kind: str
    key: str
    occurred_at: datetime


def _touchpoint_parse(index: int, item: Any, latest: datetime) -> _TouchRow:
    if not isinstance(item, dict):
        raise _Reject(RejectionCode.INVALID, "Each touchpoint must be a JSON object.")
    _unknown_fields(item, TOUCHPOINT_FIELDS)
    placement_id = _placement_id(item)
    kind = item.get("kind")
    if type(kind) is not str or kind not in TOUCHPOINT_KINDS:  # a list or object is unhashable
        raise _Reject(RejectionCode.INVALID, f"kind must be one of {', '.join(sorted(TOUCHPOINT_KINDS))}.", "kind")
    key = _text(item, "key")
    occurred_at = _instant(item.get("occurred_at"), "occurred_at", latest)
    return _TouchRow(index, placement_id, kind, key, occurred_at)


def _placement_statuses(partner: Partner, ids: Iterable[int]) -> dict[int, str]:
    """{id: status} of the partner's own placements among `ids`; others are simply absent."""
    wanted = sorted({pk for pk in ids if 0 < pk <= MAX_DATABASE_ID})
    if not wanted:
        return {}
    return dict(Placement.objects.filter(partner_id=partner.pk, pk__in=wanted).values_list("pk", "status"))


def _placement_check(placement_id: int, statuses: dict[int, str], *, earning: bool = True) -> None:
    status = statuses.get(placement_id)
    if status is None:
        # Never say more: another partner's placement and no placement look the same.
        raise _Reject(RejectionCode.UNKNOWN_PLACEMENT, f"You have no placement {placement_id}.", "placement")
    if earning and status not in EARNING_PLACEMENT_STATUSES:
        raise _Reject(
            RejectionCode.PLACEMENT_INACTIVE,
            f"Placement {placement_id} is {status}; it takes touchpoints and outcomes "
            "only while approved, active or paused.",
            "placement",
        )


# revenue_touchpoint is partitioned by month (migration 0020): its key (partner, kind, key)
# lives in revenue_touchpointkey, claimed first in the same statement, in key order (two
# batches sharing keys wait for each other on the key table's index); only the claimed
# touchpoints are stored.
_TOUCHPOINT_INSERT = """
WITH batch AS (
    SELECT * FROM unnest(%(placements)s::bigint[], %(kinds)s::text[], %(keys)s::text[], %(times)s::timestamptz[])
        AS t(placement_id, kind, key, occurred_at)
),
claimed AS (
    INSERT INTO revenue_touchpointkey (partner_id, kind, key, touchpoint_id, occurred_at)
    SELECT %(partner)s, b.kind, b.key, nextval('revenue_touchpoint_id_seq'), b.occurred_at
      FROM batch b
     ORDER BY b.kind, b.key
    ON CONFLICT (partner_id, kind, key) DO NOTHING
    RETURNING touchpoint_id, kind, key
)
INSERT INTO revenue_touchpoint (id, partner_id, placement_id, kind, key, occurred_at, source, created_at)
SELECT c.touchpoint_id, %(partner)s, b.placement_id, b.kind, b.key, b.occurred_at, %(source)s, %(now)s
  FROM claimed c JOIN batch b ON b.kind = c.kind AND b.key = c.key
RETURNING id, kind, key
"""

_TOUCHPOINT_BY_KEY = """
SELECT t.* FROM revenue_touchpointkey k
  JOIN revenue_touchpoint t ON t.id = k.touchpoint_id AND t.partner_id = k.partner_id
                           AND t.occurred_at = k.occurred_at
 WHERE k.partner_id = %s AND k.kind = %s AND k.key = %s
"""

# The stored touchpoints of some keys, through the key table: each found in its own month's
# partition (the key names its instant), whatever time the new one was sent with.
_TOUCHPOINT_SELECT = """
SELECT t.kind, t.key, t.placement_id, t.occurred_at
  FROM revenue_touchpointkey k
  JOIN revenue_touchpoint t ON t.id = k.touchpoint_id AND t.partner_id = k.partner_id
                           AND t.occurred_at = k.occurred_at
 WHERE k.partner_id = %s AND (k.kind, k.key) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
"""

# Late touchpoints (DESIGN.md §5 step 3): unsettled sales carrying one of the new keys go
# back to pending, so attribution looks at them again — pending ones too, since a pass may
# be deciding them on a snapshot taken before this touchpoint (RESET_TO_PENDING_SQL). A
# sale before the earliest new touch cannot be credited to it
# (touch.occurred_at <= sale.occurred_at), so it is left alone. The same bound on the
# month (the partition key) lets PostgreSQL plan only the partitions from that month on
# (late_reset_period_from): planning every month's partition was most of the statement's
# time, and it grows with the months stored (an agent's coupon or conversation runs it).
_LATE_TOUCHPOINT_RESET = RESET_TO_PENDING_SQL.format(
    condition="""
    partner_id = %s AND type = 'sale' AND statement_id IS NULL AND occurred_at >= %s AND period >= %s
    AND (coupon_code = ANY(%s::text[]) OR click_id = ANY(%s::text[]) OR conversation_id = ANY(%s::text[]))""",
    partitions=" AND s.period >= %s",
)


def late_reset_period_from(earliest: datetime) -> date:
    """The earliest month a sale at or after `earliest` can be stored under, in any zone: a
    sale's period is the month of its time in its partner's zone when it arrived (a zone the
    partner may have changed since), and no zone is a month away from UTC, so the UTC month
    before `earliest`'s."""
    first = earliest.astimezone(UTC).date().replace(day=1)
    return (first - timedelta(days=1)).replace(day=1)


def _touchpoints_write(outcomes: _Outcomes, *, partner: Partner, rows: list[_TouchRow], source: str) -> list[int]:
    """Insert the first row of each (kind, key); settle every row's status; return the new ids."""
    first_by_key: dict[tuple[str, str], _TouchRow] = {}
    followers: list[tuple[int, int]] = []
    for row in rows:
        first = first_by_key.get((row.kind, row.key))
        if first is None:
            first_by_key[(row.kind, row.key)] = row
        elif (first.placement_id, first.occurred_at) == (row.placement_id, row.occurred_at):
            followers.append((row.position, first.position))
        else:
            outcomes.reject(
                row.position,
                row.key,
                RejectionCode.CONFLICT,
                f"{row.kind} {row.key!r} appears earlier in this batch (index {first.position}) "
                "with different content.",
                "key",
            )
    primaries = sorted(first_by_key.values(), key=lambda r: (r.kind, r.key))
    inserted: dict[tuple[str, str], int] = {}
    reset_ids: list[int] = []
    if primaries:
        with connection.cursor() as cursor:
            cursor.execute(
                _TOUCHPOINT_INSERT,
                {
                    "partner": partner.pk,
                    "source": source,
                    "now": timezone.now(),
                    "placements": [r.placement_id for r in primaries],
                    "kinds": [r.kind for r in primaries],
                    "keys": [r.key for r in primaries],
                    "times": [r.occurred_at for r in primaries],
                },
            )
            inserted = {(kind, key): pk for pk, kind, key in cursor.fetchall()}
            missing = [r for r in primaries if (r.kind, r.key) not in inserted]
            stored: dict[tuple[str, str], tuple[int, datetime]] = {}
            if missing:
                cursor.execute(_TOUCHPOINT_SELECT, [partner.pk, [r.kind for r in missing], [r.key for r in missing]])
                stored = {(kind, key): (pk, at) for kind, key, pk, at in cursor.fetchall()}
            new = [r for r in primaries if (r.kind, r.key) in inserted]
            if new:
                by_kind = {kind: [r.key for r in new if r.kind == kind] for kind in TOUCHPOINT_KINDS}
                period_from = late_reset_period_from(min(r.occurred_at for r in new))
                cursor.execute(
                    _LATE_TOUCHPOINT_RESET,
                    [
                        partner.pk,
                        min(r.occurred_at for r in new),
                        period_from,
                        by_kind[Touchpoint.Kind.COUPON],
                        by_kind[Touchpoint.Kind.CLICK],
                        by_kind[Touchpoint.Kind.CONVERSATION],
                        period_from,
                    ],
                )
                reset_ids = [row[0] for row in cursor.fetchall()]
        for row in primaries:
            if (row.kind, row.key) in inserted:
                outcomes.status[row.position] = "accepted"
            elif stored.get((row.kind, row.key)) == (row.placement_id, row.occurred_at):
                outcomes.status[row.position] = "duplicate"
            else:
                outcomes.reject(
                    row.position,
                    row.key,
                    RejectionCode.CONFLICT,
                    f"{row.kind} {row.key!r} was already received with different content.",
                    "key",
                )
    outcomes.follow(followers)
    if reset_ids:
        _after_ingest(partner.pk, sorted(reset_ids))
    return sorted(inserted.values())


@transaction.atomic
def touchpoints_ingest(
    *, partner: Partner, touchpoints: list[dict[str, Any]], source: str = Touchpoint.Source.PARTNER_API
) -> IngestResult:
    """Store a batch of the partner's own touchpoints (tracked clicks, conversation ids,
    coupons), each for one of its placements; unique per (partner, kind, key)."""
    outcomes = _Outcomes(len(touchpoints))
    latest = timezone.now() + FUTURE_TOLERANCE
    parsed = _parse_each(touchpoints, lambda index, item: _touchpoint_parse(index, item, latest), outcomes, "key")
    statuses = _placement_statuses(partner, (row.placement_id for row in parsed))
    valid: list[_TouchRow] = []
    for row in parsed:
        try:
            _placement_check(row.placement_id, statuses)
        except _Reject as reject:
            outcomes.reject(row.position, row.key, reject.code, reject.message, reject.field)
            continue
        valid.append(row)
    inserted_ids = _touchpoints_write(outcomes, partner=partner, rows=valid, source=source)
    return outcomes.result(inserted_ids)


def _service_check(
    placement: Placement, kind: str, kinds: Iterable[str], key: str, occurred_at: datetime | None
) -> None:
    """Validation for the one-at-a-time services the agents app calls."""
    if kind not in kinds:
        raise ValidationFailed(
            _("Unknown kind %(kind)r.") % {"kind": kind}, fields={"kind": [f"must be one of {sorted(kinds)}"]}
        )
    if not sale_rules.is_storable_key(key):
        raise ValidationFailed(
            _("The key must be a string of 1 to 128 characters."), fields={"key": ["must be 1 to 128 characters"]}
        )
    if occurred_at is not None and (occurred_at.tzinfo is None or occurred_at.utcoffset() is None):
        raise ValidationFailed(
            _("occurred_at must be an aware datetime."), fields={"occurred_at": ["must have a time zone"]}
        )
    if placement.status not in EARNING_PLACEMENT_STATUSES:
        raise InvalidTransition(
            f"Placement {placement.pk} is {placement.status}; it records "
            "touchpoints and outcomes only while approved, active or paused."
        )


@transaction.atomic
def touchpoint_record(
    *, placement: Placement, kind: str, key: str, occurred_at: datetime, source: str = Touchpoint.Source.AGENT
) -> Touchpoint:
    """Record one touchpoint of `placement` (what the agents call when an employee issues a
    coupon, shares a tracked link or holds a conversation). Idempotent on the key: the same
    key for the same placement again returns the touchpoint already stored."""
    placement = Placement.objects.select_related("partner", "employee").get(pk=placement.pk)
    _service_check(placement, kind, TOUCHPOINT_KINDS, key, occurred_at)
    if source not in Touchpoint.Source.values:
        raise ValidationFailed(_("Unknown touchpoint source %(source)r.") % {"source": source})
    outcomes = _Outcomes(1)
    row = _TouchRow(0, placement.pk, kind, key, occurred_at.astimezone(UTC))
    inserted = _touchpoints_write(outcomes, partner=placement.partner, rows=[row], source=source)
    # Through the key table, to the one partition holding it (a look-up by key alone would
    # probe every month's index), in one round trip.
    (touchpoint,) = Touchpoint.objects.raw(_TOUCHPOINT_BY_KEY, [placement.partner_id, kind, key])
    if touchpoint.placement_id != placement.pk:
        raise Conflict(
            _("The %(kind)s %(key)r already belongs to another placement of this partner.") % {"kind": kind, "key": key}
        )
    if kind == Touchpoint.Kind.COUPON and touchpoint.pk in inserted:
        # An employee handed out a coupon: the partner's till may want to know the code.
        webhook_event_emit(
            partner=placement.partner,
            type=EventType.COUPON_ISSUED,
            key=f"touchpoint:{touchpoint.pk}",
            payload={
                "coupon": {
                    "code": touchpoint.key,
                    "placement": placement.pk,
                    "employee": placement.employee.slug,
                    "issued_at": touchpoint.occurred_at,
                }
            },
        )
    return touchpoint


# --- outcomes ---------------------------------------------------------------------------

OUTCOME_FIELDS = frozenset({"placement", "kind", "external_id", "occurred_at", "withdrawn"})
OUTCOME_KINDS = frozenset(Outcome.Kind.values)


class _OutcomeRow(NamedTuple):
    position: int  # the outcome's index in the batch
    placement_id: int
    kind: str
    external_id: str
    occurred_at: datetime | None  # None only on a withdrawal
    withdrawn: bool

    @property
    def key(self) -> tuple[int, str, str]:
        return (self.placement_id, self.kind, self.external_id)


def _outcome_parse(index: int, item: Any, latest: datetime) -> _OutcomeRow:
    if not isinstance(item, dict):
        raise _Reject(RejectionCode.INVALID, "Each outcome must be a JSON object.")
    _unknown_fields(item, OUTCOME_FIELDS)
    placement_id = _placement_id(item)
    kind = item.get("kind")
    if type(kind) is not str or kind not in OUTCOME_KINDS:  # a list or object is unhashable
        raise _Reject(RejectionCode.INVALID, f"kind must be one of {', '.join(sorted(OUTCOME_KINDS))}.", "kind")
    external_id = _text(item, "external_id")
    withdrawn = item.get("withdrawn")
    if withdrawn is None:
        withdrawn = False
    elif type(withdrawn) is not bool:
        raise _Reject(RejectionCode.INVALID, "withdrawn must be true or false.", "withdrawn")
    # A withdrawal names the outcome by its key; its time, if sent, is not compared.
    raw_time = item.get("occurred_at")
    occurred_at = None if withdrawn and raw_time is None else _instant(raw_time, "occurred_at", latest)
    return _OutcomeRow(index, placement_id, kind, external_id, None if withdrawn else occurred_at, withdrawn)


# revenue_outcome is partitioned by month (migration 0019): its idempotency key lives in
# revenue_outcomekey, claimed first in the same statement, in key order (two batches sharing
# keys wait for each other on the key table's index); only the claimed outcomes are stored.
_OUTCOME_INSERT = """
WITH batch AS (
    SELECT o.placement_id, o.kind, o.external_id, o.occurred_at,
           date_trunc('month', o.occurred_at AT TIME ZONE %(zone)s)::date AS period
      FROM unnest(%(placements)s::bigint[], %(kinds)s::text[], %(external_ids)s::text[], %(times)s::timestamptz[])
           AS o(placement_id, kind, external_id, occurred_at)
),
claimed AS (
    INSERT INTO revenue_outcomekey (partner_id, placement_id, kind, external_id, outcome_id, period)
    SELECT %(partner)s, b.placement_id, b.kind, b.external_id, nextval('revenue_outcome_id_seq'), b.period
      FROM batch b
     ORDER BY b.placement_id, b.kind, b.external_id
    ON CONFLICT (partner_id, placement_id, kind, external_id) DO NOTHING
    RETURNING outcome_id, placement_id, kind, external_id
)
INSERT INTO revenue_outcome (id, partner_id, placement_id, kind, external_id, occurred_at, period, created_at)
SELECT c.outcome_id, %(partner)s, b.placement_id, b.kind, b.external_id, b.occurred_at, b.period, %(now)s
  FROM claimed c
  JOIN batch b ON b.placement_id = c.placement_id AND b.kind = c.kind AND b.external_id = c.external_id
RETURNING id, placement_id, kind, external_id
"""

# The stored outcomes of some keys, through the key table: each found in its own month's
# partition (the key names it), whatever month the new row would have had.
_OUTCOME_SELECT = """
SELECT o.id, o.placement_id, o.kind, o.external_id, o.occurred_at, o.withdrawn_at, o.period
  FROM revenue_outcomekey k
  JOIN revenue_outcome o ON o.id = k.outcome_id AND o.partner_id = k.partner_id AND o.period = k.period
 WHERE k.partner_id = %s
   AND (k.placement_id, k.kind, k.external_id) IN (SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[]))
 ORDER BY o.id
"""


def _outcomes_write(outcomes: _Outcomes, *, partner: Partner, rows: list[_OutcomeRow]) -> list[int]:
    first_record: dict[tuple[int, str, str], _OutcomeRow] = {}
    first_withdrawal: dict[tuple[int, str, str], _OutcomeRow] = {}
    followers: list[tuple[int, int]] = []
    for row in rows:
        firsts = first_withdrawal if row.withdrawn else first_record
        first = firsts.get(row.key)
        if first is None:
            firsts[row.key] = row
        elif first.occurred_at == row.occurred_at:
            followers.append((row.position, first.position))
        else:
            outcomes.reject(
                row.position,
                row.external_id,
                RejectionCode.CONFLICT,
                f"{row.kind} {row.external_id!r} appears earlier in this batch "
                f"(index {first.position}) with a different occurred_at.",
                "occurred_at",
            )
    records = sorted(first_record.values(), key=lambda r: r.key)
    withdrawals = sorted(first_withdrawal.values(), key=lambda r: r.key)
    inserted: dict[tuple[int, str, str], int] = {}
    with connection.cursor() as cursor:
        if records:
            cursor.execute(
                _OUTCOME_INSERT,
                {
                    "zone": partner.timezone,
                    "partner": partner.pk,
                    "now": timezone.now(),
                    "placements": [r.placement_id for r in records],
                    "kinds": [r.kind for r in records],
                    "external_ids": [r.external_id for r in records],
                    "times": [r.occurred_at for r in records],
                },
            )
            inserted = {
                (placement_id, kind, external_id): pk for pk, placement_id, kind, external_id in cursor.fetchall()
            }
        # Existing rows for every key not inserted (to tell duplicates from conflicts) and for
        # every withdrawal, locked in id order: withdrawals change them.
        look_up = [r for r in records if r.key not in inserted] + withdrawals
        stored: dict[tuple[int, str, str], tuple[int, datetime, datetime | None, date]] = {}
        if look_up:
            cursor.execute(
                _OUTCOME_SELECT + " FOR UPDATE OF o",
                [
                    partner.pk,
                    [r.placement_id for r in look_up],
                    [r.kind for r in look_up],
                    [r.external_id for r in look_up],
                ],
            )
            stored = {
                (placement_id, kind, external_id): (pk, at, withdrawn_at, period)
                for pk, placement_id, kind, external_id, at, withdrawn_at, period in cursor.fetchall()
            }
        to_withdraw: list[tuple[int, date]] = []
        inserted_index = {r.key: r.position for r in records if r.key in inserted}
        for row in withdrawals:
            existing = stored.get(row.key)
            if existing is None or inserted_index.get(row.key, -1) > row.position:
                outcomes.reject(
                    row.position,
                    row.external_id,
                    RejectionCode.UNKNOWN_OUTCOME,
                    f"There is no {row.kind} {row.external_id!r} on placement {row.placement_id} to withdraw.",
                    "external_id",
                )
            elif existing[2] is not None:
                outcomes.status[row.position] = "duplicate"
            else:
                outcomes.status[row.position] = "accepted"
                to_withdraw.append((existing[0], existing[3]))
        if to_withdraw:
            # Their months too: the update then reads only their partitions.
            cursor.execute(
                "UPDATE revenue_outcome SET withdrawn_at = %s "
                "WHERE partner_id = %s AND id = ANY(%s::bigint[]) AND period = ANY(%s::date[])",
                [
                    timezone.now(),
                    partner.pk,
                    [pk for pk, _ in to_withdraw],
                    sorted({period for _, period in to_withdraw}),
                ],
            )
    for row in records:
        if row.key in inserted:
            outcomes.status[row.position] = "accepted"
        elif stored.get(row.key, (None, None))[1] == row.occurred_at:
            outcomes.status[row.position] = "duplicate"
        else:
            outcomes.reject(
                row.position,
                row.external_id,
                RejectionCode.CONFLICT,
                f"{row.kind} {row.external_id!r} was already received with a different occurred_at.",
                "occurred_at",
            )
    outcomes.follow(followers)
    return sorted(inserted.values())


@transaction.atomic
def outcomes_ingest(*, partner: Partner, outcomes: list[dict[str, Any]]) -> IngestResult:
    """Store a batch of outcomes the partner confirms (resolutions, delivered works), or
    withdraw earlier ones (`"withdrawn": true`). Unique per (placement, kind, external_id)."""
    status = _Outcomes(len(outcomes))
    latest = timezone.now() + FUTURE_TOLERANCE
    parsed = _parse_each(outcomes, lambda index, item: _outcome_parse(index, item, latest), status, "external_id")
    statuses = _placement_statuses(partner, (row.placement_id for row in parsed))
    valid: list[_OutcomeRow] = []
    for row in parsed:
        try:
            # Withdrawing stays possible on an ended placement; recording does not.
            _placement_check(row.placement_id, statuses, earning=not row.withdrawn)
        except _Reject as reject:
            status.reject(row.position, row.external_id, reject.code, reject.message, reject.field)
            continue
        valid.append(row)
    inserted_ids = _outcomes_write(status, partner=partner, rows=valid)
    return status.result(inserted_ids)


@transaction.atomic
def outcome_record(*, placement: Placement, kind: str, external_id: str, occurred_at: datetime) -> Outcome:
    """Record one outcome of `placement` (a confirmed resolution, an approved delivered
    work). Idempotent: the same outcome again returns the stored one; the same key with
    another time is a Conflict."""
    placement = Placement.objects.select_related("partner").get(pk=placement.pk)
    _service_check(placement, kind, OUTCOME_KINDS, external_id, occurred_at)
    status = _Outcomes(1)
    row = _OutcomeRow(0, placement.pk, kind, external_id, occurred_at.astimezone(UTC), False)
    _outcomes_write(status, partner=placement.partner, rows=[row])
    if isinstance(status.status[0], Rejection):
        raise Conflict(status.status[0].message)
    outcome = _outcome_by_key(placement, kind, external_id, lock=False)
    assert outcome is not None  # stored by this call or before it: the write refused nothing
    return outcome


def _outcome_by_key(placement: Placement, kind: str, external_id: str, *, lock: bool) -> Outcome | None:
    """The outcome stored under the key, found through the key table in its month's
    partition (revenue_outcome is partitioned by month: a look-up by the key alone would
    probe every month)."""
    key = (
        OutcomeKey.objects.filter(
            partner_id=placement.partner_id, placement_id=placement.pk, kind=kind, external_id=external_id
        )
        .values_list("outcome_id", "period")
        .first()
    )
    if key is None:
        return None
    outcomes = Outcome.objects.select_for_update() if lock else Outcome.objects
    return outcomes.get(pk=key[0], partner_id=placement.partner_id, period=key[1])


@transaction.atomic
def outcome_withdraw(*, placement: Placement, kind: str, external_id: str) -> Outcome:
    """Withdraw an outcome (it stops counting). Withdrawing it again changes nothing."""
    outcome = _outcome_by_key(placement, kind, external_id, lock=True)
    if outcome is None:
        raise NotFound(
            _("There is no %(kind)s %(external_id)r on placement %(pk)s.")
            % {"kind": kind, "external_id": external_id, "pk": placement.pk}
        )
    if outcome.withdrawn_at is None:
        outcome.withdrawn_at = timezone.now()
        outcome.save(update_fields=["withdrawn_at"])
    return outcome
