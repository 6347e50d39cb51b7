"""Reading which monthly partitions a query's plan touches, for the pruning tests of every
partitioned table (tests/revenue/test_partition_pruning*.py)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext

from revenue.services.partitions import PartitionedTable, table_partitions


def months_back(month: date, count: int) -> list[date]:
    """`count` months before `month` and `month` itself, oldest first."""
    months = [month]
    for _ in range(count):
        months.insert(0, (months[0] - timedelta(days=1)).replace(day=1))
    return months


def partitions_read(table: PartitionedTable, sql: str, params: Any = None, *, analyze: bool = False) -> set[str]:
    """The partitions of `table` in the plan of `sql` (EXPLAIN (FORMAT JSON)); with `analyze`,
    only those the executor actually visited (where the month is found at run time)."""
    partitions = set(table_partitions(table))
    found: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        name = node.get("Relation Name", "")
        if name in partitions and (not analyze or node.get("Actual Loops", 0) > 0):
            found.add(name)
        for child in node.get("Plans", []):
            walk(child)

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN ({'ANALYZE, ' if analyze else ''}FORMAT JSON) {sql}", params)
        (plan,) = cursor.fetchone()[0]
    walk(plan["Plan"])
    return found


def partitions_up_to(table: PartitionedTable, month: date) -> set[str]:
    """The partitions of `table` whose months start on or before `month`, DEFAULT included."""
    return {name for name, bounds in table_partitions(table).items() if bounds is None or bounds[0] <= month}


def sql_of(queries: CaptureQueriesContext, marker: str) -> str:
    """The one captured statement containing `marker`."""
    matching = [query["sql"] for query in queries.captured_queries if marker in query["sql"]]
    assert len(matching) == 1, matching
    return matching[0]
