"""How settlement and ingestion cost grows with the sales stored: 1M, 3M and 10M sales by
default, each size built afresh and measured against raw PostgreSQL in the same run.

    python3 dev.py bench cost_curve [--sizes 1000000,3000000,10000000] [--events 50000]

For each size N:
- settlement: N pending sales (N/10 touchpoints, 1,000 placements, the same shape as
  `settlement_10m`) attributed and settled by one settlement run, against a plain
  `SUM … GROUP BY` over the same table;
- ingestion: with those N sales stored, `--events` new sales posted to the real server
  (`POST /api/v1/sales`, 1,000 a request, 4 clients, the same events as `ingest_http`), against
  a raw `COPY` of the same rows into the same N-row table.

Issue 16 asks that time grow linearly or better: the printed growth column divides each
size's time per sale by the smallest size's, so 1.00 is exactly linear and above it is worse
than linear.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from benchmarks import ingest_http, processes  # noqa: E402
from benchmarks.fixtures import build_placements, reset_revenue_tables  # noqa: E402
from benchmarks.settlement_10m import PERIOD, generate, plain_aggregate  # noqa: E402
from revenue.models import Sale, SettlementRun  # noqa: E402
from revenue.services.settlement import settlement_run_execute  # noqa: E402

PLACEMENTS = 1_000
CLIENTS = 4


@dataclass(frozen=True)
class Point:
    sales: int
    aggregate_seconds: float
    settle_seconds: float
    events: int
    http_seconds: float
    copy_seconds: float

    @property
    def settle_per_sale(self) -> float:
        return self.settle_seconds / self.sales

    @property
    def http_rate(self) -> float:
        return self.events / self.http_seconds

    @property
    def copy_rate(self) -> float:
        return self.events / self.copy_seconds


def timed(label: str, action):
    return processes.timed(label, action, width=58)


def copy_out(partner_id: int) -> bytes:
    columns = ", ".join(ingest_http.SALE_COLUMNS)
    sql = f"COPY (SELECT {columns} FROM revenue_sale WHERE partner_id = {int(partner_id)} ORDER BY id) TO STDOUT"
    with connection.cursor() as cursor, cursor.copy(sql) as copy:
        return b"".join(bytes(data) for data in copy)


def measure_ingestion(events: int) -> tuple[float, float]:
    """HTTP time and raw COPY time for `events` new sales into the table as it stands."""
    # A partner of its own beside the settlement's thousand, with the touchpoints the
    # events name, so the new sales attribute as they would in production.
    partner, secret = ingest_http.setup(prefix="curve")
    bodies = ingest_http.events(events)
    port = processes.free_port()
    server = processes.start_server(port)
    try:
        processes.wait_http_ok(port, "/api/v1/me", {"Authorization": f"Bearer {secret}"}, server)
        ingest_http.checkpoint()
        http_time, accepted = timed(
            f"HTTP: {events:,} new sales, 1,000 a request",
            lambda: ingest_http.post_all(port, secret, bodies, CLIENTS),
        )
    finally:
        processes.stop(server)
    assert accepted == events, (accepted, events)
    data = copy_out(partner.pk)
    with connection.cursor() as cursor:
        # The same rows out and back in: the baseline pays for the same indexes on the same
        # N-row table. Refunds point at sales of the same batch, so they go first.
        cursor.execute("DELETE FROM revenue_sale WHERE partner_id = %s AND refund_of_id IS NOT NULL", [partner.pk])
        cursor.execute("DELETE FROM revenue_sale WHERE partner_id = %s", [partner.pk])
    ingest_http.checkpoint()
    copy_time, copied = timed(
        "baseline: raw COPY of the same rows into the same table",
        lambda: ingest_http.copy_in("revenue_sale", data),
    )
    assert copied >= events
    return http_time, copy_time


def measure(sales: int, events: int) -> Point:
    print(f"\n{sales:,} sales, {sales // 10:,} touchpoints, {PLACEMENTS:,} placements")
    reset_revenue_tables()
    placements = build_placements(PLACEMENTS)
    timed("generate data (not measured)", lambda: generate(sales, sales // 10, placements))
    plain_aggregate()  # warms the cache for both sides alike
    aggregate_time, _ = timed("baseline: SELECT partner_id, sum(amount) GROUP BY", plain_aggregate)
    run = SettlementRun.objects.create(period=PERIOD, trigger="command")
    settle_time, run = timed(
        "attribution + settlement (every sale pending)", lambda: settlement_run_execute(run_id=run.pk)
    )
    assert run.status == SettlementRun.Status.DONE, run.status
    http_time, copy_time = measure_ingestion(events)
    stored = Sale.objects.count()
    print(f"  sales stored after ingestion: {stored:,}")
    return Point(sales, aggregate_time, settle_time, events, http_time, copy_time)


def report(points: list[Point]) -> None:
    first = points[0]
    print()
    print(
        "| sales | settlement | × `SUM … GROUP BY` | µs a sale | growth per sale | "
        "HTTP ingestion | % of `COPY` | growth per event |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for point in points:
        print(
            f"| {point.sales:,} | {point.settle_seconds:.2f} s | {point.settle_seconds / point.aggregate_seconds:.1f}× "
            f"| {point.settle_per_sale * 1e6:.2f} | {point.settle_per_sale / first.settle_per_sale:.2f} "
            f"| {point.http_rate:,.0f} events/s | {point.http_rate / point.copy_rate:.1%} "
            f"| {first.http_rate / point.http_rate:.2f} |"
        )
    last = points[-1]
    scale = last.sales / first.sales
    print(
        f"\n  {scale:.0f}× the sales: settlement took {last.settle_seconds / first.settle_seconds:.2f}× the time "
        f"(linear would be {scale:.0f}×); ingestion per event took {first.http_rate / last.http_rate:.2f}× "
        f"(flat would be 1.00×)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000000,3000000,10000000", help="comma-separated sales counts")
    parser.add_argument("--events", type=int, default=50_000, help="new sales posted at each size")
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))
    call_command("migrate", verbosity=0)
    print(f"Cost curve at {', '.join(f'{size:,}' for size in sizes)} sales (machine: {os.cpu_count()} cores)")
    report([measure(size, args.events) for size in sizes])


if __name__ == "__main__":
    main()
