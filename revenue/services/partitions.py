"""The monthly partitions of revenue_sale (migration 0017, docs/scaling.md).

revenue_sale is partitioned by RANGE on `period`, one partition a month
(`revenue_sale_y2026m10`), plus a DEFAULT partition. Ingestion never creates partitions
(DDL in a partner's batch would take a lock on the whole table): a sale of a month without a
partition — a late sale years back, or any sale if this beat has not run for months — lands
in the DEFAULT partition and is stored like any other. This pass, run daily by beat
(revenue.tasks.sale_partitions_ensure_task), creates the partitions of the months ahead
before any sale can reach them, and gives each month found in the DEFAULT partition a
partition of its own, moving its rows there, so settlement and the pages read one partition
per month and the DEFAULT partition stays nearly empty.

A new partition is created as a plain table, filled, and then attached (ATTACH takes only a
SHARE UPDATE EXCLUSIVE lock on revenue_sale: ingestion and reads go on; the DEFAULT
partition, which PostgreSQL checks holds no row of the new month, is locked for that
moment). Moving a row deletes it from the DEFAULT partition and inserts it, unchanged, into
the new one in the same transaction, naming the partitions, so the parent's key triggers do
not fire; `haken.sale_partition_move` tells the one that releases deleted sales' keys to
leave them be all the same (each still names the same id and month).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from core.locks import Lock, advisory_key, lock_transaction_acquire

DEFAULT_PARTITION = "revenue_sale_default"
# Partitions are made this far ahead by default: a beat that fails for weeks still finds
# every month an ingested sale can have (at most a day ahead) partitioned.
MONTHS_AHEAD = 3
# Migration 0007's reason (room on each page for attribution's HOT updates), per partition.
FILLFACTOR = 80


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_after(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1)


def sale_partition_name(month: date) -> str:
    """The partition holding the sales of `month` (its first day)."""
    return f"revenue_sale_y{month:%Y}m{month:%m}"


def sale_partitions() -> dict[str, tuple[date, date] | None]:
    """Every partition of revenue_sale by name: its [from, to) months, None for DEFAULT."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'revenue_sale'::regclass"
        )
        rows = cursor.fetchall()
    partitions: dict[str, tuple[date, date] | None] = {}
    for name, bound in rows:
        if bound == "DEFAULT":
            partitions[name] = None
        else:
            # FOR VALUES FROM ('2026-10-01') TO ('2026-11-01')
            low, high = (part.split("'")[1] for part in bound.split(" TO "))
            partitions[name] = (date.fromisoformat(low), date.fromisoformat(high))
    return partitions


@dataclass
class PartitionsEnsured:
    created: list[str] = field(default_factory=list)
    # Rows moved out of the DEFAULT partition into the partitions created for their month.
    moved: int = 0


@transaction.atomic
def sale_partitions_ensure(*, months_ahead: int = MONTHS_AHEAD, now: datetime | None = None) -> PartitionsEnsured:
    """Create the partitions of this month (UTC) and the `months_ahead` after it, and one for each month with
    sales waiting in the DEFAULT partition, moving them into it. Safe to run at any time,
    and twice: what exists is left as it is."""
    lock_transaction_acquire(advisory_key(Lock.SALE_PARTITIONS))
    today = (now or timezone.now()).date()
    first = month_start(today)
    months = [first]
    for _ in range(months_ahead):
        months.append(month_after(months[-1]))
    result = PartitionsEnsured()
    existing = {bounds[0] for bounds in sale_partitions().values() if bounds is not None}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT date_trunc('month', period)::date FROM {DEFAULT_PARTITION}")
        waiting = {row[0] for row in cursor.fetchall()}
        for month in sorted((set(months) | waiting) - existing):
            result.moved += _partition_create(cursor, month, move=month in waiting)
            result.created.append(sale_partition_name(month))
    return result


def _partition_create(cursor: CursorWrapper, month: date, *, move: bool) -> int:
    name, following = sale_partition_name(month), month_after(month)
    cursor.execute(
        f"CREATE TABLE {name} (LIKE revenue_sale INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
        f"WITH (fillfactor = {FILLFACTOR})"
    )
    moved = 0
    if move:
        cursor.execute(f"LOCK TABLE {DEFAULT_PARTITION} IN ACCESS EXCLUSIVE MODE")
        cursor.execute("SET LOCAL haken.sale_partition_move = 'on'")
        cursor.execute(
            f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE period >= %s AND period < %s RETURNING *) "
            f"INSERT INTO {name} SELECT * FROM moved",
            [month, following],
        )
        moved = cursor.rowcount
        cursor.execute("SET LOCAL haken.sale_partition_move = 'off'")
    cursor.execute(
        f"ALTER TABLE revenue_sale ATTACH PARTITION {name} FOR VALUES FROM ('{month:%Y-%m-%d}') "
        f"TO ('{following:%Y-%m-%d}')"
    )
    # Statistics at once (cheap: it is new): a table never analyzed is planned as if it held
    # ten pages, which across many empty months adds up to parallel plans for nothing.
    cursor.execute(f"ANALYZE {name}")
    return moved
