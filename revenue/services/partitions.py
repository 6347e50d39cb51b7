"""The monthly partitions of the sales, touchpoints and outcomes (migrations 0017, 0019 and
0020; docs/scaling.md).

Each table is partitioned by RANGE on its month, one partition a month
(`revenue_sale_y2026m10`), plus a DEFAULT partition:

* revenue_sale and revenue_outcome on `period` (the first day of the month of occurred_at in
  the partner's zone), date bounds;
* revenue_touchpoint on `occurred_at` itself, bounds at UTC midnight of each month's first
  day: attribution looks a touchpoint up within the attribution window before the sale (an
  instant range), which then prunes to the months that window spans.

Ingestion never creates partitions (DDL in a partner's batch would take a lock on the whole
table): a row of a month without a partition — a late sale years back, or any row if this
beat has not run for months — lands in the DEFAULT partition and is stored like any other.
This pass, run daily by beat (revenue.tasks.sale_partitions_ensure_task, every table),
creates the partitions of the months ahead before any row can reach them, and gives each
month found in a DEFAULT partition a partition of its own, moving its rows there, so
settlement, attribution and the pages read one partition per month and the DEFAULT
partitions stay nearly empty.

A new partition is created as a plain table, filled, and then attached (ATTACH takes only a
SHARE UPDATE EXCLUSIVE lock on the parent: ingestion and reads go on; the DEFAULT
partition, which PostgreSQL checks holds no row of the new month, is locked for that
moment). Moving a row deletes it from the DEFAULT partition and inserts it, unchanged, into
the new one in the same transaction, naming the partitions, so the parent's key triggers do
not fire; `haken.sale_partition_move` and `haken.partition_move` tell the triggers that
release deleted rows' keys to leave them be all the same (each still names the same id and
month).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from core.locks import Lock, advisory_key, lock_transaction_acquire

# Partitions are made this far ahead by default: a beat that fails for weeks still finds
# every month an ingested row can have (at most a day ahead) partitioned.
MONTHS_AHEAD = 3


@dataclass(frozen=True)
class PartitionedTable:
    name: str
    # The partition key: a date column (`period`) or, with `instant`, a timestamptz one whose
    # partitions start at UTC midnight of each month's first day.
    column: str
    instant: bool = False
    # Migration 0007's reason for the sales (room on each page for attribution's HOT
    # updates), per partition.
    fillfactor: int | None = None

    @property
    def default_partition(self) -> str:
        return f"{self.name}_default"

    def partition_name(self, month: date) -> str:
        """The partition holding the rows of `month` (its first day)."""
        return f"{self.name}_y{month:%Y}m{month:%m}"

    def bound(self, month: date) -> date | datetime:
        return datetime(month.year, month.month, 1, tzinfo=UTC) if self.instant else month


SALES = PartitionedTable("revenue_sale", "period", fillfactor=80)
TOUCHPOINTS = PartitionedTable("revenue_touchpoint", "occurred_at", instant=True)
OUTCOMES = PartitionedTable("revenue_outcome", "period")
PARTITIONED_TABLES = (SALES, TOUCHPOINTS, OUTCOMES)

DEFAULT_PARTITION = SALES.default_partition
# The sales' fillfactor, as before the pass covered other tables.
FILLFACTOR = SALES.fillfactor


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_after(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1)


def sale_partition_name(month: date) -> str:
    """The partition holding the sales of `month` (its first day)."""
    return SALES.partition_name(month)


def _bound_month(text: str) -> date:
    # A date ('2026-10-01') or a timestamptz in the session's zone ('2026-10-01 00:00:00+00').
    value = text.split("'")[1]
    if len(value) == 10:
        return date.fromisoformat(value)
    return datetime.fromisoformat(value).astimezone(UTC).date()


def table_partitions(table: PartitionedTable) -> dict[str, tuple[date, date] | None]:
    """Every partition of `table` by name: its [from, to) months, None for DEFAULT."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
            [table.name],
        )
        rows = cursor.fetchall()
    partitions: dict[str, tuple[date, date] | None] = {}
    for name, bound in rows:
        if bound == "DEFAULT":
            partitions[name] = None
        else:
            # FOR VALUES FROM ('2026-10-01') TO ('2026-11-01')
            low, high = (_bound_month(part) for part in bound.split(" TO "))
            partitions[name] = (low, high)
    return partitions


def sale_partitions() -> dict[str, tuple[date, date] | None]:
    """Every partition of revenue_sale by name: its [from, to) months, None for DEFAULT."""
    return table_partitions(SALES)


@dataclass
class PartitionsEnsured:
    created: list[str] = field(default_factory=list)
    # Rows moved out of the DEFAULT partition into the partitions created for their month.
    moved: int = 0


@transaction.atomic
def table_partitions_ensure(
    *, table: PartitionedTable, months_ahead: int = MONTHS_AHEAD, now: datetime | None = None
) -> PartitionsEnsured:
    """Create the partitions of `table` for this month (UTC) and the `months_ahead` after it,
    and one for each month with rows waiting in its DEFAULT partition, moving them into it.
    Safe to run at any time, and twice: what exists is left as it is."""
    lock_transaction_acquire(advisory_key(Lock.SALE_PARTITIONS))
    today = (now or timezone.now()).date()
    first = month_start(today)
    months = [first]
    for _ in range(months_ahead):
        months.append(month_after(months[-1]))
    result = PartitionsEnsured()
    existing = {bounds[0] for bounds in table_partitions(table).values() if bounds is not None}
    month_of = f"({table.column} AT TIME ZONE 'UTC')" if table.instant else table.column
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT date_trunc('month', {month_of})::date FROM {table.default_partition}")
        waiting = {row[0] for row in cursor.fetchall()}
        for month in sorted((set(months) | waiting) - existing):
            result.moved += _partition_create(cursor, table, month, move=month in waiting)
            result.created.append(table.partition_name(month))
    return result


def sale_partitions_ensure(*, months_ahead: int = MONTHS_AHEAD, now: datetime | None = None) -> PartitionsEnsured:
    """table_partitions_ensure of the sales."""
    return table_partitions_ensure(table=SALES, months_ahead=months_ahead, now=now)


def partitions_ensure(*, months_ahead: int = MONTHS_AHEAD, now: datetime | None = None) -> PartitionsEnsured:
    """table_partitions_ensure of every partitioned table (the beat's pass), each table in a
    transaction of its own: a DEFAULT partition is locked only while its own rows move."""
    result = PartitionsEnsured()
    for table in PARTITIONED_TABLES:
        ensured = table_partitions_ensure(table=table, months_ahead=months_ahead, now=now)
        result.created += ensured.created
        result.moved += ensured.moved
    return result


def _partition_create(cursor: CursorWrapper, table: PartitionedTable, month: date, *, move: bool) -> int:
    name, following = table.partition_name(month), month_after(month)
    low, high = table.bound(month), table.bound(following)
    storage = f" WITH (fillfactor = {table.fillfactor})" if table.fillfactor else ""
    cursor.execute(f"CREATE TABLE {name} (LIKE {table.name} INCLUDING DEFAULTS INCLUDING CONSTRAINTS){storage}")
    moved = 0
    if move:
        cursor.execute(f"LOCK TABLE {table.default_partition} IN ACCESS EXCLUSIVE MODE")
        cursor.execute("SET LOCAL haken.sale_partition_move = 'on'")
        cursor.execute("SET LOCAL haken.partition_move = 'on'")
        cursor.execute(
            f"WITH moved AS (DELETE FROM {table.default_partition} "
            f"WHERE {table.column} >= %s AND {table.column} < %s RETURNING *) "
            f"INSERT INTO {name} SELECT * FROM moved",
            [low, high],
        )
        moved = cursor.rowcount
        cursor.execute("SET LOCAL haken.sale_partition_move = 'off'")
        cursor.execute("SET LOCAL haken.partition_move = 'off'")
    # Bound literals: dates, or instants written with their UTC offset (never the session's zone).
    cursor.execute(
        f"ALTER TABLE {table.name} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)",
        [low.isoformat(), high.isoformat()],
    )
    # Statistics at once (cheap: it is new): a table never analyzed is planned as if it held
    # ten pages, which across many empty months adds up to parallel plans for nothing.
    cursor.execute(f"ANALYZE {name}")
    return moved
